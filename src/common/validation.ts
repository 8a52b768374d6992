import { applyDecorators, BadRequestException } from '@nestjs/common';
import { Type, type TypeHelpOptions } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsObject,
  registerDecorator,
  ValidateIf,
  ValidateNested,
  type ValidationArguments,
  type ValidationOptions,
} from 'class-validator';

/**
 * Upper bound of amounts and prices a caller may send (USD values, prices, PnL): a thousand times the
 * world's money supply, and far below where sums, products and squares of such numbers stop being finite.
 */
export const MAX_AMOUNT = 1e15;

/**
 * Optional, but a present `null` is not "absent" (class-validator's IsOptional skips both): it is validated
 * like any other value, so `"user_context": null` is a 400 naming the field instead of reaching the code.
 */
export const Optional = (options?: ValidationOptions): PropertyDecorator =>
  ValidateIf((_object: object, value: unknown) => value !== undefined, options);

const isPlainObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

type Constructor = new (...args: never[]) => object;

/**
 * The class-transformer type of a value (`Object` for a plain record), with the value checked first. class-transformer asks
 * for the type once per property, before it builds an instance per element: a long array or an element that
 * is not an object (`[[]]`, which class-validator would accept as an empty nested array) is refused here,
 * without that work. class-validator's own checks (ArrayMaxSize, IsObject) stay for the documentation and for
 * values built in code.
 */
export function checkedType(
  type: () => Constructor,
  check: (value: unknown, field: string) => string | null,
): PropertyDecorator {
  return Type((options?: TypeHelpOptions) => {
    const source = options?.object as Record<string, unknown> | undefined;
    const field = options?.property;
    if (source && field && Object.hasOwn(source, field)) {
      const problem = check(source[field], field);
      if (problem) throw new BadRequestException([problem]);
    }
    return type();
  });
}

/** An array of at most `max` objects, each validated as `type`. */
export function NestedArray(
  type: () => Constructor,
  max: number,
  messages: { array: string; max: string; item: string },
): PropertyDecorator {
  return applyDecorators(
    IsArray({ message: messages.array }),
    ArrayMaxSize(max, { message: messages.max }),
    ValidateNested({ each: true }),
    checkedType(type, (value, field) => {
      if (!Array.isArray(value)) return null; // IsArray names it
      if (value.length > max) return messages.max;
      const bad = value.findIndex((item) => !isPlainObject(item));
      return bad < 0 ? null : `${field}.${bad} ${messages.item}`;
    }),
  );
}

/** One object validated as `type` (an array or null is refused before class-transformer builds anything). */
export function NestedObject(type: () => Constructor, message: string): PropertyDecorator {
  return applyDecorators(
    IsObject({ message }),
    ValidateNested(),
    checkedType(type, (value) => (value === undefined || isPlainObject(value) ? null : message)),
  );
}

/** An object whose values are all finite numbers (sampling features, event data). */
export function IsNumberRecord(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isNumberRecord',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${String(propertyName)} must be an object of finite numbers`, ...options },
      validator: {
        validate(value: unknown, _args: ValidationArguments): boolean {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          return Object.values(value).every((v) => typeof v === 'number' && Number.isFinite(v));
        },
      },
    });
  };
}

/** A JSON object no larger than `maxBytes` when serialised. */
export function IsSmallObject(maxBytes: number, options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isSmallObject',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: `${String(propertyName)} must be a JSON object of at most ${maxBytes} bytes`,
        ...options,
      },
      validator: {
        validate(value: unknown): boolean {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          return JSON.stringify(value).length <= maxBytes;
        },
      },
    });
  };
}

/**
 * Agent names key settings, budgets and statistics: lower_snake_case, and never `constructor` or `prototype`,
 * which an object keyed by agent would answer from its prototype.
 */
/** A real calendar day as YYYY-MM-DD (2026-02-30 and 2026-13-45 match the shape but are no day). */
export function IsCalendarDate(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isCalendarDate',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${String(propertyName)} must be a date YYYY-MM-DD`, ...options },
      validator: {
        validate(value: unknown): boolean {
          if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
          const time = Date.parse(`${value}T00:00:00Z`);
          return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value;
        },
      },
    });
  };
}

export const AGENT_TYPE_PATTERN = /^(?!(?:constructor|prototype)$)[a-z][a-z0-9_]{0,63}$/;
/** Letters, digits and one separator: BTC, BTC/USDT, BTC-USDT, BTCUSDT, 1000PEPE/USDT:USDT is not accepted. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9]{1,20}([/_-][A-Za-z0-9]{1,12})?$/;

import { registerDecorator, type ValidationArguments, type ValidationOptions } from 'class-validator';

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

export const AGENT_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
/** Letters, digits and one separator: BTC, BTC/USDT, BTC-USDT, BTCUSDT, 1000PEPE/USDT:USDT is not accepted. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9]{1,20}([/_-][A-Za-z0-9]{1,12})?$/;

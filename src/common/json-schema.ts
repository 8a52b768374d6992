import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import { isISO8601 } from 'class-validator';

/**
 * Request bodies of the hot routes are checked by JSON schemas compiled once, at start-up, by ajv — no class
 * instance is built per request. The schema doubles as the route's OpenAPI body. Messages name the field and
 * the problem in the same words as the class-validator DTOs elsewhere.
 *
 * Extensions (OpenAPI allows `x-` keywords): `x-message` replaces the message of any error of that property,
 * `x-messages` the message of one keyword's error (`{"maxItems": "..."}`, `required` when it is missing); in
 * both, `{field}` stands for the field's path (`events.3.pnl`). `x-max-json-bytes` bounds an object's
 * serialised size; `x-iso-date-time` requires an ISO 8601 date-time; `x-iso8601` accepts what
 * class-validator's strict IsISO8601 accepts (a date, or a date-time).
 *
 * Array lengths declared by `maxItems` are checked before ajv walks the elements (declaredLimits), so a
 * long array is refused in one message instead of one error per element.
 */
const ajv = new Ajv({
  allErrors: true,
  strict: true,
  allowUnionTypes: true,
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
  verbose: true,
});
ajv.addKeyword({ keyword: 'x-message', schemaType: 'string' });
ajv.addKeyword({ keyword: 'x-messages', schemaType: 'object' });
ajv.addKeyword({ keyword: 'example' }); // OpenAPI's annotation
ajv.addKeyword({
  keyword: 'x-max-json-bytes',
  type: 'object',
  schemaType: 'number',
  validate: (max: number, data: unknown) => JSON.stringify(data).length <= max,
});
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
ajv.addKeyword({
  keyword: 'x-iso-date-time',
  type: 'string',
  schemaType: 'boolean',
  validate: (on: boolean, data: string) =>
    !on || (ISO_DATE_TIME.test(data) && !Number.isNaN(Date.parse(data))),
});
ajv.addKeyword({
  keyword: 'x-iso8601',
  type: 'string',
  schemaType: 'boolean',
  validate: (on: boolean, data: string) => !on || isISO8601(data, { strict: true }),
});

const MAX_MESSAGES = 20;

function typeWords(schema: SchemaObject | undefined): string {
  const words: Record<string, string> = {
    string: 'a string',
    integer: 'an integer number',
    number: 'a number',
    boolean: 'a boolean value',
    object: 'a JSON object',
    array: 'an array',
    null: 'null',
  };
  const type = schema?.type as string | string[] | undefined;
  if (type === undefined) return 'present';
  return (Array.isArray(type) ? type : [type]).map((t) => words[t] ?? t).join(' or ');
}

/** `/event/data` → `event.data`; a missing property is named after its parent. */
const fieldOf = (e: ErrorObject, child?: string): string =>
  [...e.instancePath.split('/').filter(Boolean), ...(child ? [child] : [])].join('.') || 'body';

/** A property's own message for `keyword`, if its schema has one, with `{field}` filled in. */
function ownMessage(schema: SchemaObject | undefined, keyword: string, field: string): string | undefined {
  const byKeyword = schema?.['x-messages'] as Record<string, string> | undefined;
  const template =
    (byKeyword && Object.hasOwn(byKeyword, keyword) ? byKeyword[keyword] : undefined) ??
    (schema?.['x-message'] as string | undefined);
  return template?.replaceAll('{field}', field);
}

function describe(e: ErrorObject): string {
  const parent = e.parentSchema as SchemaObject | undefined;
  const field = fieldOf(e);
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      const props = parent?.properties as Record<string, SchemaObject> | undefined;
      const own = props && Object.hasOwn(props, missing) ? props[missing] : undefined;
      const path = fieldOf(e, missing);
      return ownMessage(own, 'required', path) ?? `${path} must be ${typeWords(own)} (it is required)`;
    }
    case 'additionalProperties':
      return `property ${fieldOf(e, (e.params as { additionalProperty: string }).additionalProperty)} should not exist`;
  }
  const custom = ownMessage(parent, e.keyword, field);
  if (custom) return custom;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `${field} must be ${typeWords(parent)}`;
    case 'minimum':
      return `${field} must not be less than ${String(p.limit)}`;
    case 'maximum':
      return `${field} must not be greater than ${String(p.limit)}`;
    case 'minLength':
      return `${field} must be longer than or equal to ${String(p.limit)} characters`;
    case 'maxLength':
      return `${field} must be shorter than or equal to ${String(p.limit)} characters`;
    case 'minItems':
      return `${field} must contain at least ${String(p.limit)} elements`;
    case 'maxItems':
      return `${field} must contain no more than ${String(p.limit)} elements`;
    case 'maxProperties':
      return `${field} must have no more than ${String(p.limit)} properties`;
    case 'enum':
      return `${field} must be one of ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'pattern':
      return `${field} must match ${String(p.pattern)}`;
    case 'x-max-json-bytes':
      return `${field} must be a JSON object of at most ${String(e.schema)} bytes`;
    case 'x-iso-date-time':
      return `${field} must be an ISO 8601 date-time`;
    case 'x-iso8601':
      return `${field} must be an ISO 8601 date or date-time`;
    default:
      return `${field} ${e.message ?? 'is invalid'}`;
  }
}

/** Every problem of a body, one message each (a property's `x-message` once, however many errors it has). */
export function schemaMessages(errors: ErrorObject[]): string[] {
  const messages = [...new Set(errors.filter((e) => e.keyword !== 'if').map(describe))];
  return messages.length > MAX_MESSAGES
    ? [...messages.slice(0, MAX_MESSAGES), `… and ${messages.length - MAX_MESSAGES} more problems`]
    : messages;
}

/** How a door reports a bad body: every message, and the first field at fault. */
export type SchemaErrorFactory = (messages: string[], field: string) => Error;

const badRequest: SchemaErrorFactory = (messages) => new BadRequestException(messages);

/** A body pipe validating against a schema compiled when the route is declared. */
export class JsonSchemaPipe<T> implements PipeTransform<unknown, T> {
  private readonly check: ValidateFunction<T>;
  private readonly limits: DeclaredLimits;

  constructor(
    readonly schema: SchemaObject,
    private readonly toError: SchemaErrorFactory = badRequest,
  ) {
    this.check = ajv.compile<T>(schema);
    this.limits = declaredLimits(schema);
  }

  transform(value: unknown): T {
    const tooLong = this.limits(value);
    if (tooLong) throw this.toError([tooLong.message], tooLong.field);
    if (this.check(value)) return value;
    const errors = this.check.errors ?? [];
    const first = errors[0];
    const field = first
      ? fieldOf(first, (first.params as { missingProperty?: string }).missingProperty)
      : 'body';
    throw this.toError(schemaMessages(errors), field);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first array of a body longer than its schema's `maxItems`, or null. */
export type DeclaredLimits = (value: unknown) => { field: string; message: string } | null;

/**
 * The `maxItems` a schema declares where it names a property (so the work is bounded by the schema, never by
 * the data), collected once; the returned check finds the first array longer than its limit. It runs before
 * ajv, which would check every element of an array it already knows is too long.
 */
export function declaredLimits(schema: SchemaObject): DeclaredLimits {
  const found: { path: string[]; max: number; message: string }[] = [];
  const collect = (sub: SchemaObject, path: string[]): void => {
    const max = sub.maxItems as number | undefined;
    if (max !== undefined) {
      const field = path.join('.') || 'body';
      const message =
        ownMessage(sub, 'maxItems', field) ?? `${field} must contain no more than ${max} elements`;
      found.push({ path, max, message });
    }
    const props = sub.properties as Record<string, SchemaObject> | undefined;
    for (const [name, child] of Object.entries(props ?? {})) collect(child, [...path, name]);
  };
  collect(schema, []);
  return (value) => {
    for (const limit of found) {
      let at: unknown = value;
      for (const name of limit.path) {
        at = isRecord(at) && Object.hasOwn(at, name) ? at[name] : undefined;
        if (at === undefined) break;
      }
      if (Array.isArray(at) && at.length > limit.max) {
        return { field: limit.path.join('.') || 'body', message: limit.message };
      }
    }
    return null;
  };
}

type OpenApiSchema = Extract<Parameters<typeof ApiBody>[0], { schema: unknown }>['schema'];

/** The route's OpenAPI body, documented from the schema that validates it. */
export const ApiJsonBody = (schema: SchemaObject): MethodDecorator =>
  ApiBody({ schema: schema as OpenApiSchema });

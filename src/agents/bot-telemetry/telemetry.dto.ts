import { ApiProperty } from '@nestjs/swagger';
import type { SchemaObject } from 'ajv';
import { Matches, registerDecorator, type ValidationOptions } from 'class-validator';
import { MAX_AMOUNT, SYMBOL_PATTERN } from '../../common/validation.js';

export const TELEMETRY_TYPES = ['trade', 'order', 'error', 'heartbeat'] as const;
export type TelemetryType = (typeof TELEMETRY_TYPES)[number];

export const TRADE_SIDES = ['buy', 'sell', 'long', 'short'] as const;

/** A day: any longer "latency" is a clock or unit error, not an order round trip. */
export const MAX_LATENCY_MS = 86_400_000;
/** 100 times the whole price: far beyond any real fill, well inside what sums of them can hold. */
export const MAX_SLIPPAGE_BPS = 1_000_000;

/** Bot ids become part of Redis keys and URLs: a short, unambiguous alphabet only. */
export const BOT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const BOT_ID_MESSAGE = 'bot_id must be 1 to 64 characters of letters, digits, "_" or "-"';

/**
 * A bot id in a body: a string of that alphabet or, as the seed guide sends it, a non-negative integer
 * (`123` and `"123"` name the same bot; keys always use the string).
 */
export function IsBotId(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isBotId',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${BOT_ID_MESSAGE}, or a non-negative integer`, ...options },
      validator: {
        validate: (value: unknown): boolean =>
          (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) ||
          (typeof value === 'string' && BOT_ID_PATTERN.test(value)),
      },
    });
  };
}

export const MAX_EVENTS_PER_BATCH = 1000;

/** One telemetry event, as validated by TELEMETRY_SCHEMA. */
export interface TelemetryEventDto {
  type: TelemetryType;
  timestamp: string;
  pnl?: number;
  latency_ms?: number;
  message?: string;
  code?: string | number;
  symbol?: string;
  side?: (typeof TRADE_SIDES)[number];
  slippage_bps?: number;
  interval_seconds?: number;
}

/** Body of POST /bots/:bot_id/telemetry. */
export interface TelemetryDto {
  user_id: number;
  events: TelemetryEventDto[];
}

const between = (field: string, min: number, max: number): string =>
  `${field} must be between ${min} and ${max}`;

const PNL: SchemaObject = {
  type: 'number',
  minimum: -MAX_AMOUNT,
  maximum: MAX_AMOUNT,
  description: 'Realised PnL of the trade in USD; required on a trade',
  example: -12.5,
  'x-messages': {
    required: '{field} is required on a trade and must be a finite number',
    type: '{field} is required on a trade and must be a finite number',
    minimum: between('{field}', -MAX_AMOUNT, MAX_AMOUNT),
    maximum: between('{field}', -MAX_AMOUNT, MAX_AMOUNT),
  },
};
const LATENCY_MS: SchemaObject = {
  type: 'number',
  minimum: 0,
  maximum: MAX_LATENCY_MS,
  description: 'Order round-trip latency; required on an order',
  example: 830,
  'x-messages': {
    required: '{field} is required on an order and must be a finite number',
    type: '{field} is required on an order and must be a finite number',
    minimum: '{field} must be at least 0',
    maximum: `{field} must be at most ${MAX_LATENCY_MS}`,
  },
};
const MESSAGE: SchemaObject = {
  type: 'string',
  maxLength: 500,
  description: 'Error text; required on an error',
  'x-messages': {
    required: '{field} is required on an error and must be a string',
    type: '{field} is required on an error and must be a string',
    maxLength: '{field} must be at most 500 characters',
  },
};

/** The field a type needs: required when `type` is that type (the message names the event and the field). */
const needs = (type: TelemetryType, field: string, schema: SchemaObject): SchemaObject => ({
  if: { properties: { type: { const: type } }, required: ['type'] },
  then: { required: [field], properties: { [field]: schema } },
});

/**
 * One event. The fields a type needs are required through if/then on the type; a field that is not required
 * for the type is still checked when present, and ignored when stored.
 */
const TELEMETRY_EVENT_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'timestamp'],
  'x-message': '{field} must be an object with a type and a timestamp',
  properties: {
    type: {
      enum: [...TELEMETRY_TYPES],
      'x-message': `{field} must be one of ${TELEMETRY_TYPES.join(', ')}`,
    },
    timestamp: {
      type: 'string',
      maxLength: 64,
      'x-iso8601': true,
      example: '2026-11-22T12:00:00Z',
      'x-message': '{field} must be an ISO 8601 date-time',
    },
    pnl: PNL,
    latency_ms: LATENCY_MS,
    message: MESSAGE,
    code: {
      type: ['integer', 'string'],
      minimum: Number.MIN_SAFE_INTEGER,
      maximum: Number.MAX_SAFE_INTEGER,
      minLength: 1,
      maxLength: 64,
      description: 'Exchange or bot error code (string or integer)',
      'x-message': '{field} must be an integer or a string of at most 64 characters',
    },
    symbol: {
      type: 'string',
      pattern: SYMBOL_PATTERN.source,
      example: 'BTC/USDT',
      'x-message': '{field} must look like BTC, BTCUSDT or BTC/USDT',
    },
    side: { enum: [...TRADE_SIDES], 'x-message': `{field} must be one of ${TRADE_SIDES.join(', ')}` },
    slippage_bps: {
      type: 'number',
      minimum: -MAX_SLIPPAGE_BPS,
      maximum: MAX_SLIPPAGE_BPS,
      description: 'Slippage of the fill in basis points',
      example: 3.2,
      'x-message': `{field} must be a finite number between ${-MAX_SLIPPAGE_BPS} and ${MAX_SLIPPAGE_BPS}`,
    },
    interval_seconds: {
      type: 'integer',
      minimum: 1,
      maximum: 86_400,
      description: 'Declared heartbeat interval (heartbeat only)',
      example: 60,
      'x-messages': {
        type: '{field} must be an integer',
        minimum: '{field} must be at least 1',
        maximum: '{field} must be at most 86400',
      },
    },
  },
  allOf: [
    needs('trade', 'pnl', PNL),
    needs('order', 'latency_ms', LATENCY_MS),
    needs('error', 'message', MESSAGE),
  ],
};

/**
 * Body of POST /bots/:bot_id/telemetry, checked by a schema compiled once (ajv): a bot may send a thousand
 * events a batch, and building and validating a class instance per event took about 0.1 ms each.
 */
export const TELEMETRY_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['user_id', 'events'],
  'x-message': 'body must be a JSON object with user_id and events',
  properties: {
    user_id: {
      type: 'integer',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      example: 1,
      'x-messages': {
        required: 'user_id must be an integer',
        type: 'user_id must be an integer',
        minimum: 'user_id must be at least 0',
        maximum: `user_id must be at most ${Number.MAX_SAFE_INTEGER}`,
      },
    },
    events: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_EVENTS_PER_BATCH,
      items: TELEMETRY_EVENT_SCHEMA,
      example: [{ type: 'trade', timestamp: '2026-11-22T12:00:00Z', pnl: -12.5 }],
      'x-messages': {
        required: 'events must be an array',
        type: 'events must be an array',
        minItems: 'events must contain at least 1 event',
        maxItems: `events must contain at most ${MAX_EVENTS_PER_BATCH} events`,
      },
    },
  },
};

/** The path parameter of /bots/:bot_id/telemetry. */
export class BotParamsDto {
  @ApiProperty({ example: 'grid-btc-01' })
  @Matches(BOT_ID_PATTERN, { message: BOT_ID_MESSAGE })
  bot_id!: string;
}

export interface TelemetryAnswer {
  /** Events stored (validated and inside the retention window). */
  accepted: number;
  /** Events older than the retention window: valid, but not stored. */
  expired: number;
  bot_id: string;
  counts: Record<TelemetryType, number>;
}

import type { SchemaObject } from 'ajv';
import { AGENT_TYPE_PATTERN, SYMBOL_PATTERN } from '../../common/validation.js';
import { EVENT_TYPES, PRIORITIES, type EventType, type Priority } from '../events/event.types.js';

/** Body of POST /ai/call — the seed's `call_ai`. */
export interface AiCallBody {
  agent_type: string;
  prompt: string;
  system_prompt?: string;
  context?: Record<string, unknown>;
  response_type?: string;
  symbol?: string;
  model?: string | null;
  max_tokens?: number;
  temperature?: number;
  json?: boolean;
  cache?: boolean;
  cache_ttl_seconds?: number;
  sampling_features?: Record<string, number>;
  score?: number | null;
}

/** Body of POST /ai/events — the seed's `call_ai_with_event`: the /ai/call body plus the event. */
export interface AiEventBody extends AiCallBody {
  event: {
    symbol: string;
    event_type: EventType;
    priority: Priority;
    data?: Record<string, unknown>;
    timestamp?: string;
  };
}

const SYMBOL_MESSAGE = 'must look like BTC, BTCUSDT or BTC/USDT';

/** The properties of /ai/call, as JSON schema (validation and the OpenAPI document alike). */
const CALL_PROPERTIES: Record<string, SchemaObject> = {
  agent_type: {
    type: 'string',
    pattern: AGENT_TYPE_PATTERN.source,
    example: 'market_regime',
    'x-message':
      'agent_type must be lower_snake_case (a-z, 0-9, _), at most 64 characters, not constructor or prototype',
  },
  prompt: { type: 'string', minLength: 1, maxLength: 100_000, example: 'Analyze current BTC market regime' },
  system_prompt: {
    type: 'string',
    maxLength: 100_000,
    description: 'Static instructions; keep dynamic values out of it so the prefix cache hits',
  },
  context: {
    type: 'object',
    'x-max-json-bytes': 200_000,
    example: { price: 45000 },
    'x-message': 'context must be a JSON object of at most 200000 bytes',
  },
  response_type: {
    type: 'string',
    pattern: '^[a-z][a-z0-9_]{0,63}$',
    default: 'general',
    example: 'market_analysis',
    'x-message': 'response_type must be lower_snake_case, at most 64 characters',
  },
  symbol: {
    type: 'string',
    pattern: SYMBOL_PATTERN.source,
    example: 'BTC/USDT',
    'x-message': `symbol ${SYMBOL_MESSAGE}`,
  },
  model: { type: ['string', 'null'], maxLength: 200, example: null },
  max_tokens: { type: 'integer', minimum: 1, maximum: 65_536, default: 512 },
  temperature: { type: 'number', minimum: 0, maximum: 2, default: 0 },
  json: {
    type: 'boolean',
    default: false,
    description: 'Ask for a JSON object answer (response_format json_object)',
  },
  cache: { type: 'boolean', default: true },
  cache_ttl_seconds: { type: 'integer', minimum: 1, maximum: 7 * 24 * 3600, example: 300 },
  sampling_features: {
    type: 'object',
    maxProperties: 256,
    additionalProperties: {
      type: 'number',
      'x-message': 'sampling_features must be an object of finite numbers',
    },
    example: { price: 45000 },
    'x-message': 'sampling_features must be an object of at most 256 finite numbers',
  },
  score: { type: ['number', 'null'] },
};

export const AI_CALL_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['agent_type', 'prompt'],
  properties: CALL_PROPERTIES,
};

export const AI_EVENT_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['agent_type', 'prompt', 'event'],
  properties: {
    ...CALL_PROPERTIES,
    event: {
      type: 'object',
      additionalProperties: false,
      required: ['symbol', 'event_type', 'priority'],
      'x-message': 'event is required (symbol, event_type, priority, data, timestamp)',
      properties: {
        symbol: {
          type: 'string',
          pattern: SYMBOL_PATTERN.source,
          example: 'BTC/USDT',
          'x-message': `event.symbol ${SYMBOL_MESSAGE}`,
        },
        event_type: {
          enum: [...EVENT_TYPES],
          'x-message': `event.event_type must be one of ${EVENT_TYPES.join(', ')}`,
        },
        priority: {
          enum: [...PRIORITIES],
          'x-message': `event.priority must be one of ${PRIORITIES.join(', ')}`,
        },
        data: {
          type: 'object',
          'x-max-json-bytes': 20_000,
          example: { change_percent: 2.4, volatility: 1.1 },
          'x-message': 'event.data must be a JSON object of at most 20000 bytes',
        },
        timestamp: {
          type: 'string',
          'x-iso-date-time': true,
          example: '2026-11-22T12:00:00Z',
          'x-message': 'event.timestamp must be an ISO 8601 date-time',
        },
      },
    },
  },
};

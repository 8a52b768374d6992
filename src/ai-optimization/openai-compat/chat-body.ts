import type { SchemaObject } from 'ajv';
import { DomainError } from '../../common/errors.js';
import { JsonSchemaPipe } from '../../common/json-schema.js';

/** What the door needs of a chat completion request; every other parameter passes through untouched. */
export interface ChatBody extends Record<string, unknown> {
  model: string;
  messages: ({ role: string } & Record<string, unknown>)[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
}

const tokens: SchemaObject = { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000 };

/** A number parameter within OpenAI's documented range (null: the default). */
const ranged = (name: string, minimum: number, maximum: number, integer = false): SchemaObject => ({
  type: [integer ? 'integer' : 'number', 'null'],
  minimum,
  maximum,
  'x-message': `${name} must be ${integer ? 'an integer' : 'a number'} between ${minimum} and ${maximum}`,
});

export const CHAT_BODY_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 200, example: 'deepseek-v4-flash' },
    messages: {
      type: 'array',
      minItems: 1,
      maxItems: 2000,
      'x-message': 'messages must be a non-empty array of objects with a role',
      items: { type: 'object', required: ['role'], properties: { role: { type: 'string', maxLength: 64 } } },
    },
    stream: { type: 'boolean' },
    stream_options: { type: ['object', 'null'] },
    max_tokens: { ...tokens, 'x-message': 'max_tokens must be a positive integer' },
    max_completion_tokens: { ...tokens, 'x-message': 'max_completion_tokens must be a positive integer' },
    // The other parameters pass through untouched, but never out of OpenAI's ranges: an overflowing number is
    // the caller's mistake (400 here), not an upstream error.
    temperature: ranged('temperature', 0, 2),
    top_p: ranged('top_p', 0, 1),
    presence_penalty: ranged('presence_penalty', -2, 2),
    frequency_penalty: ranged('frequency_penalty', -2, 2),
    n: ranged('n', 1, 128, true),
    top_logprobs: ranged('top_logprobs', 0, 20, true),
    seed: ranged('seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true),
  },
  example: { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'BTC regime?' }] },
};

/** The OpenAI error shape names the parameter at fault (`param`). */
export const chatBodyPipe = new JsonSchemaPipe<ChatBody>(
  CHAT_BODY_SCHEMA,
  (messages, field) =>
    new DomainError('invalid_request_error', messages.join('; '), 400, { param: field.split('.')[0] }),
);

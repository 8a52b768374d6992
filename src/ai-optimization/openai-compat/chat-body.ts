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
  },
  example: { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'BTC regime?' }] },
};

/** The OpenAI error shape names the parameter at fault (`param`). */
export const chatBodyPipe = new JsonSchemaPipe<ChatBody>(
  CHAT_BODY_SCHEMA,
  (messages, field) =>
    new DomainError('invalid_request_error', messages.join('; '), 400, { param: field.split('.')[0] }),
);

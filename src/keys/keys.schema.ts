import type { SchemaObject } from 'ajv';
import { AGENT_TYPE_PATTERN } from '../common/validation.js';

/** A tenant's name: lower-case letters, digits, - and _ (as in API_KEYS `tenant:key`). */
export const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

const nullableInt = (max: number, what: string): SchemaObject => ({
  type: ['integer', 'null'],
  minimum: 1,
  maximum: max,
  'x-message': `${what} must be an integer from 1 to ${max}, or null for no limit`,
});
const nullableUsd = (name: string): SchemaObject => ({
  type: ['number', 'null'],
  minimum: 0,
  maximum: 1_000_000,
  'x-message': `${name} must be a number of USD from 0 to 1000000, or null for no budget`,
});

/** A nullable list whose every problem, its items' included, gets the one message written for it. */
const listOf = (item: SchemaObject, message: string): SchemaObject => ({
  type: ['array', 'null'],
  maxItems: 100,
  uniqueItems: true,
  items: { ...item, 'x-message': message },
  'x-message': message,
});

/** The changeable fields of a managed key (POST creates with them, PATCH changes some). */
const FIELDS: Record<string, SchemaObject> = {
  name: { type: 'string', minLength: 1, maxLength: 100, example: 'momentum bot 3' },
  tenant: {
    type: 'string',
    pattern: TENANT_PATTERN.source,
    example: 'alpha',
    'x-message': 'tenant must be lower-case letters, digits, - and _ (at most 32)',
  },
  role: { enum: ['bot', 'admin'], 'x-message': 'role must be bot or admin' },
  rpm: nullableInt(1_000_000, 'rpm (requests per minute)'),
  tpm: nullableInt(1_000_000_000, 'tpm (tokens per minute)'),
  daily_budget_usd: nullableUsd('daily_budget_usd'),
  monthly_budget_usd: nullableUsd('monthly_budget_usd'),
  agents: listOf(
    { type: 'string', pattern: AGENT_TYPE_PATTERN.source },
    'agents must be a list of up to 100 distinct lower_snake_case agent names, or null for any',
  ),
  models: listOf(
    { type: 'string', minLength: 1, maxLength: 200 },
    'models must be a list of up to 100 distinct model names (1 to 200 characters), or null for any',
  ),
};

export const CREATE_KEY_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'tenant'],
  properties: FIELDS,
};

export const UPDATE_KEY_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: FIELDS,
};

export interface KeyFields {
  name: string;
  tenant: string;
  role?: 'bot' | 'admin';
  rpm?: number | null;
  tpm?: number | null;
  daily_budget_usd?: number | null;
  monthly_budget_usd?: number | null;
  agents?: string[] | null;
  models?: string[] | null;
}

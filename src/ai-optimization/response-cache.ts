import { createHash } from 'node:crypto';

/** A stored answer: what the caller gets back, and what producing it cost (the saving of every later hit). */
export interface CachedAnswer {
  response: string;
  model: string;
  provider: string;
  prompt_tokens: number | null;
  cached_prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  created_at: number;
  /** The full upstream completion, kept by the OpenAI-compatible door to replay it. */
  completion?: unknown;
}

/** JSON with sorted keys, so equal requests hash equally whatever the order their fields arrived in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The response-cache key of a canonical request: equal requests, equal keys. */
export const requestHash = (canonical: unknown): string =>
  createHash('sha256').update(canonicalJson(canonical)).digest('hex').slice(0, 40);

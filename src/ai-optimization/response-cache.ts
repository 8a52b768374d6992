import { hash } from 'node:crypto';

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
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  return canonicalObject(value as Record<string, unknown>);
}

/**
 * canonicalJson of an object, taking the canonical text of some of its members as already written (`known`,
 * by key) instead of writing them again.
 */
export function canonicalObject(
  record: Record<string, unknown>,
  known?: Readonly<Record<string, string | undefined>>,
): string {
  const keys = Object.keys(record).sort();
  let out = '{';
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    // Own members only: `known` must not answer for `constructor` or `toString` from its prototype.
    const text = known !== undefined && Object.hasOwn(known, key) ? known[key] : undefined;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${text ?? canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** The response-cache key of a canonical text: equal requests, equal keys (sha256, 160 bits kept). */
export const textHash = (text: string): string => hash('sha256', text, 'hex').slice(0, 40);

/** The response-cache key of a request: equal requests (whatever their key order), equal keys. */
export const requestHash = (canonical: unknown): string => textHash(canonicalJson(canonical));

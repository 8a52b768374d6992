/** Where a saving came from: savings are counted per layer against what the naive call would have cost. */
export const SAVING_LAYERS = [
  'prompt_cache',
  'response_cache',
  'coalescing',
  'sampling',
  'event_filter',
  'batching',
] as const;
export type SavingLayer = (typeof SAVING_LAYERS)[number];

export interface UpstreamCallRecord {
  model: string;
  provider: string;
  promptTokens: number | null;
  cachedPromptTokens: number | null;
  completionTokens: number | null;
  costUsd: number | null;
  uncachedCostUsd: number | null;
  latencyMs: number;
}

/** One request to the gateway and, when it made one, its upstream call. */
export interface LedgerEntry {
  requestId: string;
  at: number;
  /** The caller's tenant (default when the request had no caller, e.g. a batch flush of the default tenant). */
  tenant?: string;
  /** The managed API key that made the request (null for keys from the environment). */
  keyId?: string | null;
  agent: string;
  symbol: string | undefined;
  reason: string;
  /** true = answered from the response cache, false = looked up and missed, null = cache not consulted. */
  cacheHit: boolean | null;
  /** Extra counters for this request's scopes (e.g. adaptive_calls). */
  counters?: Record<string, number>;
  savedUsd: number | null;
  savedLayer: SavingLayer | null;
  call: UpstreamCallRecord | null;
}

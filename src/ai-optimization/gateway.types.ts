import type { KeyPolicy } from '../common/caller.js';
import type { RequestScope } from '../common/request-context.js';

/** A request to the AI gateway, already validated (from /ai/call, /ai/events or an agent). */
export interface GatewayRequest {
  /** Whose caches and last answers the call may use (the caller's tenant; `default` otherwise). */
  tenant?: string;
  /** The managed key the call counts against (undefined: the caller's; null: none, e.g. a batch flush). */
  key?: KeyPolicy | null;
  agentType: string;
  prompt: string;
  systemPrompt?: string;
  context?: Record<string, unknown>;
  responseType: string;
  symbol?: string;
  model?: string;
  maxTokens: number;
  temperature: number;
  json: boolean;
  cache: boolean;
  cacheTtlSeconds?: number;
  samplingFeatures?: Record<string, number>;
  score?: number;
  /** Volatility in percent (event data), used by the ADAPTIVE strategy. */
  volatility?: number;
  /** false = answer fresh: skip the cache lookup (the answer is still stored). Events use it. */
  cacheRead?: boolean;
  /** false = skip the sampling gate (CRITICAL and HIGH events, batch flushes). */
  sampling?: boolean;
  /** The event gate (HIGH and MEDIUM events): at most one upstream call per conversation in this many seconds. */
  intervalSeconds?: number;
  /** A CRITICAL event: may overdraw a hard budget by CRITICAL_OVERDRAW_PERCENT. */
  critical?: boolean;
  /** The HTTP request this call serves: its caller (tenant, key) and the headers its answer carries. */
  scope?: RequestScope;
  /** See MeteredCall.booksAfterAnswer (the /ai/call door sets it). */
  booksAfterAnswer?: boolean;
}

export const DECISION_REASONS = [
  'called',
  'response_cache',
  'coalesced',
  'sampled_out',
  'event_filtered',
  'batched',
  'budget_exceeded',
  'ai_disabled',
  'provider_unavailable',
] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];

export interface GatewayMetadata {
  ai_called: boolean;
  cache_hit: boolean;
  reason: DecisionReason;
  model: string | null;
  provider: string | null;
  prompt_tokens: number | null;
  cached_prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  saved_usd: number | null;
  latency_ms: number;
  request_id: string;
  /** Age of the answer when it was not produced by this request (cache, last answer). */
  response_age_seconds?: number;
  message?: string;
  fallback_from?: string;
  [extra: string]: unknown;
}

export interface GatewayResult {
  response: string | null;
  metadata: GatewayMetadata;
}

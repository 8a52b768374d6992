import type { ChatCompletion, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { KeyPolicy } from '../../common/caller.js';
import type { RequestScope } from '../../common/request-context.js';
import type { RateDecision } from '../../redis/repositories/rate-limit.repository.js';
import type { ConversationRef } from '../../redis/repositories/conversation.repository.js';
import type { CachedAnswer } from '../response-cache.js';
import type { StreamHub } from './stream-hub.js';

/** What is sent upstream, minus `model` and `stream`: the messages and every parameter the caller set. */
export type UpstreamBody = { messages: ChatCompletionMessageParam[] } & Record<string, unknown>;

/** The inputs of the agent's sampling strategy. */
export interface SamplingInput {
  features?: Record<string, number>;
  score?: number;
  /** Volatility in percent (event data or a feature), for ADAPTIVE. */
  volatility?: number;
}

/**
 * One metered call as every door hands it to the pipeline: /ai/call, each lane of /ai/events, the batch
 * flusher, /v1/chat/completions (streaming or not) and the agents.
 */
export interface MeteredCall {
  tenant: string;
  /** The managed API key that sent the call: its limits, budgets and allowed agents and models. */
  key: KeyPolicy | null;
  agent: string;
  symbol: string | undefined;
  /** Part of the cache key and its TTL (`response_cache.ttl_seconds` in models.yaml). */
  responseType: string;
  /** The model asked for; the agent's model, then the default model, otherwise. */
  model: string | undefined;
  body: UpstreamBody;
  /** Output tokens the call may produce: the budget reservation's upper bound. */
  maxTokens: number;
  cache: {
    /** Answer from the response cache when an entry exists (false = answer fresh). */
    read: boolean;
    /** Store the answer for later identical requests. */
    write: boolean;
    ttlSeconds: number | undefined;
    /** Keep the whole upstream completion in the entry (the OpenAI door replays it). */
    keepCompletion: boolean;
  };
  /** The agent's sampling strategy decides whether the model is called (null: it is not consulted). */
  sampling: SamplingInput | null;
  /** The event gate: at most one upstream call per conversation in this many seconds (null: no interval). */
  intervalSeconds: number | null;
  /** A CRITICAL event: may overdraw a hard budget by CRITICAL_OVERDRAW_PERCENT. */
  critical: boolean;
  /** Forward the upstream answer as it is produced (SSE), instead of waiting for the whole of it. */
  stream: boolean;
  /** The HTTP request the call serves (its answer carries the key's rate-limit headers); none for internal work. */
  scope?: RequestScope;
  /**
   * Settle, store and record once the answer is on its way (in the event loop's next check phase) instead of
   * before it. For a door whose caller can only read the books with another HTTP request, which the server
   * cannot take in before then; an in-process caller that reads the books right after the call leaves it unset.
   */
  booksAfterAnswer?: boolean;
}

/** The most recent answer of a conversation, served when a request makes no upstream call. */
export interface LastAnswer {
  response: string;
  model: string;
  at: number;
}

export type SkipReason = 'sampled_out' | 'event_filtered' | 'budget_exceeded' | 'ai_disabled' | 'batched';

/** Facts of one request through the pipeline, whatever became of it. */
export interface Trace {
  requestId: string;
  /** performance.now() when the request entered the pipeline. */
  started: number;
  /** Clock time (ms) the request is decided at. */
  now: number;
  conversation: ConversationRef;
  /** The key's rate-limit state after this request (the doors send it as OpenAI's x-ratelimit headers). */
  rate?: RateDecision | null;
}

export type Outcome =
  | {
      kind: 'answered';
      source: 'called' | 'response_cache' | 'coalesced';
      trace: Trace;
      answer: CachedAnswer;
      /** Whether the response cache was consulted (false = looked up and missed, null = not consulted). */
      cacheHit: boolean | null;
      /** Upstream time of the call this answer came from (called and coalesced). */
      upstreamMs?: number;
      /** The model first asked for, when a fallback answered instead. */
      fallbackFrom?: string;
      /** The upstream completion as received (the OpenAI door returns it). */
      completion?: ChatCompletion;
      /** Set when a LOW event could not be queued and was answered fresh instead. */
      degraded?: 'event_store_unavailable';
    }
  | {
      kind: 'skipped';
      reason: SkipReason;
      trace: Trace;
      message: string;
      last: LastAnswer | null;
      cacheHit: boolean | null;
      /** The avoided call, priced at the agent's average (null when unknown). */
      savedUsd: number | null;
      batch?: { batchId: string; position: number };
    }
  | {
      kind: 'streaming';
      source: 'called' | 'coalesced';
      trace: Trace;
      hub: StreamHub;
    };

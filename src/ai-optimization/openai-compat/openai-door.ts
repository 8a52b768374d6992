import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { Caller, KeyPolicy } from '../../common/caller.js';
import type { RequestScope } from '../../common/request-context.js';
import { DomainError, ProviderUnavailableError } from '../../common/errors.js';
import { DEFAULT_TENANT } from '../../common/tenant.js';
import { AGENT_TYPE_PATTERN, SYMBOL_PATTERN } from '../../common/validation.js';
import type { MeteredCall, Outcome, UpstreamBody } from '../pipeline/metered-call.js';
import type { StreamHub } from '../pipeline/stream-hub.js';

/** Attribution and cache control of a /v1 request, from its headers. */
export interface DoorOptions {
  tenant: string;
  key: KeyPolicy | null;
  agent: string;
  symbol: string | undefined;
  cacheMode: 'default' | 'no-cache' | 'no-store';
  ttlSeconds: number | undefined;
}

export type CacheStatus = 'HIT' | 'MISS' | 'COALESCED' | 'BYPASS';

/** What the door answers: a whole completion, or a stream to forward. */
export type DoorAnswer =
  | {
      kind: 'completion';
      completion: ChatCompletion;
      cache: CacheStatus;
      costUsd: number | null;
      overheadMs: number;
    }
  | { kind: 'stream'; hub: StreamHub; cache: CacheStatus; overheadMs: number };

const bad = (message: string, param?: string): DomainError =>
  new DomainError('invalid_request_error', message, 400, param ? { param } : {});

/** Reads the attribution and cache-control headers of the door. */
export function doorOptions(
  headers: Record<string, string | string[] | undefined>,
  caller: Caller | undefined,
): DoorOptions {
  const one = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const agent = one('x-agent-type') ?? 'openai_compat';
  if (!AGENT_TYPE_PATTERN.test(agent)) throw bad('X-Agent-Type must be lower_snake_case (a-z, 0-9, _)');
  const symbol = one('x-symbol');
  if (symbol !== undefined && !SYMBOL_PATTERN.test(symbol))
    throw bad('X-Symbol must look like BTC, BTCUSDT or BTC/USDT');
  const cache = one('x-cache');
  if (cache !== undefined && cache !== 'no-cache' && cache !== 'no-store')
    throw bad('X-Cache must be no-cache or no-store');
  const ttlRaw = one('x-cache-ttl');
  const ttl = ttlRaw === undefined ? undefined : Number(ttlRaw);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 86_400)) {
    throw bad('X-Cache-TTL must be an integer number of seconds between 1 and 604800');
  }
  return {
    tenant: caller?.tenant ?? DEFAULT_TENANT,
    key: caller?.key ?? null,
    agent,
    symbol: symbol?.toUpperCase(),
    cacheMode: cache ?? 'default',
    ttlSeconds: ttl,
  };
}

/**
 * OpenAI wire in: every parameter passes through to the upstream untouched; stream and stream_options do not
 * change the answer, so streamed and plain requests share one cache entry.
 */
export function meteredCallOf(
  body: Record<string, unknown>,
  opts: DoorOptions,
  scope?: RequestScope,
): MeteredCall {
  const { stream, stream_options: _o, model, ...params } = body;
  const maxTokens = Number(params.max_completion_tokens ?? params.max_tokens ?? 1024);
  return {
    tenant: opts.tenant,
    key: opts.key,
    agent: opts.agent,
    symbol: opts.symbol,
    responseType: 'openai_compat',
    model: model as string,
    body: params as UpstreamBody,
    maxTokens,
    cache: {
      read: opts.cacheMode === 'default',
      write: opts.cacheMode !== 'no-store',
      ttlSeconds: opts.ttlSeconds,
      keepCompletion: true,
    },
    sampling: null,
    intervalSeconds: null,
    critical: false,
    stream: stream === true,
    scope,
    // An OpenAI client reads the books with another request: bookkeeping waits until this answer is on its way.
    booksAfterAnswer: true,
  };
}

/** OpenAI wire out: what the pipeline did, as a completion, a stream or an OpenAI error. */
export function doorAnswer(outcome: Outcome, opts: DoorOptions): DoorAnswer {
  const elapsed = performance.now() - outcome.trace.started;
  const missStatus: CacheStatus = opts.cacheMode === 'no-store' ? 'BYPASS' : 'MISS';
  if (outcome.kind === 'streaming') {
    return {
      kind: 'stream',
      hub: outcome.hub,
      cache: outcome.source === 'coalesced' ? 'COALESCED' : missStatus,
      overheadMs: elapsed,
    };
  }
  if (outcome.kind === 'skipped') {
    if (outcome.reason === 'budget_exceeded') throw new DomainError('budget_exceeded', outcome.message, 429);
    throw new DomainError(outcome.reason, outcome.message, 403);
  }
  const completion = (outcome.completion ?? outcome.answer.completion) as ChatCompletion;
  if (outcome.source === 'called') {
    return {
      kind: 'completion',
      completion,
      cache: missStatus,
      costUsd: outcome.answer.cost_usd,
      overheadMs: Math.max(0, elapsed - (outcome.upstreamMs ?? 0)),
    };
  }
  // A coalesced answer waited on the leader's upstream call: that wait is not Bastion's overhead.
  const waited = outcome.source === 'coalesced' ? (outcome.upstreamMs ?? 0) : 0;
  return {
    kind: 'completion',
    completion,
    cache: outcome.source === 'response_cache' ? 'HIT' : 'COALESCED',
    costUsd: 0,
    overheadMs: Math.max(0, elapsed - waited),
  };
}

/**
 * An upstream that refused the request as a client error (4xx other than 429) keeps its status on this door, as
 * an OpenAI client expects (a 400 for a bad parameter is the caller's to fix, not an outage).
 */
export function asDoorError(err: unknown): unknown {
  if (err instanceof ProviderUnavailableError) {
    const status = err.details.upstream_status;
    if (typeof status === 'number' && status >= 400 && status < 500 && status !== 429) {
      return new DomainError('upstream_error', err.message, status);
    }
  }
  return err;
}

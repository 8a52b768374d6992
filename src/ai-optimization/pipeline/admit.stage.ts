import { Injectable } from '@nestjs/common';
import { DomainError } from '../../common/errors.js';
import { toPico } from '../../common/money.js';
import { RateLimitRepository, type RateDecision } from '../../redis/repositories/rate-limit.repository.js';
import type { ReservationPlan } from '../../redis/repositories/conversation.repository.js';
import {
  BudgetService,
  type BudgetSettings,
  type BudgetWindow,
} from '../../cost-monitoring/budget.service.js';
import { PriceBook } from '../pricing.js';
import type { ResolvedModel } from '../providers/provider-registry.js';
import type { MeteredCall } from './metered-call.js';
import type { Screened } from './screen.stage.js';

export interface AdmitPlan {
  reservation: ReservationPlan;
  windows: BudgetWindow[];
  settings: BudgetSettings;
}

/**
 * Stage 3, admit: the budget reservation — an upper-bound estimate (every prompt token uncached plus
 * `max_tokens` of output at the primary model's rates) reserved on every window the call counts in, by the
 * pre-call step in one atomic check-and-add. Under any concurrency a hard budget is overshot by at most one
 * reservation. Counters are kept whatever the enforcement, so they always show the spend.
 */
/** OpenAI's duration format for rate-limit resets: `250ms`, `6s`, `1m30s`. */
export function resetText(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const seconds = Math.ceil(ms / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}

/** OpenAI's rate-limit headers for a decision (both limits a key has). */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, state] of [
    ['requests', d.requests],
    ['tokens', d.tokens],
  ] as const) {
    if (!state) continue;
    headers[`x-ratelimit-limit-${name}`] = String(state.limit);
    headers[`x-ratelimit-remaining-${name}`] = String(state.remaining);
    headers[`x-ratelimit-reset-${name}`] = resetText(state.resetMs);
  }
  if (!d.allowed) headers['retry-after'] = String(Math.max(1, Math.ceil(d.retryAfterMs / 1000)));
  return headers;
}

@Injectable()
export class AdmitStage {
  constructor(
    private readonly budgets: BudgetService,
    private readonly prices: PriceBook,
    private readonly limits: RateLimitRepository,
  ) {}

  /**
   * What a managed key may do, before anything else is spent: the agents and models it may use (403 naming the
   * one it may not), and its requests and tokens per minute (429 with Retry-After and OpenAI's x-ratelimit
   * headers), counted atomically in Redis across instances. Every request counts, cache hits and coalesced
   * ones included. Null for keys without limits.
   */
  async admitKey(call: MeteredCall, screened: Screened, now: number): Promise<RateDecision | null> {
    const key = call.key;
    if (!key) return null;
    if (key.agents && !key.agents.includes(call.agent)) {
      throw new DomainError(
        'agent_not_allowed',
        `This API key (${key.name}) may not call as agent ${call.agent}; it may use: ${key.agents.join(', ')}`,
        403,
        { param: 'agent_type' },
      );
    }
    const model = screened.chain[0].entry.name;
    if (key.models && !key.models.includes(model)) {
      throw new DomainError(
        'model_not_allowed',
        `This API key (${key.name}) may not use model ${model}; it may use: ${key.models.join(', ')}`,
        403,
        { param: 'model' },
      );
    }
    if (key.rpm === null && key.tpm === null) return null;
    const tokens = screened.likelyPromptTokens + call.maxTokens;
    let decision: RateDecision;
    try {
      decision = await this.limits.take(key.id, now, key.rpm, key.tpm, tokens);
    } catch {
      return null; // policy rate_limit.take: a limit that cannot be counted lets the request through
    }
    if (!decision.allowed && decision.refused === 'tokens' && key.tpm !== null && tokens > key.tpm) {
      // No wait lets it through: the request itself must shrink (OpenAI's "Request too large" is also a 429).
      const { 'retry-after': _never, ...headers } = rateLimitHeaders(decision);
      throw new DomainError(
        'rate_limit_exceeded',
        `This request may use up to ${tokens} tokens (its prompt and max_tokens ${call.maxTokens}), more than this API key's (${key.name}) whole limit of ${key.tpm} tokens per minute: lower max_tokens or shorten the prompt`,
        429,
        { limit: 'tokens' },
        headers,
      );
    }
    if (!decision.allowed) {
      const which = decision.refused === 'tokens' ? `${key.tpm} tokens` : `${key.rpm} requests`;
      throw new DomainError(
        'rate_limit_exceeded',
        `Rate limit of ${which} per minute reached for this API key (${key.name}); retry after ${resetText(decision.retryAfterMs)}`,
        429,
        { limit: decision.refused },
        rateLimitHeaders(decision),
      );
    }
    return decision;
  }

  plan(
    call: MeteredCall,
    primary: ResolvedModel,
    promptTokens: number,
    requestId: string,
    now: number,
  ): AdmitPlan {
    const settings = this.budgets.current();
    const windows = this.budgets.windows(settings, call.agent, now, { tenant: call.tenant, key: call.key });
    const limits = this.budgets.limitsPico(settings, windows, call.critical);
    const estimate = this.prices.estimate(
      this.prices.rates(primary.entry, primary.upstreamModel, new Date(now)),
      promptTokens,
      call.maxTokens,
    );
    // An unpriced model cannot be held to a money budget: it is reserved at 0 (the price book says so once).
    const amountPico = estimate === null ? 0n : toPico(estimate);
    return {
      settings,
      windows,
      reservation: {
        requestId,
        amountPico,
        counters: windows.map((w, i) => ({ key: w.counter, limitPico: limits[i] })),
      },
    };
  }

  refusal(plan: AdmitPlan, counter: number): string {
    const w = plan.windows[counter];
    const window = / of (agent|tenant|key) /.test(w.label)
      ? `${w.label} ($${w.budgetUsd})`
      : `${w.label} of $${w.budgetUsd}`;
    return `The ${window} would be exceeded by this call (enforcement: hard)`;
  }

  /**
   * Redis did not answer the pre-call step: a hard budget cannot be checked and fails closed (message), soft
   * and off fail open (null) — the call is charged to the counters when Redis is back.
   */
  whenStoreDown(plan: AdmitPlan): string | null {
    return plan.settings.enforcement === 'hard'
      ? 'The budget store (Redis) is unreachable and the budget is hard: the call is refused'
      : null;
  }
}

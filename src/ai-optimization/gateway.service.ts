import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { AGENTS_CONFIG } from '../config/config.module.js';
import type { AgentsConfig } from '../config/yaml-config.js';
import { Clock } from '../common/clock.js';
import { RedisService } from '../redis/redis.service.js';
import { BudgetService } from '../cost-monitoring/budget.service.js';
import { CostLedger, type SavingLayer } from '../cost-monitoring/cost-ledger.js';
import { MetricsService } from '../cost-monitoring/metrics.service.js';
import { Coalescer } from './coalescer.js';
import { PriceBook } from './pricing.js';
import { ProviderRegistry, type ResolvedModel } from './providers/provider-registry.js';
import { UpstreamCaller } from './providers/upstream-caller.js';
import { SamplingService, type SamplingDecision } from './sampling/sampling.service.js';
import { canonicalJson, requestHash, ResponseCache, type CachedAnswer } from './response-cache.js';
import type { DecisionReason, GatewayMetadata, GatewayRequest, GatewayResult } from './gateway.types.js';

/** Who asked what and when: enough to answer a request without an upstream call. */
export interface AnswerBase {
  requestId: string;
  started: number;
  request: GatewayRequest;
  now: number;
}

interface LastAnswer {
  response: string;
  model: string;
  at: number;
}

/** What the leader of a (possibly coalesced) call produced. */
type CallOutcome =
  | { kind: 'answer'; answer: CachedAnswer; latencyMs: number; fallbackFrom?: string }
  | { kind: 'refused'; message: string }
  | { kind: 'skipped'; message: string };

const sampledOutMessage = (d: SamplingDecision): string => `Sampled out (${d.strategy}): ${d.detail}`;

const LAST_ANSWER_TTL_SECONDS = 7 * 24 * 3600;

/** Rough upper bound of a prompt's tokens for budget reservations (real tokenizers average ~4 chars/token). */
export const estimateTokens = (messages: ChatCompletionMessageParam[]): number =>
  messages.reduce((sum, m) => sum + 8 + Math.ceil(JSON.stringify(m.content ?? '').length / 3), 0);

/**
 * The AI gateway (DESIGN 5): resolve model and price → response cache → coalesce → budget reservation →
 * upstream call with retries and fallbacks → settle exact cost → cache and ledger → answer.
 */
@Injectable()
export class AiGateway {
  private readonly logger = new Logger(AiGateway.name);

  constructor(
    private readonly registry: ProviderRegistry,
    private readonly upstream: UpstreamCaller,
    private readonly prices: PriceBook,
    private readonly cache: ResponseCache,
    private readonly coalescer: Coalescer,
    private readonly budgets: BudgetService,
    private readonly ledger: CostLedger,
    private readonly redis: RedisService,
    private readonly clock: Clock,
    private readonly sampling: SamplingService,
    private readonly metrics: MetricsService,
    @Inject(AGENTS_CONFIG) private readonly agents: AgentsConfig,
  ) {}

  /** Static instructions first, everything that changes last, so the provider's prefix cache hits. */
  buildMessages(request: GatewayRequest): ChatCompletionMessageParam[] {
    const messages: ChatCompletionMessageParam[] = [];
    if (request.systemPrompt) messages.push({ role: 'system', content: request.systemPrompt });
    const context =
      request.context && Object.keys(request.context).length > 0
        ? `\n\nContext (JSON):\n${canonicalJson(request.context)}`
        : '';
    messages.push({ role: 'user', content: `${request.prompt}${context}` });
    return messages;
  }

  async call(request: GatewayRequest): Promise<GatewayResult> {
    const screened = await this.screen(request);
    if ('answered' in screened) return screened.answered;
    const { base, chain, messages, cacheKey, cacheRead } = screened;
    const { requestId, started, now } = base;

    const { value: outcome, leader } = await this.coalescer.run(cacheKey, () =>
      this.callUpstream(request, chain, messages, cacheKey, requestId, now),
    );
    const cacheHit = cacheRead ? false : null;
    if (outcome.kind === 'refused') {
      return this.answerWithoutCall(base, 'budget_exceeded', outcome.message, cacheHit);
    }
    if (outcome.kind === 'skipped') return this.sampledOut(base, outcome.message, cacheHit);
    if (!leader) {
      this.ledger.record(this.entry(base, 'coalesced', cacheHit, outcome.answer.cost_usd, 'coalescing'));
      return {
        response: outcome.answer.response,
        metadata: {
          ...this.meta(base, 'coalesced', outcome.answer, false),
          saved_usd: outcome.answer.cost_usd,
        },
      };
    }
    // The leader's ledger entry (with the call) was written in callUpstream; only the cache flag is added here.
    this.metrics.overhead.observe(Math.max(0, performance.now() - started - outcome.latencyMs) / 1000);
    return {
      response: outcome.answer.response,
      metadata: {
        ...this.meta(base, 'called', outcome.answer, true),
        cost_usd: outcome.answer.cost_usd,
        saved_usd: 0,
        latency_ms: Math.round(performance.now() - started),
        ...(outcome.fallbackFrom ? { fallback_from: outcome.fallbackFrom } : {}),
      },
    };
  }

  /**
   * A LOW event (DESIGN 5): the response cache and the sampling gate answer it like any request; only what
   * would have called the model is handed to `enqueue` (its batch), with whether the cache was read.
   */
  async callOrQueue(
    request: GatewayRequest,
    enqueue: (base: AnswerBase, cacheHit: boolean | null) => Promise<GatewayResult>,
  ): Promise<GatewayResult> {
    const screened = await this.screen(request);
    if ('answered' in screened) return screened.answered;
    const { base, cacheRead } = screened;
    const cacheHit = cacheRead ? false : null;
    if (request.sampling !== false) {
      const decision = await this.samplingGate(request, base.now);
      if (!decision.call) return this.sampledOut(base, sampledOutMessage(decision), cacheHit);
    }
    return enqueue(base, cacheHit);
  }

  /** Everything before the upstream path: AI switched off, model resolution, the response cache. */
  private async screen(request: GatewayRequest): Promise<
    | { answered: GatewayResult }
    | {
        base: AnswerBase;
        chain: ResolvedModel[];
        messages: ChatCompletionMessageParam[];
        cacheKey: string;
        cacheRead: boolean;
      }
  > {
    const started = performance.now();
    const requestId = randomUUID();
    const now = this.clock.now();
    const agent = this.agents.agents.get(request.agentType);
    const base = { requestId, started, request, now };

    if (agent && !agent.enableAi) {
      const message = `AI is disabled for agent ${request.agentType}`;
      return { answered: await this.answerWithoutCall(base, 'ai_disabled', message) };
    }
    const chain = this.registry.chain(request.model ?? agent?.model);
    const primary = chain[0];
    const messages = this.buildMessages(request);
    const hash = requestHash({
      provider: primary.provider,
      base_url: primary.baseUrl,
      model: primary.upstreamModel,
      messages,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      json: request.json,
    });
    const cacheKey = this.cache.key(request.agentType, request.symbol, request.responseType, hash);

    const cacheRead = request.cache && request.cacheRead !== false;
    if (cacheRead) {
      const hit = await this.cache.lookup(cacheKey);
      if (hit) {
        this.ledger.record(this.entry(base, 'response_cache', true, hit.cost_usd, 'response_cache'));
        this.metrics.overhead.observe((performance.now() - started) / 1000);
        return {
          answered: {
            response: hit.response,
            metadata: {
              ...this.meta(base, 'response_cache', hit, false),
              cache_hit: true,
              saved_usd: hit.cost_usd,
              response_age_seconds: Math.max(0, Math.round((now - hit.created_at) / 1000)),
            },
          },
        };
      }
    }
    return { base, chain, messages, cacheKey, cacheRead };
  }

  /** The last answer, with the call the sampler avoided priced at the agent's average. */
  private async sampledOut(
    base: AnswerBase,
    message: string,
    cacheHit: boolean | null,
  ): Promise<GatewayResult> {
    const avoided = await this.ledger.averageCallCost(base.request.agentType);
    return this.answerWithoutCall(base, 'sampled_out', message, cacheHit, avoided, 'sampling');
  }

  private samplingGate(request: GatewayRequest, now: number) {
    return this.sampling.decide({
      agent: request.agentType,
      symbol: request.symbol ?? '-',
      features: request.samplingFeatures,
      score: request.score,
      volatility: request.volatility,
      now,
    });
  }

  private async callUpstream(
    request: GatewayRequest,
    chain: ResolvedModel[],
    messages: ChatCompletionMessageParam[],
    cacheKey: string,
    requestId: string,
    now: number,
  ): Promise<CallOutcome> {
    const primary = chain[0];
    let adaptive = false;
    if (request.sampling !== false) {
      const decision = await this.samplingGate(request, now);
      if (!decision.call) return { kind: 'skipped', message: sampledOutMessage(decision) };
      adaptive = decision.strategy === 'ADAPTIVE';
    }
    const at = new Date(now);
    const estimate = this.prices.estimate(
      this.prices.rates(primary.entry, primary.upstreamModel, at),
      estimateTokens(messages),
      request.maxTokens,
    );
    const reserved = await this.budgets.reserve(request.agentType, estimate, now, request.critical === true);
    if (!reserved.ok) {
      this.logger.warn(`Refused ${request.agentType} call: ${reserved.message}`);
      return { kind: 'refused', message: reserved.message };
    }
    let answer;
    try {
      answer = await this.upstream.complete(chain, {
        messages,
        max_tokens: request.maxTokens,
        temperature: request.temperature,
        ...(request.json ? { response_format: { type: 'json_object' as const } } : {}),
      });
    } catch (err) {
      await this.budgets.release(reserved.reservation);
      throw err;
    }
    const rates = this.prices.rates(answer.model.entry, answer.model.upstreamModel, at);
    const priced = this.prices.price(rates, answer.usage);
    await this.budgets.settle(reserved.reservation, priced.costUsd);
    const cached: CachedAnswer = {
      response: answer.content,
      model: answer.model.entry.name,
      provider: answer.model.provider,
      prompt_tokens: answer.usage?.promptTokens ?? null,
      cached_prompt_tokens: answer.usage?.cachedPromptTokens ?? null,
      completion_tokens: answer.usage?.completionTokens ?? null,
      cost_usd: priced.costUsd,
      created_at: now,
    };
    await Promise.all([
      request.cache
        ? this.cache.store(cacheKey, cached, this.cache.ttlFor(request.responseType, request.cacheTtlSeconds))
        : undefined,
      this.rememberAnswer(request.agentType, request.symbol, cached),
    ]);
    this.ledger.record({
      requestId,
      at: now,
      agent: request.agentType,
      symbol: request.symbol,
      reason: 'called',
      cacheHit: request.cache && request.cacheRead !== false ? false : null,
      savedUsd: null,
      savedLayer: null,
      counters: adaptive ? { adaptive_calls: 1 } : undefined,
      call: {
        model: answer.model.entry.name,
        provider: answer.model.provider,
        promptTokens: cached.prompt_tokens,
        cachedPromptTokens: cached.cached_prompt_tokens,
        completionTokens: cached.completion_tokens,
        costUsd: priced.costUsd,
        uncachedCostUsd: priced.uncachedCostUsd,
        latencyMs: answer.latencyMs,
      },
    });
    return {
      kind: 'answer',
      answer: cached,
      latencyMs: answer.latencyMs,
      fallbackFrom: answer.model !== primary ? primary.entry.name : undefined,
    };
  }

  /** The most recent answer for this agent and symbol, served when no upstream call is made. */
  async lastAnswer(agent: string, symbol: string | undefined): Promise<LastAnswer | null> {
    try {
      const raw = await this.redis.client.get(this.redis.keys.lastAnswer(agent, symbol ?? '-'));
      return raw === null ? null : (JSON.parse(raw) as LastAnswer);
    } catch {
      return null;
    }
  }

  /** Makes `answer` the last answer of this agent and symbol (served when a later request makes no call). */
  async rememberAnswer(
    agent: string,
    symbol: string | undefined,
    answer: Pick<CachedAnswer, 'response' | 'model' | 'created_at'>,
  ): Promise<void> {
    const value: LastAnswer = { response: answer.response, model: answer.model, at: answer.created_at };
    try {
      await this.redis.client.set(
        this.redis.keys.lastAnswer(agent, symbol ?? '-'),
        JSON.stringify(value),
        'EX',
        LAST_ANSWER_TTL_SECONDS,
      );
    } catch {
      // best effort: the answer itself was delivered
    }
  }

  /** Answers with the last result for this agent and symbol (if any) without an upstream call. */
  async answerWithoutCall(
    base: AnswerBase,
    reason: DecisionReason,
    message: string,
    cacheHit: boolean | null = null,
    savedUsd: number | null = null,
    savedLayer: SavingLayer | null = null,
  ): Promise<GatewayResult> {
    const last = await this.lastAnswer(base.request.agentType, base.request.symbol);
    this.ledger.record(this.entry(base, reason, cacheHit, savedUsd, savedLayer));
    return {
      response: last?.response ?? null,
      metadata: {
        ai_called: false,
        cache_hit: false,
        reason,
        model: last?.model ?? null,
        provider: null,
        prompt_tokens: 0,
        cached_prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 0,
        saved_usd: savedUsd,
        latency_ms: Math.round(performance.now() - base.started),
        request_id: base.requestId,
        ...(last ? { response_age_seconds: Math.max(0, Math.round((base.now - last.at) / 1000)) } : {}),
        message,
      },
    };
  }

  private entry(
    base: { requestId: string; request: GatewayRequest; now: number },
    reason: DecisionReason,
    cacheHit: boolean | null,
    savedUsd: number | null,
    savedLayer: SavingLayer | null,
  ) {
    return {
      requestId: base.requestId,
      at: base.now,
      agent: base.request.agentType,
      symbol: base.request.symbol,
      reason,
      cacheHit,
      savedUsd,
      savedLayer,
      call: null,
    };
  }

  private meta(
    base: { requestId: string; started: number },
    reason: DecisionReason,
    answer: CachedAnswer,
    called: boolean,
  ): GatewayMetadata {
    return {
      ai_called: called,
      cache_hit: false,
      reason,
      model: answer.model,
      provider: answer.provider,
      prompt_tokens: called ? answer.prompt_tokens : 0,
      cached_prompt_tokens: called ? answer.cached_prompt_tokens : 0,
      completion_tokens: called ? answer.completion_tokens : 0,
      cost_usd: called ? answer.cost_usd : 0,
      saved_usd: 0,
      latency_ms: Math.round(performance.now() - base.started),
      request_id: base.requestId,
    };
  }
}

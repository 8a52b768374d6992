import { Inject, Injectable } from '@nestjs/common';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { MODELS_CONFIG } from '../../config/config.module.js';
import type { ModelsConfig } from '../../config/yaml-config.js';
import { CostLedger } from '../../cost-monitoring/cost-ledger.js';
import type { SavingLayer, UpstreamCallRecord } from '../../cost-monitoring/ledger-entry.js';
import {
  ConversationRepository,
  type InflightClaim,
} from '../../redis/repositories/conversation.repository.js';
import type { ResolvedModel } from '../providers/provider-registry.js';
import type { CachedAnswer } from '../response-cache.js';
import type { LastAnswer, MeteredCall, Outcome } from './metered-call.js';
import type { PricedCall } from './settle.stage.js';
import type { Screened } from './screen.stage.js';

const LAST_ANSWER_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Stage 6, store and record: the answer goes into the response cache and becomes the conversation's last
 * answer (one pipelined write, never waited for: Redis keeps a connection's order, so the next request on this
 * instance finds it), and every request lands in the ledger. The pipeline runs this before the call returns,
 * or, for the HTTP doors, once the answer is on its way (MeteredCall.booksAfterAnswer).
 */
@Injectable()
export class RecordStage {
  constructor(
    private readonly conversations: ConversationRepository,
    private readonly ledger: CostLedger,
    @Inject(MODELS_CONFIG) private readonly models: ModelsConfig,
  ) {}

  ttlFor(responseType: string, requested?: number): number {
    return requested ?? this.models.ttlSeconds[responseType] ?? this.models.defaultTtlSeconds;
  }

  answerOf(
    model: ResolvedModel,
    completion: ChatCompletion,
    priced: PricedCall,
    now: number,
    keepCompletion: boolean,
  ): CachedAnswer {
    return {
      response: completion.choices[0]?.message?.content ?? '',
      model: model.entry.name,
      provider: model.provider,
      prompt_tokens: priced.usage?.promptTokens ?? null,
      cached_prompt_tokens: priced.usage?.cachedPromptTokens ?? null,
      completion_tokens: priced.usage?.completionTokens ?? null,
      cost_usd: priced.costUsd,
      created_at: now,
      ...(keepCompletion ? { completion } : {}),
    };
  }

  /** Writes the answer to the cache and as the last answer, then gives back the call's in-flight marker. */
  store(
    call: MeteredCall,
    screened: Screened,
    answer: CachedAnswer,
    inflight: InflightClaim | null = null,
  ): void {
    const last: LastAnswer = { response: answer.response, model: answer.model, at: answer.created_at };
    void this.conversations.postcall({
      conversation: screened.conversation,
      cache: call.cache.write
        ? {
            key: screened.cacheKey,
            value: JSON.stringify(answer),
            ttlSeconds: this.ttlFor(call.responseType, call.cache.ttlSeconds),
          }
        : null,
      lastAnswer: { value: JSON.stringify(last), ttlSeconds: LAST_ANSWER_TTL_SECONDS },
      inflight,
    });
  }

  /** Makes `answer` the last answer of a conversation (a batch's answer, for each symbol it covered). */
  async remember(
    call: Pick<MeteredCall, 'tenant' | 'agent'>,
    symbol: string,
    answer: LastAnswer,
  ): Promise<void> {
    await this.conversations.rememberAnswer(
      { tenant: call.tenant, agent: call.agent, symbol },
      JSON.stringify(answer),
      LAST_ANSWER_TTL_SECONDS,
    );
  }

  async lastAnswer(screenedConversation: Screened['conversation']): Promise<LastAnswer | null> {
    return parseLast(await this.conversations.lastAnswer(screenedConversation));
  }

  /** The ledger entry of one request, from what became of it. */
  record(
    call: MeteredCall,
    outcome: Outcome,
    extra: { callRecord?: UpstreamCallRecord; adaptive?: boolean } = {},
  ): void {
    if (outcome.kind === 'streaming') return; // a stream is recorded when it ends (leader) or joins (follower)
    let reason: string;
    let savedUsd: number | null = null;
    let savedLayer: SavingLayer | null = null;
    let counters: Record<string, number> | undefined;
    let upstream: UpstreamCallRecord | null = null;
    if (outcome.kind === 'answered' && outcome.source === 'called') {
      reason = 'called';
      if (extra.adaptive) counters = { adaptive_calls: 1 };
      upstream = extra.callRecord ?? null;
    } else if (outcome.kind === 'answered') {
      reason = outcome.source;
      savedUsd = outcome.answer.cost_usd;
      savedLayer = outcome.source === 'response_cache' ? 'response_cache' : 'coalescing';
    } else {
      reason = outcome.reason;
      savedUsd = outcome.savedUsd;
      savedLayer =
        outcome.reason === 'sampled_out'
          ? 'sampling'
          : outcome.reason === 'event_filtered'
            ? 'event_filter'
            : null;
    }
    // One literal, not a spread of shared fields: on a cache hit the spread cost more than the rest of this.
    this.ledger.record({
      requestId: outcome.trace.requestId,
      at: outcome.trace.now,
      tenant: call.tenant,
      keyId: call.key?.id ?? null,
      agent: call.agent,
      symbol: call.symbol,
      cacheHit: outcome.cacheHit,
      reason,
      savedUsd,
      savedLayer,
      counters,
      call: upstream,
    });
  }

  /** A follower of a shared upstream stream, when the stream has ended: it saved what the stream cost. */
  recordJoin(call: MeteredCall, requestId: string, now: number, savedUsd: number | null): void {
    this.ledger.record({
      requestId,
      at: now,
      tenant: call.tenant,
      keyId: call.key?.id ?? null,
      agent: call.agent,
      symbol: call.symbol,
      reason: 'coalesced',
      cacheHit: call.cache.read ? false : null,
      savedUsd,
      savedLayer: 'coalescing',
      call: null,
    });
  }

  /** The leader of a stream, when the stream has ended. */
  recordStream(call: MeteredCall, requestId: string, now: number, callRecord: UpstreamCallRecord): void {
    this.ledger.record({
      requestId,
      at: now,
      tenant: call.tenant,
      keyId: call.key?.id ?? null,
      agent: call.agent,
      symbol: call.symbol,
      reason: 'called',
      cacheHit: call.cache.read ? false : null,
      savedUsd: null,
      savedLayer: null,
      call: callRecord,
    });
  }

  /** The leader of a stream that failed: a request, no call (nothing is charged for it). */
  recordFailedStream(call: MeteredCall, requestId: string, now: number): void {
    this.ledger.record({
      requestId,
      at: now,
      tenant: call.tenant,
      keyId: call.key?.id ?? null,
      agent: call.agent,
      symbol: call.symbol,
      reason: 'provider_unavailable',
      cacheHit: call.cache.read ? false : null,
      savedUsd: null,
      savedLayer: null,
      call: null,
    });
  }

  averageCallCost(agent: string): Promise<number | null> {
    return this.ledger.averageCallCost(agent);
  }
}

export function parseLast(raw: string | null): LastAnswer | null {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as LastAnswer;
  } catch {
    return null;
  }
}

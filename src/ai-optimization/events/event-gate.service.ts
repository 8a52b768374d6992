import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock.js';
import { DEFAULT_TENANT } from '../../common/tenant.js';
import { EventStatsService, type EventOutcome } from '../../cost-monitoring/event-stats.service.js';
import { AiGateway } from '../gateway.service.js';
import type { DecisionReason, GatewayRequest, GatewayResult } from '../gateway.types.js';
import { BatchFlusher } from './batch-flusher.service.js';
import { BatchQueue } from './batch-queue.service.js';
import { EventThresholdsService } from './event-thresholds.service.js';
import { EventWindowRepository } from '../../redis/repositories/event-window.repository.js';
import { adaptivePriority, observationOf, type Observation } from './adaptive-priority.js';
import type { EventThresholds, MarketEvent, Priority } from './event.types.js';
import { effectivePriority } from './priority.js';

/** What the gateway did with an event the gate let through, as counted by /ai-cost/event-stats. */
const OUTCOME_OF_REASON: Partial<Record<DecisionReason, EventOutcome>> = {
  response_cache: 'response_cache',
  coalesced: 'coalesced',
  sampled_out: 'sampled_out',
  budget_exceeded: 'budget_exceeded',
  ai_disabled: 'ai_disabled',
  event_filtered: 'filtered',
  batched: 'batched',
};

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * The event gate, as `POST /ai/events` and the market-event sink see it. Effective priority = the higher of
 * the declared one and what the data implies; then, through the metered-call pipeline:
 * - CRITICAL: always answered fresh (no cache read, no sampling), and may overdraw a hard budget by a margin;
 * - HIGH and MEDIUM: at most one upstream call per conversation every `min_ai_interval` (MEDIUM also passes
 *   the sampling gate), answered fresh when called;
 * - LOW: answered from the response cache or skipped by the sampler when it can be, otherwise queued into a
 *   batch that one upstream call answers.
 */
@Injectable()
export class EventGate {
  constructor(
    private readonly gateway: AiGateway,
    private readonly thresholds: EventThresholdsService,
    private readonly queue: BatchQueue,
    private readonly flusher: BatchFlusher,
    private readonly stats: EventStatsService,
    private readonly clock: Clock,
    private readonly windows: EventWindowRepository,
  ) {}

  /**
   * The effective priority and why. Every event carrying a symbol and market figures is added to its window
   * (in static mode too, so a switch to adaptive ranks at once). Static mode: the fixed thresholds. Adaptive
   * mode: the event is ranked against its window; until the window holds
   * `adaptive_min_history` observations, for events without figures and while Redis is away, the static
   * rules decide (`fallback` says why).
   */
  async prioritize(
    event: MarketEvent,
    tenant: string,
    t: EventThresholds,
  ): Promise<{
    priority: Priority;
    raisedBy: string[];
    mode: 'static' | 'adaptive';
    percentiles?: Record<string, number>;
    fallback?: string;
  }> {
    const fixed = (fallback?: string) => ({
      ...effectivePriority(event.priority, event.data, t),
      mode: 'static' as const,
      ...(fallback ? { fallback } : {}),
    });
    const obs = event.symbol ? observationOf(event.data) : null;
    const global = t.adaptive_scope === 'global';
    const observe = (o: Observation) =>
      this.windows.observe(
        tenant,
        global ? '*' : event.symbol,
        event.symbol,
        event.timestamp,
        o,
        t.adaptive_window,
      );
    if (t.priority_mode !== 'adaptive') {
      // The windows fill in static mode too (without waiting), so switching to adaptive ranks at once.
      if (obs !== null) void observe(obs);
      return fixed();
    }
    if (obs === null) return fixed('no_market_data');
    const ranks = await observe(obs);
    if (ranks === null) return fixed('store_unavailable');
    const decision = adaptivePriority(event.priority, obs, ranks, t, global ? 'all symbols' : event.symbol);
    if (decision === null) return fixed(`warming_up (${ranks.history} of ${t.adaptive_min_history})`);
    return { ...decision, mode: 'adaptive' };
  }

  async handle(request: GatewayRequest, event: MarketEvent): Promise<GatewayResult> {
    const t = await this.thresholds.recent();
    const tenant = request.tenant ?? request.scope?.caller?.tenant ?? DEFAULT_TENANT;
    const { priority, raisedBy, mode, percentiles, fallback } = await this.prioritize(event, tenant, t);
    const symbol = request.symbol ?? event.symbol;
    const req: GatewayRequest = {
      ...request,
      symbol,
      volatility: num(event.data.volatility) ?? num(event.data.volatility_pct),
      context: {
        ...request.context,
        event: {
          type: event.eventType,
          symbol: event.symbol,
          data: event.data,
          timestamp: new Date(event.timestamp).toISOString(),
        },
      },
    };

    let result: GatewayResult;
    let batch: { batch_id: string; position: number } | undefined;
    if (priority === 'CRITICAL') {
      result = await this.gateway.call({ ...req, cacheRead: false, sampling: false, critical: true });
    } else if (priority === 'LOW') {
      const queued = await this.gateway.callOrQueue(req, async () => {
        const { batchId, position, full } = await this.queue.enqueue(
          tenant,
          request.agentType,
          {
            request_id: randomUUID(),
            symbol: event.symbol,
            event_type: event.eventType,
            priority: event.priority,
            data: event.data,
            timestamp: new Date(event.timestamp).toISOString(),
            prompt: request.prompt,
            ...(request.context && Object.keys(request.context).length ? { context: request.context } : {}),
            system_prompt: request.systemPrompt,
            ...(request.model ? { model: request.model } : {}),
            max_tokens: request.maxTokens,
            queued_at: this.clock.now(),
          },
          t.batch_size,
        );
        if (full) void this.flusher.flushOne(batchId); // the tenth event: answer the batch now, not at the next tick
        return { batchId, position };
      });
      result = queued.result;
      if (queued.outcome.kind === 'skipped' && queued.outcome.batch) {
        batch = { batch_id: queued.outcome.batch.batchId, position: queued.outcome.batch.position };
      }
    } else {
      result = await this.gateway.call({
        ...req,
        cacheRead: false,
        sampling: priority === 'MEDIUM',
        intervalSeconds: t.min_ai_interval,
      });
    }

    const reason = result.metadata.reason;
    const decision = reason === 'batched' ? 'batched' : reason === 'event_filtered' ? 'filtered' : 'call';
    this.stats.recordEvent(event.eventType, event.priority, priority, OUTCOME_OF_REASON[reason] ?? 'called');
    result.metadata.event = {
      priority,
      declared_priority: event.priority,
      raised_by: raisedBy,
      priority_mode: mode,
      ...(percentiles ? { percentiles } : {}),
      ...(fallback ? { priority_fallback: fallback } : {}),
      decision,
      ...(batch ?? {}),
    };
    return result;
  }
}

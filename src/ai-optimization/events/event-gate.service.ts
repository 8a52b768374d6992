import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock.js';
import { RedisService } from '../../redis/redis.service.js';
import { CostLedger } from '../../cost-monitoring/cost-ledger.js';
import { EventStatsService, type EventOutcome } from '../../cost-monitoring/event-stats.service.js';
import { AiGateway } from '../gateway.service.js';
import type { DecisionReason, GatewayRequest, GatewayResult } from '../gateway.types.js';
import { BatchFlusher } from './batch-flusher.service.js';
import { BatchQueue } from './batch-queue.service.js';
import type { MarketEvent } from './event.types.js';
import { EventThresholdsService } from './event-thresholds.service.js';
import { effectivePriority } from './priority.js';

/** What the gateway did with an event the gate let through, as counted by /ai-cost/event-stats. */
const OUTCOME_OF_REASON: Partial<Record<DecisionReason, EventOutcome>> = {
  response_cache: 'response_cache',
  coalesced: 'coalesced',
  sampled_out: 'sampled_out',
  budget_exceeded: 'budget_exceeded',
  ai_disabled: 'ai_disabled',
};

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * The event gate (DESIGN 5): CRITICAL is always answered fresh; HIGH and MEDIUM get at most one upstream
 * call per agent and symbol every min_ai_interval (MEDIUM also passes the sampling gate); LOW is answered
 * from the response cache or skipped by the sampling gate when it can be, and otherwise queued into a batch
 * answered by one call.
 */
@Injectable()
export class EventGate {
  constructor(
    private readonly gateway: AiGateway,
    private readonly thresholds: EventThresholdsService,
    private readonly queue: BatchQueue,
    private readonly flusher: BatchFlusher,
    private readonly stats: EventStatsService,
    private readonly ledger: CostLedger,
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  async handle(request: GatewayRequest, event: MarketEvent): Promise<GatewayResult> {
    const t = await this.thresholds.get();
    const { priority, raisedBy } = effectivePriority(event.priority, event.data, t);
    const eventMeta = { priority, declared_priority: event.priority, raised_by: raisedBy };
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
    const finish = async (
      result: GatewayResult,
      decision: 'call' | 'filtered' | 'batched',
      extra: Record<string, unknown> = {},
    ) => {
      const outcome: EventOutcome =
        decision === 'batched'
          ? 'batched'
          : decision === 'filtered'
            ? 'filtered'
            : (OUTCOME_OF_REASON[result.metadata.reason] ?? 'called');
      await this.stats.recordEvent(event.eventType, event.priority, priority, outcome);
      result.metadata.event = { ...eventMeta, decision, ...extra };
      return result;
    };

    if (priority === 'CRITICAL') {
      return finish(
        await this.gateway.call({ ...req, cacheRead: false, sampling: false, critical: true }),
        'call',
      );
    }
    if (priority === 'LOW') {
      // The response cache and the sampling gate first (DESIGN 5); what would call the model waits for its batch.
      let queued: { batch_id: string; position: number } | undefined;
      const result = await this.gateway.callOrQueue(req, async (base, cacheHit) => {
        const { batchId, position, full } = await this.queue.enqueue(
          request.agentType,
          {
            request_id: randomUUID(),
            symbol: event.symbol,
            event_type: event.eventType,
            priority: event.priority,
            data: event.data,
            timestamp: new Date(event.timestamp).toISOString(),
            prompt: request.prompt,
            system_prompt: request.systemPrompt,
            ...(request.model ? { model: request.model } : {}),
            max_tokens: request.maxTokens,
            queued_at: this.clock.now(),
          },
          t.batch_size,
        );
        if (full) void this.flusher.flushOne(batchId); // the tenth event: answer the batch now, not at the next tick
        queued = { batch_id: batchId, position };
        const message = `Queued in batch ${batchId} at position ${position}`;
        return this.gateway.answerWithoutCall(base, 'batched', message, cacheHit);
      });
      return queued ? finish(result, 'batched', queued) : finish(result, 'call');
    }
    // HIGH and MEDIUM: one upstream call per agent and symbol per min_ai_interval, across instances.
    const allowed = await this.claimInterval(request.agentType, symbol ?? '-', t.min_ai_interval);
    if (!allowed) {
      const avoided = await this.ledger.averageCallCost(request.agentType);
      const result = await this.gateway.answerWithoutCall(
        this.base(req),
        'event_filtered',
        `${priority} event inside min_ai_interval (${t.min_ai_interval} s) of the last call for ${request.agentType} ${symbol ?? ''}`.trim(),
        null,
        avoided,
        'event_filter',
      );
      return finish(result, 'filtered');
    }
    const result = await this.gateway.call({ ...req, cacheRead: false, sampling: priority === 'MEDIUM' });
    return finish(result, 'call');
  }

  private async claimInterval(agent: string, symbol: string, seconds: number): Promise<boolean> {
    if (seconds <= 0) return true;
    try {
      return (
        (await this.redis.client.claimInterval(
          this.redis.keys.eventGate(agent, symbol),
          this.clock.now(),
          seconds * 1000,
        )) === 1
      );
    } catch {
      return true; // Redis down: let HIGH/MEDIUM through rather than go blind; budgets still apply
    }
  }

  private base(request: GatewayRequest) {
    return { requestId: randomUUID(), started: performance.now(), request, now: this.clock.now() };
  }
}

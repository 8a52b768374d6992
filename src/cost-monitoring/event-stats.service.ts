import { Injectable, Logger } from '@nestjs/common';
import { RedisService } from '../redis/redis.service.js';

export type EventOutcome =
  | 'called'
  | 'response_cache'
  | 'coalesced'
  | 'filtered'
  | 'sampled_out'
  | 'batched'
  | 'budget_exceeded'
  | 'ai_disabled';

/** Counters of the event gate: what came in, at which priority, and what the gate did with it. */
@Injectable()
export class EventStatsService {
  private readonly logger = new Logger(EventStatsService.name);

  constructor(private readonly redis: RedisService) {}

  async recordEvent(
    eventType: string,
    declared: string,
    effective: string,
    outcome: EventOutcome,
  ): Promise<void> {
    const key = this.redis.keys.eventStats();
    try {
      await this.redis
        .pipeline()
        .hincrby(key, 'received', 1)
        .hincrby(key, `type:${eventType}`, 1)
        .hincrby(key, `declared:${declared}`, 1)
        .hincrby(key, `priority:${effective}`, 1)
        .hincrby(key, `outcome:${outcome}`, 1)
        .exec();
    } catch (err) {
      this.logger.warn(`Event not counted: ${(err as Error).message}`);
    }
  }

  async recordBatchFlushed(events: number): Promise<void> {
    const key = this.redis.keys.eventStats();
    try {
      await this.redis
        .pipeline()
        .hincrby(key, 'batches_flushed', 1)
        .hincrby(key, 'batched_events_answered', events)
        .exec();
    } catch (err) {
      this.logger.warn(`Batch not counted: ${(err as Error).message}`);
    }
  }

  async snapshot() {
    const raw = await this.redis.client.hgetall(this.redis.keys.eventStats());
    const pick = (prefix: string): Record<string, number> =>
      Object.fromEntries(
        Object.entries(raw)
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, v]) => [k.slice(prefix.length), Number(v)]),
      );
    const outcomes = pick('outcome:');
    const received = Number(raw.received ?? 0);
    const called = outcomes.called ?? 0;
    const batchesFlushed = Number(raw.batches_flushed ?? 0);
    const upstreamCalls = called + batchesFlushed;
    return {
      total_events: received,
      by_type: pick('type:'),
      by_priority: pick('priority:'),
      by_declared_priority: pick('declared:'),
      called,
      response_cache: outcomes.response_cache ?? 0,
      coalesced: outcomes.coalesced ?? 0,
      filtered: outcomes.filtered ?? 0,
      sampled_out: outcomes.sampled_out ?? 0,
      batched: outcomes.batched ?? 0,
      budget_exceeded: outcomes.budget_exceeded ?? 0,
      batches_flushed: batchesFlushed,
      batched_events_answered: Number(raw.batched_events_answered ?? 0),
      upstream_calls: upstreamCalls,
      reduction_percent: received > 0 ? Number(((1 - upstreamCalls / received) * 100).toFixed(4)) : 0,
    };
  }
}

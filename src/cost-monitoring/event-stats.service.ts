import { Injectable } from '@nestjs/common';
import { CostLedger } from './cost-ledger.js';

export type EventOutcome =
  | 'called'
  | 'response_cache'
  | 'coalesced'
  | 'filtered'
  | 'sampled_out'
  | 'batched'
  | 'budget_exceeded'
  | 'ai_disabled';

/**
 * Counters of the event gate: what came in, at which priority, and what the gate did with it. They travel
 * with the ledger's batch, so counting an event costs no Redis round trip and is written exactly once.
 */
@Injectable()
export class EventStatsService {
  constructor(private readonly ledger: CostLedger) {}

  recordEvent(eventType: string, declared: string, effective: string, outcome: EventOutcome): void {
    this.ledger.countEvent({
      received: 1,
      [`type:${eventType}`]: 1,
      [`declared:${declared}`]: 1,
      [`priority:${effective}`]: 1,
      [`outcome:${outcome}`]: 1,
    });
  }

  /** Written at once (the flusher runs off the request path), so every instance sees a flush right away. */
  async recordBatchFlushed(events: number): Promise<void> {
    this.ledger.countEvent({ batches_flushed: 1, batched_events_answered: events });
    await this.ledger.flushSafely();
  }

  async snapshot() {
    const raw = await this.ledger.eventCounters();
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

import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { WriteQueue } from '../write-queue.js';
import { RedisService } from '../redis.service.js';
import { COUNTER_TTL_SECONDS } from './conversation.repository.js';

/** One call's settle: its real cost replaces its reservation on the counters it was reserved on. */
export interface Settlement {
  requestId: string;
  counters: string[];
  /** The real cost in picodollars; "keep" when unknown (the reservation, an upper bound, stays). */
  costPico: bigint | 'keep';
}

const MARKER_TTL_SECONDS = 2 * 86_400;

/**
 * Budget counters in integer picodollars. Reservations are made by the gateway's pre-call script
 * (ConversationRepository.precall); settles are written here, idempotently, and kept in memory until Redis
 * takes them, so a Redis outage never loses a charge: calls made while it was down are charged when it is back.
 */
@Injectable()
export class BudgetRepository implements OnApplicationShutdown {
  private readonly writes = new WriteQueue(BudgetRepository.name);

  constructor(private readonly redis: RedisService) {}

  counter(period: string, scope: string): string {
    return this.redis.keys.budgetSpend(period, scope);
  }

  /** Sends the settle at once; the caller does not wait for Redis (the answer is already on its way). */
  settle(s: Settlement): void {
    this.writes.send(() => this.write(s));
  }

  /** Settles still waiting for Redis (tests and shutdown wait for them). */
  get waiting(): number {
    return this.writes.waiting;
  }

  /** Writes every waiting settle; resolves false when Redis still refuses. */
  drain(): Promise<boolean> {
    return this.writes.drain();
  }

  /** Spend on each counter, in picodollars. */
  async spent(keys: string[]): Promise<bigint[]> {
    if (keys.length === 0) return [];
    const values = await this.redis.run('budget.read', (c) => c.mget(...keys));
    return values.map((v) => BigInt(v ?? '0'));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.writes.waiting > 0) await this.writes.drain();
    this.writes.stop();
  }

  private async write(s: Settlement): Promise<void> {
    const keys = [this.redis.keys.budgetReservation(s.requestId), ...s.counters];
    const cost = s.costPico === 'keep' ? 'keep' : s.costPico.toString();
    await this.redis.run('budget.settle', (c) =>
      c.settle(keys.length, ...keys, cost, COUNTER_TTL_SECONDS, MARKER_TTL_SECONDS),
    );
  }
}

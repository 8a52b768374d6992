import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
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
const RETRY_MS = 2000;

/**
 * Budget counters in integer picodollars. Reservations are made by the gateway's pre-call script
 * (ConversationRepository.precall); settles are written here, idempotently, and kept in memory until Redis
 * takes them, so a Redis outage never loses a charge: calls made while it was down are charged when it is back.
 */
@Injectable()
export class BudgetRepository implements OnApplicationShutdown {
  private readonly logger = new Logger(BudgetRepository.name);
  private pending: Settlement[] = [];
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly redis: RedisService) {}

  counter(period: string, scope: string): string {
    return this.redis.keys.budgetSpend(period, scope);
  }

  /** Sends the settle at once; the caller does not wait for Redis (the answer is already on its way). */
  settle(s: Settlement): void {
    void this.write(s).catch(() => this.keep(s));
  }

  /** Settles still waiting for Redis (tests and shutdown wait for them). */
  get waiting(): number {
    return this.pending.length;
  }

  /** Writes every waiting settle; resolves false when Redis still refuses. */
  async drain(): Promise<boolean> {
    clearTimeout(this.retry);
    this.retry = undefined;
    const batch = this.pending;
    this.pending = [];
    for (const [i, s] of batch.entries()) {
      try {
        await this.write(s);
      } catch {
        batch.slice(i).forEach((rest) => this.keep(rest));
        return false;
      }
    }
    return true;
  }

  /** Spend on each counter, in picodollars. */
  async spent(keys: string[]): Promise<bigint[]> {
    if (keys.length === 0) return [];
    const values = await this.redis.run('budget.read', (c) => c.mget(...keys));
    return values.map((v) => BigInt(v ?? '0'));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.pending.length > 0) await this.drain();
    clearTimeout(this.retry);
  }

  private async write(s: Settlement): Promise<void> {
    const keys = [this.redis.keys.budgetReservation(s.requestId), ...s.counters];
    const cost = s.costPico === 'keep' ? 'keep' : s.costPico.toString();
    await this.redis.run('budget.settle', (c) =>
      c.settle(keys.length, ...keys, cost, COUNTER_TTL_SECONDS, MARKER_TTL_SECONDS),
    );
  }

  private keep(s: Settlement): void {
    if (this.pending.length === 0) {
      this.logger.warn(
        'Budget counters not reachable: settles are kept in memory and written when Redis is back',
      );
    }
    this.pending.push(s);
    this.retry ??= setTimeout(() => void this.drain(), RETRY_MS).unref();
  }
}

import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';
import { repliesOrThrow } from './replies.js';

/**
 * Budget alerts in Redis: the "sent" markers that make each (scope, period, threshold) alert once across
 * instances and restarts, the alert records with their deliveries, and the list of alert ids, newest first.
 */
@Injectable()
export class AlertRepository {
  constructor(private readonly redis: RedisService) {}

  /**
   * Claims the markers of the thresholds crossed in one window, highest first, in one round trip. Returns
   * true when the first (highest) marker was new: this caller sends that alert. The lower markers are
   * claimed too so they never fire late. Fails closed: without a marker, no alert is sent.
   */
  claim(
    window: { scope: string; periodId: string },
    thresholds: number[],
    now: number,
    ttlSeconds: number,
  ): Promise<boolean> {
    return this.redis.run('alert.claim', async (client) => {
      const batch = client.multi();
      for (const t of thresholds) {
        batch.set(this.redis.keys.alertMarker(window.scope, window.periodId, t), now, 'EX', ttlSeconds, 'NX');
      }
      const [first] = repliesOrThrow(await batch.exec());
      return first === 'OK';
    });
  }

  /** Writes an alert's record (with its deliveries so far) and, with `list`, puts its id in front. */
  async record(id: string, record: string, { list, keep }: { list: boolean; keep: number }): Promise<void> {
    const k = this.redis.keys;
    await this.redis.run(
      'alert.record',
      async (client) => {
        const batch = client.multi().hset(k.alertRecords(), id, record);
        if (list) batch.lpush(k.alertList(), id).ltrim(k.alertList(), 0, keep - 1);
        repliesOrThrow(await batch.exec());
      },
      () => undefined,
    );
  }

  /** The newest `limit` alert records (JSON text), newest first; 503 store_unavailable without Redis. */
  list(limit: number): Promise<string[]> {
    const k = this.redis.keys;
    return this.redis.run('alert.list', async (client) => {
      const ids = await client.lrange(k.alertList(), 0, limit - 1);
      if (ids.length === 0) return [];
      const raws = await client.hmget(k.alertRecords(), ...ids);
      return raws.filter((r): r is string => r !== null);
    });
  }
}

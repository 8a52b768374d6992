import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';
import { repliesOrThrow } from './replies.js';

/**
 * What the Whale Alert stream keeps in Redis: a "seen" marker per alert (so each alert is handled once across
 * instances and reconnect replays) and the list of recent alerts, newest first.
 */
@Injectable()
export class WhaleAlertRepository {
  constructor(private readonly redis: RedisService) {}

  /** true when this call is the first to see the alert; without Redis, true (the alert is processed). */
  markSeen(id: string, ttlSeconds: number): Promise<boolean> {
    return this.redis.run(
      'whale_alert.mark_seen',
      async (client) =>
        (await client.set(this.redis.keys.whaleAlertSeen(id), '1', 'EX', ttlSeconds, 'NX')) === 'OK',
      () => true,
    );
  }

  /** Adds an alert (already serialised) in front and keeps the newest `keep`. */
  async store(alert: string, keep: number): Promise<void> {
    const key = this.redis.keys.whaleAlerts();
    await this.redis.run(
      'whale_alert.store',
      async (client) => {
        const results = await client
          .multi()
          .lpush(key, alert)
          .ltrim(key, 0, keep - 1)
          .exec();
        repliesOrThrow(results);
      },
      () => undefined,
    );
  }

  /** The newest `limit` alerts as stored (JSON text); 503 store_unavailable without Redis. */
  recent(limit: number): Promise<string[]> {
    return this.redis.run('whale_alert.recent', (client) =>
      client.lrange(this.redis.keys.whaleAlerts(), 0, limit - 1),
    );
  }
}

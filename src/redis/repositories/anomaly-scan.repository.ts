import { Injectable } from '@nestjs/common';
import type { BotRef } from '../../common/tenant.js';
import { RedisService } from '../redis.service.js';

/** Results kept per bot, across bots (per tenant and in all), and alerts listed: bounded, newest first. */
const KEEP_PER_BOT = 50;
const KEEP_ALL = 500;
const KEEP_ALERTS = 500;
const RESULT_TTL_SECONDS = 7 * 86_400;

/** Scheduled anomaly scans: their results, the once-per-window alert markers and the alerts sent. */
@Injectable()
export class AnomalyScanRepository {
  constructor(private readonly redis: RedisService) {}

  async storeResult(bot: BotRef, json: string): Promise<void> {
    await this.redis.run(
      'anomaly_scan.store',
      async (client) => {
        const k = this.redis.keys;
        const [one, tenant, all] = [
          k.anomalyRecent(bot),
          k.anomalyRecentAll(bot.tenant),
          k.anomalyRecentAll(null),
        ];
        await client
          .multi()
          .lpush(one, json)
          .ltrim(one, 0, KEEP_PER_BOT - 1)
          .expire(one, RESULT_TTL_SECONDS)
          .lpush(tenant, json)
          .ltrim(tenant, 0, KEEP_ALL - 1)
          .expire(tenant, RESULT_TTL_SECONDS)
          .lpush(all, json)
          .ltrim(all, 0, KEEP_ALL - 1)
          .exec();
      },
      () => undefined,
    );
  }

  /** Newest first: of one tenant's bots, or (null) of every bot. */
  async recent(tenant: string | null, limit: number): Promise<string[]> {
    const key = this.redis.keys.anomalyRecentAll(tenant);
    return this.redis.run('anomaly_scan.recent', (client) => client.lrange(key, 0, limit - 1));
  }

  /** Newest first, of one bot. */
  async recentOfBot(bot: BotRef, limit: number): Promise<string[]> {
    const key = this.redis.keys.anomalyRecent(bot);
    return this.redis.run('anomaly_scan.recent', (client) => client.lrange(key, 0, limit - 1));
  }

  /** true for the first caller per bot and anomaly within `windowSeconds` (SET NX with that expiry). */
  async claimAlert(bot: BotRef, anomaly: string, windowSeconds: number, nowMs: number): Promise<boolean> {
    const ok = await this.redis.run('anomaly_alert.claim', (client) =>
      client.set(this.redis.keys.anomalyAlertMarker(bot, anomaly), String(nowMs), 'EX', windowSeconds, 'NX'),
    );
    return ok === 'OK';
  }

  /**
   * Keeps an alert sent (with its deliveries) in the bounded newest-first lists of its tenant and of the
   * deployment (two keys of two Cluster slots: two transactions, sent together).
   */
  async recordAlert(tenant: string, json: string): Promise<void> {
    await this.redis.run(
      'anomaly_alert.record',
      async (client) => {
        const push = (key: string) =>
          client
            .multi()
            .lpush(key, json)
            .ltrim(key, 0, KEEP_ALERTS - 1)
            .exec();
        const k = this.redis.keys;
        await Promise.all([push(k.anomalyAlertList(tenant)), push(k.anomalyAlertList(null))]);
      },
      () => undefined,
    );
  }

  /** Newest first: of one tenant's bots, or (null) of every bot. */
  async alerts(tenant: string | null, limit: number): Promise<string[]> {
    return this.redis.run('anomaly_alert.list', (client) =>
      client.lrange(this.redis.keys.anomalyAlertList(tenant), 0, limit - 1),
    );
  }
}

import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/** Results kept per bot, across bots, and alerts listed: bounded, newest first. */
const KEEP_PER_BOT = 50;
const KEEP_ALL = 500;
const KEEP_ALERTS = 500;
const RESULT_TTL_SECONDS = 7 * 86_400;

/** Scheduled anomaly scans: their results, the once-per-window alert markers and the alerts sent. */
@Injectable()
export class AnomalyScanRepository {
  constructor(private readonly redis: RedisService) {}

  async storeResult(botId: string, json: string): Promise<void> {
    await this.redis.run(
      'anomaly_scan.store',
      async (client) => {
        const k = this.redis.keys;
        await client
          .multi()
          .lpush(k.anomalyRecent(botId), json)
          .ltrim(k.anomalyRecent(botId), 0, KEEP_PER_BOT - 1)
          .expire(k.anomalyRecent(botId), RESULT_TTL_SECONDS)
          .lpush(k.anomalyRecentAll(), json)
          .ltrim(k.anomalyRecentAll(), 0, KEEP_ALL - 1)
          .exec();
      },
      () => undefined,
    );
  }

  /** Newest first: of one bot, or of every bot. */
  async recent(botId: string | undefined, limit: number): Promise<string[]> {
    const k = this.redis.keys;
    const key = botId === undefined ? k.anomalyRecentAll() : k.anomalyRecent(botId);
    return this.redis.run('anomaly_scan.recent', (client) => client.lrange(key, 0, limit - 1));
  }

  /** true for the first caller per bot and anomaly within `windowSeconds` (SET NX with that expiry). */
  async claimAlert(botId: string, anomaly: string, windowSeconds: number, nowMs: number): Promise<boolean> {
    const ok = await this.redis.run('anomaly_alert.claim', (client) =>
      client.set(
        this.redis.keys.anomalyAlertMarker(botId, anomaly),
        String(nowMs),
        'EX',
        windowSeconds,
        'NX',
      ),
    );
    return ok === 'OK';
  }

  /** Keeps an alert sent (with its deliveries) in the bounded newest-first list. */
  async recordAlert(json: string): Promise<void> {
    await this.redis.run(
      'anomaly_alert.record',
      async (client) => {
        const k = this.redis.keys;
        await client
          .multi()
          .lpush(k.anomalyAlertList(), json)
          .ltrim(k.anomalyAlertList(), 0, KEEP_ALERTS - 1)
          .exec();
      },
      () => undefined,
    );
  }

  async alerts(limit: number): Promise<string[]> {
    return this.redis.run('anomaly_alert.list', (client) =>
      client.lrange(this.redis.keys.anomalyAlertList(), 0, limit - 1),
    );
  }
}

import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/** What became of an alert handed to `record`. */
export type AlertRecord = 'stored' | 'duplicate' | 'stale';

/**
 * What the Whale Alert stream keeps in Redis: a "seen" marker per alert (so each alert is handled once, across
 * reconnect replays and holders of the stream) and the list of recent alerts, newest first.
 */
@Injectable()
export class WhaleAlertRepository {
  constructor(private readonly redis: RedisService) {}

  /**
   * Marks the alert seen and lists it in front (keeping the newest `keep`), in one step and only while
   * `token` is the current fencing token of the stream lease: 'duplicate' when it was seen before, 'stale'
   * when another instance has taken the stream since. Without Redis, 'stored': the holder processes the alert
   * (it reaches the event gate but not the list) — a duplicate event is better than a lost whale.
   */
  record(
    token: number,
    id: string,
    alert: string,
    keep: number,
    seenTtlSeconds: number,
  ): Promise<AlertRecord> {
    const keys = this.redis.keys;
    return this.redis.run(
      'whale_alert.record',
      (c) =>
        c.recordFencedAlert(
          keys.whaleStreamFence(),
          keys.whaleAlertSeen(id),
          keys.whaleAlerts(),
          String(token),
          alert,
          keep,
          seenTtlSeconds,
        ),
      (): AlertRecord => 'stored',
    );
  }

  /** The newest `limit` alerts as stored (JSON text); 503 store_unavailable without Redis. */
  recent(limit: number): Promise<string[]> {
    return this.redis.run('whale_alert.recent', (client) =>
      client.lrange(this.redis.keys.whaleAlerts(), 0, limit - 1),
    );
  }
}

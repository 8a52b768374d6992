import { Injectable } from '@nestjs/common';
import { botKeyOf, botRefOf, type BotRef } from '../../common/tenant.js';
import { RedisService } from '../redis.service.js';

/** The series kept per bot; heartbeats are not a series, only their newest instant is kept. */
export const TELEMETRY_SERIES = ['trade', 'order', 'error'] as const;
export type TelemetrySeries = (typeof TELEMETRY_SERIES)[number];

/** One batch as the store writes it: members per series (score, JSON, score, JSON, ...). */
export interface TelemetryBatch {
  bot: BotRef;
  userId: number;
  members: Record<TelemetrySeries, (number | string)[]>;
  lastHeartbeatMs: number | null;
  heartbeatIntervalSeconds: number | undefined;
  /** Entries older than this (ms) are trimmed. */
  cutoffMs: number;
  keepPerSeries: number;
  seriesTtlSeconds: number;
  metaTtlSeconds: number;
  /** When the batch arrived: the bot counts as active from then on. */
  nowMs: number;
}

export interface StoredTelemetry {
  trades: string[];
  orders: string[];
  errors: string[];
  /** [member, score] of the newest heartbeat, or empty. */
  heartbeat: string[];
  meta: Record<string, string>;
}

/**
 * Bot telemetry in Redis, per tenant's bot (BotRef). Each series is a sorted set per bot (score = event time
 * in ms, member = the event as JSON), trimmed on every write to the newest `keepPerSeries` entries and to the
 * retention, so a chatty or replaying bot cannot grow Redis without bound. The newest heartbeat lives in a
 * one-member sorted set (so "newest" holds even when batches arrive out of order), the declared interval and
 * the user in the bot's meta hash, and an index (sorted by the last report) tells the scheduled scan which bots
 * reported recently.
 */
@Injectable()
export class TelemetryRepository {
  constructor(private readonly redis: RedisService) {}

  async write(b: TelemetryBatch): Promise<void> {
    await this.redis.run('telemetry.write', async (client) => {
      const k = this.redis.keys;
      // MULTI: a reader sees a batch with its trim applied, never more than keepPerSeries entries.
      const tx = client.multi();
      for (const series of TELEMETRY_SERIES) {
        const key = k.botEvents(b.bot, series);
        if (b.members[series].length > 0) tx.zadd(key, ...b.members[series]);
        tx.zremrangebyscore(key, '-inf', `(${b.cutoffMs}`);
        tx.zremrangebyrank(key, 0, -(b.keepPerSeries + 1));
        tx.expire(key, b.seriesTtlSeconds);
      }
      const hbKey = k.botEvents(b.bot, 'heartbeat');
      if (b.lastHeartbeatMs !== null) {
        // Add, then keep only the highest score: the stored heartbeat is the newest one whatever the order.
        tx.zadd(hbKey, b.lastHeartbeatMs, String(b.lastHeartbeatMs));
        tx.zremrangebyrank(hbKey, 0, -2);
        tx.expire(hbKey, b.metaTtlSeconds);
      }
      const metaKey = k.botMeta(b.bot);
      tx.hset(metaKey, 'user_id', String(b.userId));
      if (b.heartbeatIntervalSeconds !== undefined) {
        tx.hset(metaKey, 'heartbeat_interval_seconds', String(b.heartbeatIntervalSeconds));
      }
      tx.expire(metaKey, b.metaTtlSeconds);
      // The index of active bots lives in another Cluster slot than the bot's own keys: sent alongside.
      const index = client
        .multi()
        .zadd(k.activeBots(), b.nowMs, botKeyOf(b.bot))
        .zremrangebyscore(k.activeBots(), '-inf', `(${b.cutoffMs}`)
        .exec();
      const [results] = await Promise.all([tx.exec(), index]);
      // exec() resolves even when a queued command failed: the per-command errors are in the results.
      const failed = results === null ? new Error('transaction aborted') : results.find(([err]) => err)?.[0];
      if (failed) throw failed;
    });
  }

  /** Entries with `fromMs <= time <= toMs` of every series, plus the heartbeat and the meta hash. */
  async read(bot: BotRef, fromMs: number, toMs: number): Promise<StoredTelemetry> {
    return this.redis.run('telemetry.read', async (client) => {
      const k = this.redis.keys;
      const pipeline = client.pipeline();
      for (const series of TELEMETRY_SERIES) pipeline.zrangebyscore(k.botEvents(bot, series), fromMs, toMs);
      pipeline.zrange(k.botEvents(bot, 'heartbeat'), -1, -1, 'WITHSCORES');
      pipeline.hgetall(k.botMeta(bot));
      const results = (await pipeline.exec()) ?? [];
      const values = results.map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      return {
        trades: values[0] as string[],
        orders: values[1] as string[],
        errors: values[2] as string[],
        heartbeat: values[3] as string[],
        meta: values[4] as Record<string, string>,
      };
    });
  }

  async count(bot: BotRef, series: TelemetrySeries): Promise<number> {
    return this.redis.run('telemetry.read', (client) => client.zcard(this.redis.keys.botEvents(bot, series)));
  }

  async userOf(bot: BotRef): Promise<number | null> {
    const raw = await this.redis.run('telemetry.read', (client) =>
      client.hget(this.redis.keys.botMeta(bot), 'user_id'),
    );
    const id = Number(raw);
    return raw !== null && Number.isInteger(id) ? id : null;
  }

  /** Bots (of every tenant) whose last batch arrived at or after `sinceMs`, oldest report first. */
  async activeSince(sinceMs: number): Promise<BotRef[]> {
    const keys = await this.redis.run(
      'telemetry.active_bots',
      (client) => client.zrangebyscore(this.redis.keys.activeBots(), sinceMs, '+inf'),
      () => [],
    );
    return keys.map(botRefOf);
  }
}

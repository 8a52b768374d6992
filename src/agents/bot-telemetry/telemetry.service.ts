import { BadRequestException, Injectable } from '@nestjs/common';
import { RedisService } from '../../redis/redis.service.js';
import { Clock } from '../../common/clock.js';
import { TELEMETRY_TYPES, type TelemetryDto, type TelemetryType } from './telemetry.dto.js';

export interface StoredEvent {
  type: TelemetryType;
  at: number;
  pnl?: number;
  latency_ms?: number;
  slippage_bps?: number;
  message?: string;
  symbol?: string;
}

export interface TelemetryWindow {
  trades: StoredEvent[];
  orders: StoredEvent[];
  errors: StoredEvent[];
  lastHeartbeat: number | null;
  heartbeatIntervalSeconds: number;
}

/** Retention per bot and kind: the newest entries, and nothing older than a week. */
export const KEEP_PER_KIND = 5000;
const KEEP_MS = 7 * 86_400_000;
const BOT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Bot telemetry kept per bot in Redis sorted sets (score = event time), bounded in count and age. */
@Injectable()
export class TelemetryService {
  constructor(
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  checkBotId(botId: string): void {
    if (!BOT_ID.test(botId)) throw new BadRequestException('bot_id must be 1–64 letters, digits, _ or -');
  }

  async ingest(botId: string, dto: TelemetryDto) {
    this.checkBotId(botId);
    const k = this.redis.keys;
    const counts: Record<TelemetryType, number> = { trade: 0, order: 0, error: 0, heartbeat: 0 };
    const pipeline = this.redis.pipeline();
    dto.events.forEach((e, i) => {
      const at = Date.parse(e.timestamp);
      counts[e.type]++;
      if (e.type === 'heartbeat') {
        pipeline.hset(k.botMeta(botId), 'user_id', String(dto.user_id));
        if (e.interval_seconds)
          pipeline.hset(k.botMeta(botId), 'heartbeat_interval', String(e.interval_seconds));
        // Keep the latest heartbeat even when events of a batch arrive out of order.
        pipeline.zadd(k.botEvents(botId, 'heartbeat'), at, String(at));
        return;
      }
      const stored: StoredEvent = {
        type: e.type,
        at,
        pnl: e.pnl,
        latency_ms: e.latency_ms,
        slippage_bps: e.slippage_bps,
        message: e.message,
        symbol: e.symbol,
      };
      // The member carries the batch index so identical events in one batch are all kept.
      pipeline.zadd(
        k.botEvents(botId, e.type),
        at,
        JSON.stringify({ ...stored, n: `${this.clock.now()}-${i}` }),
      );
    });
    const cutoff = this.clock.now() - KEEP_MS;
    for (const type of TELEMETRY_TYPES) {
      const key = k.botEvents(botId, type);
      pipeline.zremrangebyscore(key, '-inf', cutoff);
      pipeline.zremrangebyrank(key, 0, -(KEEP_PER_KIND + 1));
      pipeline.expire(key, KEEP_MS / 1000);
    }
    await pipeline.exec();
    return { accepted: dto.events.length, bot_id: botId, counts };
  }

  async window(botId: string, fromMs: number, toMs: number): Promise<TelemetryWindow> {
    const k = this.redis.keys;
    const read = async (type: TelemetryType): Promise<StoredEvent[]> =>
      (await this.redis.client.zrangebyscore(k.botEvents(botId, type), fromMs, toMs)).map(
        (raw) => JSON.parse(raw) as StoredEvent,
      );
    const [trades, orders, errors, heartbeats, meta] = await Promise.all([
      read('trade'),
      read('order'),
      read('error'),
      this.redis.client.zrange(k.botEvents(botId, 'heartbeat'), -1, -1, 'WITHSCORES'),
      this.redis.client.hgetall(k.botMeta(botId)),
    ]);
    return {
      trades,
      orders,
      errors,
      lastHeartbeat: heartbeats.length === 2 ? Number(heartbeats[1]) : null,
      heartbeatIntervalSeconds: Number(meta.heartbeat_interval ?? 60),
    };
  }

  async count(botId: string, type: TelemetryType): Promise<number> {
    return this.redis.client.zcard(this.redis.keys.botEvents(botId, type));
  }
}

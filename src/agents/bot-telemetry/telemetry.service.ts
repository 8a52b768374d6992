import { BadRequestException, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../common/clock.js';
import { DomainError } from '../../common/errors.js';
import { RedisService } from '../../redis/redis.service.js';
import {
  type TelemetryAnswer,
  type TelemetryDto,
  type TelemetryEventDto,
  type TelemetryType,
} from './telemetry.dto.js';

export interface TradeRecord {
  at: number;
  pnl: number;
  slippage_bps?: number;
  symbol?: string;
  side?: string;
}
export interface OrderRecord {
  at: number;
  latency_ms: number;
  symbol?: string;
}
export interface ErrorRecord {
  at: number;
  message: string;
  code?: string | number;
  symbol?: string;
}

/** A bot's telemetry between two instants, oldest first, plus its heartbeat state (not windowed). */
export interface TelemetryWindow {
  trades: TradeRecord[];
  orders: OrderRecord[];
  errors: ErrorRecord[];
  /** The newest heartbeat ever received (ms), or null when the bot never sent one. */
  last_heartbeat_ms: number | null;
  /** The interval the bot last declared, or null when it never declared one. */
  heartbeat_interval_seconds: number | null;
}

/** The series kept per bot; heartbeats are not a series, only their newest instant is kept. */
const SERIES = ['trade', 'order', 'error'] as const satisfies readonly TelemetryType[];
type Series = (typeof SERIES)[number];

/** Retention per bot and series: the newest N entries, and nothing older than a week. */
export const KEEP_PER_SERIES = 5000;
export const KEEP_MS = 7 * 86_400_000;
/**
 * The heartbeat and the declared interval outlive the series: a bot silent for longer than the series
 * retention must still be reported stale, not forgotten.
 */
const META_TTL_SECONDS = 30 * 86_400;
/** Clock skew a bot may have; anything further ahead would sit above the window forever and fake freshness. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/**
 * Bot telemetry in Redis. Each series is a sorted set per bot (score = event time in ms, member = the event
 * as JSON), trimmed on every write to the newest KEEP_PER_SERIES entries and to KEEP_MS of age, so a chatty or
 * replaying bot cannot grow Redis without bound. The newest heartbeat lives in a one-member sorted set (so
 * "newest" holds even when batches arrive out of order) and the declared interval in the bot's meta hash.
 */
@Injectable()
export class TelemetryService {
  constructor(
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  async ingest(botId: string, dto: TelemetryDto): Promise<TelemetryAnswer> {
    const now = this.clock.now();
    const cutoff = now - KEEP_MS;
    const times = dto.events.map((e) => Date.parse(e.timestamp));
    const future = times.flatMap((at, i) =>
      at > now + MAX_FUTURE_SKEW_MS
        ? [`events.${i}.timestamp is more than ${MAX_FUTURE_SKEW_MS / 1000} s in the future`]
        : [],
    );
    if (future.length > 0) throw new BadRequestException({ message: future, error: 'Bad Request' });

    const counts: Record<TelemetryType, number> = { trade: 0, order: 0, error: 0, heartbeat: 0 };
    const members: Record<Series, (number | string)[]> = { trade: [], order: [], error: [] };
    // Members must be unique or identical events (same time, same latency) would collapse into one.
    const batch = randomBytes(6).toString('base64url');
    let expired = 0;
    let lastHeartbeat: number | null = null;
    let interval: number | undefined;
    dto.events.forEach((e, i) => {
      const at = times[i];
      if (at < cutoff) {
        expired++;
        return;
      }
      counts[e.type]++;
      if (e.type === 'heartbeat') {
        if (lastHeartbeat === null || at >= lastHeartbeat) {
          lastHeartbeat = at;
          interval = e.interval_seconds ?? interval;
        }
        return;
      }
      members[e.type].push(at, JSON.stringify({ ...record(e, at), id: `${batch}.${i}` }));
    });

    const k = this.redis.keys;
    // MULTI: a reader sees a batch with its trim applied, never more than KEEP_PER_SERIES entries.
    const tx = this.redis.client.multi();
    for (const series of SERIES) {
      const key = k.botEvents(botId, series);
      if (members[series].length > 0) tx.zadd(key, ...members[series]);
      tx.zremrangebyscore(key, '-inf', `(${cutoff}`);
      tx.zremrangebyrank(key, 0, -(KEEP_PER_SERIES + 1));
      tx.expire(key, KEEP_MS / 1000);
    }
    const hbKey = k.botEvents(botId, 'heartbeat');
    if (lastHeartbeat !== null) {
      // Add, then keep only the highest score: the stored heartbeat is the newest one whatever the order.
      tx.zadd(hbKey, lastHeartbeat, String(lastHeartbeat));
      tx.zremrangebyrank(hbKey, 0, -2);
      tx.expire(hbKey, META_TTL_SECONDS);
    }
    const metaKey = k.botMeta(botId);
    tx.hset(metaKey, 'user_id', String(dto.user_id));
    if (interval !== undefined) tx.hset(metaKey, 'heartbeat_interval_seconds', String(interval));
    tx.expire(metaKey, META_TTL_SECONDS);
    const results = await this.run(() => tx.exec());
    // exec() resolves even when a queued command failed: the per-command errors are in the results.
    const failed = results === null ? new Error('transaction aborted') : results.find(([err]) => err)?.[0];
    if (failed) {
      throw new DomainError('store_unavailable', `Telemetry store unavailable: ${failed.message}`, 503);
    }
    return { accepted: dto.events.length - expired, expired, bot_id: botId, counts };
  }

  /** Telemetry with `fromMs <= time <= toMs`, oldest first. */
  async window(botId: string, fromMs: number, toMs: number): Promise<TelemetryWindow> {
    const k = this.redis.keys;
    const read = (series: Series) =>
      this.run(() => this.redis.client.zrangebyscore(k.botEvents(botId, series), fromMs, toMs));
    const [trades, orders, errors, heartbeat, meta] = await Promise.all([
      read('trade'),
      read('order'),
      read('error'),
      this.run(() => this.redis.client.zrange(k.botEvents(botId, 'heartbeat'), -1, -1, 'WITHSCORES')),
      this.run(() => this.redis.client.hgetall(k.botMeta(botId))),
    ]);
    const interval = Number(meta.heartbeat_interval_seconds);
    return {
      trades: parseAll<TradeRecord>(trades, (r) => isNum(r.pnl)),
      orders: parseAll<OrderRecord>(orders, (r) => isNum(r.latency_ms)),
      errors: parseAll<ErrorRecord>(errors, (r) => typeof r.message === 'string'),
      last_heartbeat_ms: heartbeat.length === 2 ? Number(heartbeat[1]) : null,
      heartbeat_interval_seconds: Number.isFinite(interval) && interval > 0 ? interval : null,
    };
  }

  /** Stored entries of one series (retention checks and operations). */
  async count(botId: string, series: Series): Promise<number> {
    return this.run(() => this.redis.client.zcard(this.redis.keys.botEvents(botId, series)));
  }

  /** A Redis failure is an outage of this endpoint (503), not a bug (500). */
  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new DomainError(
        'store_unavailable',
        `Telemetry store unavailable: ${(err as Error).message}`,
        503,
      );
    }
  }
}

/** Only the fields the type defines are stored, so a stray `pnl` on an order never reaches a detector. */
function record(e: TelemetryEventDto, at: number): TradeRecord | OrderRecord | ErrorRecord {
  switch (e.type) {
    case 'trade':
      return { at, pnl: e.pnl as number, slippage_bps: e.slippage_bps, symbol: e.symbol, side: e.side };
    case 'order':
      return { at, latency_ms: e.latency_ms as number, symbol: e.symbol };
    default:
      return { at, message: e.message as string, code: e.code, symbol: e.symbol };
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Parses stored members, dropping any that do not have the expected shape (e.g. written by an older format). */
function parseAll<T>(raw: string[], ok: (r: Record<string, unknown>) => boolean): T[] {
  const out: T[] = [];
  for (const member of raw) {
    try {
      const value = JSON.parse(member) as unknown;
      if (typeof value === 'object' && value !== null) {
        const r = value as Record<string, unknown>;
        if (isNum(r.at) && ok(r)) out.push(r as T);
      }
    } catch {
      // not ours: skip it
    }
  }
  return out;
}

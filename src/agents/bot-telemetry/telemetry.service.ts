import { BadRequestException, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../common/clock.js';
import type { BotRef } from '../../common/tenant.js';
import { TelemetryRepository, type TelemetrySeries } from '../../redis/repositories/telemetry.repository.js';
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
 * Bot telemetry: validation, retention and parsing here; the storage layout is TelemetryRepository's. A bot is
 * its tenant's: telemetry is stored and read under the tenant of the key that sends or asks for it.
 */
@Injectable()
export class TelemetryService {
  constructor(
    private readonly store: TelemetryRepository,
    private readonly clock: Clock,
  ) {}

  async ingest(bot: BotRef, dto: TelemetryDto): Promise<TelemetryAnswer> {
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
    const members: Record<TelemetrySeries, (number | string)[]> = { trade: [], order: [], error: [] };
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

    await this.store.write({
      bot,
      userId: dto.user_id,
      members,
      lastHeartbeatMs: lastHeartbeat,
      heartbeatIntervalSeconds: interval,
      cutoffMs: cutoff,
      keepPerSeries: KEEP_PER_SERIES,
      seriesTtlSeconds: KEEP_MS / 1000,
      metaTtlSeconds: META_TTL_SECONDS,
      nowMs: now,
    });
    return { accepted: dto.events.length - expired, expired, bot_id: bot.botId, counts };
  }

  /** Telemetry with `fromMs <= time <= toMs`, oldest first. */
  async window(bot: BotRef, fromMs: number, toMs: number): Promise<TelemetryWindow> {
    const stored = await this.store.read(bot, fromMs, toMs);
    const interval = Number(stored.meta.heartbeat_interval_seconds);
    return {
      trades: parseAll<TradeRecord>(stored.trades, (r) => isNum(r.pnl)),
      orders: parseAll<OrderRecord>(stored.orders, (r) => isNum(r.latency_ms)),
      errors: parseAll<ErrorRecord>(stored.errors, (r) => typeof r.message === 'string'),
      last_heartbeat_ms: stored.heartbeat.length === 2 ? Number(stored.heartbeat[1]) : null,
      heartbeat_interval_seconds: Number.isFinite(interval) && interval > 0 ? interval : null,
    };
  }

  /** Stored entries of one series (retention checks and operations). */
  async count(bot: BotRef, series: TelemetrySeries): Promise<number> {
    return this.store.count(bot, series);
  }

  /** Bots of every tenant that sent a batch at or after `sinceMs` (what a scheduled scan looks at). */
  async activeSince(sinceMs: number): Promise<BotRef[]> {
    return this.store.activeSince(sinceMs);
  }

  /** The user the bot last reported for, or null when the bot is unknown. */
  async userOf(bot: BotRef): Promise<number | null> {
    return this.store.userOf(bot);
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

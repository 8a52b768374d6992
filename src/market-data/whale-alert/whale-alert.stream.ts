import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import WebSocket from 'ws';
import type { ConfigType } from '@nestjs/config';
import { marketConfig } from '../../config/namespaces.js';
import { Clock } from '../../common/clock.js';
import { WhaleAlertRepository } from '../../redis/repositories/whale-alert.repository.js';
import { WhaleLeaseRepository } from '../../redis/repositories/whale-lease.repository.js';
import { MARKET_EVENT_SINK, type MarketEventSink } from '../../common/market-events.js';
import { isRecord, text, toNumber } from '../vendor-http.js';

/** One `alert` message of the Whale Alert custom-alert stream, normalised. */
export interface WhaleStreamAlert {
  channel_id: string;
  timestamp: string;
  blockchain: string;
  transaction_type: string;
  /** Entity name or address, as the vendor words it (`unknown wallet`, `Binance`). */
  from: string;
  to: string;
  amounts: { symbol: string; amount: number; value_usd: number }[];
  text: string;
  hash: string | null;
  total_value_usd: number;
}

/** The `subscribe_alerts` filter; empty lists mean "all" to the vendor. */
export interface WhaleFilters {
  blockchains: string[];
  symbols: string[];
  tx_types: string[];
  min_value_usd: number;
}

export interface WhaleStreamStatus {
  enabled: boolean;
  /** This instance holds the deployment's one stream (the Redis lease); the others stand by. */
  holder: boolean;
  connected: boolean;
  subscribed: boolean;
  reconnects: number;
  alerts_received: number;
  /** Alerts skipped because another instance (or a replay after a reconnect) already handled them. */
  duplicates: number;
  events_sent: number;
  last_error: string | null;
}

export const DEFAULT_WHALE_FILTERS: Readonly<WhaleFilters> = Object.freeze({
  blockchains: ['bitcoin', 'ethereum'],
  symbols: ['btc', 'eth', 'usdt', 'usdc'],
  tx_types: ['transfer'],
  min_value_usd: 1_000_000,
});

/** The id of our subscription; alerts echo it as `channel_id`. */
export const WHALE_SUBSCRIPTION_ID = 'bastion';
const KEEP_ALERTS = 200;
/** Whale Alert drops idle clients; the vendor asks for a ping every 20–54 s. */
const PING_MS = 20_000;
/** A handshake that hangs longer than this is abandoned and retried with backoff. */
const HANDSHAKE_MS = 10_000;
/** How long the "seen" marker of an alert lives: longer than any reconnect replay. */
const SEEN_TTL_SECONDS = 6 * 3600;
/** Longest vendor text put into a prompt: the text is vendor-controlled and should not dominate it. */
const PROMPT_TEXT_MAX = 300;
/** Shutdown waits this long for alerts being stored or handed to the gate. */
const DRAIN_MS = 2000;
/**
 * The stream lease: its holder renews it every tick; when the holder dies the lease lapses and another
 * instance takes it at its next tick, so a takeover comes within LEASE_MS + LEASE_TICK_MS (12 s).
 */
const LEASE_MS = 10_000;
const LEASE_TICK_MS = 2000;
/** A holder that cannot renew closes its stream this long before its lease could end, to never overlap a successor. */
const LEASE_MARGIN_MS = 1000;

/** Parses an `alert` message; null when the message is anything else. */
export function parseAlert(msg: unknown, nowMs = Date.now()): WhaleStreamAlert | null {
  if (!isRecord(msg) || msg.type !== 'alert') return null;
  const amounts = (Array.isArray(msg.amounts) ? msg.amounts : []).filter(isRecord).map((a) => ({
    symbol: text(a.symbol).toLowerCase(),
    amount: toNumber(a.amount) ?? 0,
    value_usd: toNumber(a.value_usd) ?? 0,
  }));
  const tx = isRecord(msg.transaction) ? msg.transaction : {};
  const seconds = toNumber(msg.timestamp) ?? toNumber(tx.timestamp);
  return {
    channel_id: text(msg.channel_id),
    timestamp: new Date(seconds === null ? nowMs : seconds * 1000).toISOString(),
    blockchain: text(msg.blockchain),
    transaction_type: text(msg.transaction_type),
    from: text(msg.from),
    to: text(msg.to),
    amounts,
    text: text(msg.text),
    hash: typeof tx.hash === 'string' && tx.hash !== '' ? tx.hash : null,
    total_value_usd: amounts.reduce((s, a) => s + a.value_usd, 0),
  };
}

/**
 * The identity of an alert (the vendor sends no id): the vendor may replay alerts after a reconnect, and a
 * new holder may see some its predecessor already stored, so one seen marker per identity keeps each once.
 */
function alertId(alert: WhaleStreamAlert): string {
  return createHash('sha256')
    .update(JSON.stringify([alert.blockchain, alert.hash, alert.timestamp, alert.amounts, alert.text]))
    .digest('hex')
    .slice(0, 32);
}

/** A ws frame as text, whatever buffer shape ws delivered it in. */
function frameText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/**
 * The Whale Alert custom-alert WebSocket, one per deployment: every instance tries to take the stream lease
 * in Redis and only its holder connects; the holder renews it every tick, and when it dies another instance
 * takes over once the lease lapses. The fencing token that came with the lease goes with every alert stored,
 * so a holder paused past its lease cannot store (nor raise) an alert after its successor has started.
 *
 * The holder subscribes with filters, pings to stay alive (and drops a
 * connection whose pings go unanswered), reconnects with exponential backoff when the server goes away,
 * keeps the recent alerts in Redis for the REST route and the market context, and turns each alert at or
 * above the event threshold into a WHALE_TRANSACTION event for the event gate.
 *
 * The key is only ever in the connection URL; logs and status show the URL without its query.
 */
@Injectable()
export class WhaleAlertStream implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WhaleAlertStream.name);
  private socket: WebSocket | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Closes the stream when the lease could end without a renewal (Redis unreachable). */
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking = false;
  /** Who this instance is in the lease (the log and `redis-cli GET` show it). */
  private readonly holderId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /** The fencing token while this instance holds the stream lease, null otherwise. */
  private token: number | null = null;
  private lastLeaseError = 0;
  private backoffMin = 500;
  private backoffMax = 30_000;
  private nextDelay = 500;
  private eventThreshold: number;
  private filters: WhaleFilters = {
    blockchains: [...DEFAULT_WHALE_FILTERS.blockchains],
    symbols: [...DEFAULT_WHALE_FILTERS.symbols],
    tx_types: [...DEFAULT_WHALE_FILTERS.tx_types],
    min_value_usd: DEFAULT_WHALE_FILTERS.min_value_usd,
  };
  private readonly listeners = new Set<(alert: WhaleStreamAlert) => void>();
  private readonly pending = new Set<Promise<void>>();
  private readonly state: Omit<WhaleStreamStatus, 'enabled' | 'holder'> = {
    connected: false,
    subscribed: false,
    reconnects: 0,
    alerts_received: 0,
    duplicates: 0,
    events_sent: 0,
    last_error: null,
  };

  constructor(
    @Inject(marketConfig.KEY) private readonly config: ConfigType<typeof marketConfig>,
    private readonly alerts: WhaleAlertRepository,
    @Inject(MARKET_EVENT_SINK) private readonly events: MarketEventSink,
    private readonly clock: Clock,
    private readonly lease: WhaleLeaseRepository,
  ) {
    this.eventThreshold = config.whaleAlertEventMinUsd;
  }

  get enabled(): boolean {
    return Boolean(this.config.whaleAlert?.wsUrl && this.config.whaleAlert.apiKey);
  }

  status(): WhaleStreamStatus {
    return { enabled: this.enabled, holder: this.token !== null, ...this.state };
  }

  /**
   * The filter of the next subscription. A live connection keeps its current one: whether a second
   * `subscribe_alerts` replaces or adds to the first is not documented, and doubled alerts would cost events.
   */
  setFilters(filters: Partial<WhaleFilters>): void {
    this.filters = { ...this.filters, ...filters };
  }

  getFilters(): WhaleFilters {
    return { ...this.filters };
  }

  /** Alerts whose total USD value is at least this become events (WHALE_ALERT_EVENT_MIN_USD by default). */
  setEventThreshold(usd: number): void {
    if (!Number.isFinite(usd) || usd <= 0)
      throw new RangeError('event threshold must be a positive USD value');
    this.eventThreshold = usd;
  }

  /** Reconnect backoff: starts at `minMs`, doubles per failed attempt, capped at `maxMs`. */
  setBackoff(minMs: number, maxMs: number): void {
    if (!(minMs > 0 && maxMs >= minMs)) throw new RangeError('backoff needs 0 < minMs <= maxMs');
    this.backoffMin = minMs;
    this.backoffMax = maxMs;
    this.nextDelay = minMs;
  }

  /** Called after each new alert is stored; returns the unsubscribe function. */
  onAlert(listener: (alert: WhaleStreamAlert) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tries for the stream lease in the background: neither Redis nor the vendor may hold up the boot. */
  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    void this.tick();
  }

  /**
   * Every LEASE_TICK_MS: the holder renews the lease (or, if another instance has it now, closes its
   * stream); the others try to take it, and the one that does connects.
   */
  @Interval('whale-stream-lease', LEASE_TICK_MS)
  async tick(): Promise<void> {
    if (!this.enabled || this.stopped || this.ticking) return;
    this.ticking = true;
    try {
      if (this.token === null) await this.takeLease();
      else await this.renewLease(this.token);
    } catch (err) {
      // Redis unreachable: a holder keeps its stream until the lease timer; nobody else takes it meanwhile.
      const now = Date.now();
      if (now - this.lastLeaseError >= 10_000) {
        this.lastLeaseError = now;
        this.logger.warn(`Whale Alert stream lease: ${(err as Error).message}`);
      }
    } finally {
      this.ticking = false;
    }
  }

  private async takeLease(): Promise<void> {
    const sentAt = performance.now();
    const token = await this.lease.acquire(this.holderId, LEASE_MS);
    if (token === null) return;
    if (this.stopped) {
      await this.lease.release(this.holderId); // taken while shutting down: give it straight back
      return;
    }
    this.token = token;
    this.armLeaseTimer(sentAt);
    this.logger.log(
      `Whale Alert stream: this instance holds the stream (${this.holderId}, fencing token ${token}); ` +
        `connecting to ${this.safeUrl()}`,
    );
    this.connect();
  }

  private async renewLease(token: number): Promise<void> {
    const sentAt = performance.now();
    const renewed = await this.lease.renew(this.holderId, LEASE_MS);
    if (this.token !== token) return; // given up meanwhile
    if (renewed) this.armLeaseTimer(sentAt);
    else this.giveUp('another instance holds the stream lease now');
  }

  /** The lease runs LEASE_MS from when its last renewal was sent: close the stream before it can end. */
  private armLeaseTimer(sentAt: number): void {
    clearTimeout(this.leaseTimer);
    const left = sentAt + LEASE_MS - LEASE_MARGIN_MS - performance.now();
    this.leaseTimer = setTimeout(() => this.giveUp('the stream lease could not be renewed'), left);
    this.leaseTimer.unref();
  }

  /** Stops holding the stream: closes the connection without a reconnect; the next tick tries for the lease again. */
  private giveUp(reason: string): void {
    if (this.token === null) return;
    this.token = null;
    clearTimeout(this.leaseTimer);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = undefined; // its close event must not schedule a reconnect
    this.state.connected = false;
    this.state.subscribed = false;
    socket?.terminate();
    this.logger.warn(`Whale Alert stream closed: ${reason}`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.leaseTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = undefined; // its close event must not schedule a reconnect
    this.state.connected = false;
    this.state.subscribed = false;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'shutdown');
      else socket.terminate(); // still connecting: there is no handshake to finish politely
      // A server that never answers the close frame must not hold up the shutdown.
      const timer = setTimeout(() => socket.terminate(), 1000);
      await closed;
      clearTimeout(timer);
    }
    if (this.pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.pending]),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS))),
      ]);
      clearTimeout(timer);
    }
    // Given back after the last alert was stored, so another instance takes over at its next tick.
    if (this.token !== null) {
      this.token = null;
      await this.lease.release(this.holderId);
    }
  }

  /** The configured URL without its query string, safe for logs. */
  private safeUrl(): string {
    const raw = this.config.whaleAlert?.wsUrl ?? '';
    try {
      const u = new URL(raw);
      return `${u.protocol}//${u.host}${u.pathname}`;
    } catch {
      return '[invalid url]';
    }
  }

  private redact(message: string): string {
    const key = this.config.whaleAlert?.apiKey;
    return key ? message.replaceAll(key, '[REDACTED]') : message;
  }

  private connect(): void {
    const wa = this.config.whaleAlert;
    if (!wa?.wsUrl || !wa.apiKey || this.stopped || this.token === null) return;
    // The vendor allows two connections per key: never leave an old one open behind a new one.
    if (this.socket && this.socket.readyState !== WebSocket.CLOSED) return;
    const url = new URL(wa.wsUrl);
    url.searchParams.set('api_key', wa.apiKey);
    const socket = new WebSocket(url, { handshakeTimeout: HANDSHAKE_MS });
    this.socket = socket;
    let alive = true;
    socket.on('open', () => {
      this.state.connected = true;
      this.subscribe(socket);
      // The keepalive of this one socket, started and cleared with it: not an app-level scheduled job.
      this.pingTimer = setInterval(() => {
        // No pong (nor any frame) since the last ping: the connection is dead without a close; drop it so
        // the close handler reconnects.
        if (!alive) {
          this.state.last_error = 'no answer to ping';
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, PING_MS);
      this.pingTimer.unref();
    });
    const markAlive = (): void => {
      alive = true;
    };
    socket.on('pong', markAlive);
    socket.on('ping', markAlive);
    socket.on('message', (data: WebSocket.RawData) => {
      markAlive();
      this.track(this.onMessage(frameText(data)));
    });
    // Failed handshakes (a refused key answers "Unexpected server response: 401") arrive here, then `close`
    // schedules the retry.
    socket.on('error', (err: Error) => {
      this.state.last_error = this.redact(err.message);
    });
    socket.on('close', (code: number) => {
      if (socket !== this.socket) return; // an old socket closing after shutdown or a replacement
      clearInterval(this.pingTimer);
      this.state.connected = false;
      this.state.subscribed = false;
      if (this.stopped || this.token === null) return;
      const wait = this.nextDelay;
      this.nextDelay = Math.min(this.nextDelay * 2, this.backoffMax);
      this.state.reconnects++;
      this.logger.warn(
        `Whale Alert stream ${this.safeUrl()} closed (code ${code}` +
          `${this.state.last_error ? `, ${this.state.last_error}` : ''}); reconnecting in ${wait} ms`,
      );
      this.retryTimer = setTimeout(() => this.connect(), wait);
      this.retryTimer.unref();
    });
  }

  private subscribe(socket: WebSocket): void {
    socket.send(JSON.stringify({ type: 'subscribe_alerts', id: WHALE_SUBSCRIPTION_ID, ...this.filters }));
  }

  /** Keeps in-flight work visible to the shutdown drain. */
  private track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private async onMessage(raw: string): Promise<void> {
    if (this.stopped) return;
    let msg: unknown;
    try {
      msg = JSON.parse(raw);
    } catch {
      this.logger.debug('Whale Alert stream sent a frame that is not JSON; ignored');
      return;
    }
    if (!isRecord(msg)) return;
    if (msg.type === 'subscribed_alerts') {
      this.state.subscribed = true;
      this.state.last_error = null;
      this.nextDelay = this.backoffMin; // a working subscription ends the run of failures
      return;
    }
    if (msg.error !== undefined) {
      const error = this.redact(text(msg.error) || JSON.stringify(msg.error)).slice(0, 300);
      this.state.last_error = error;
      this.logger.warn(`Whale Alert stream error: ${error}`);
      return;
    }
    const alert = parseAlert(msg, this.clock.now());
    const token = this.token;
    if (!alert || token === null) return;
    const outcome = await this.alerts.record(
      token,
      alertId(alert),
      JSON.stringify(alert),
      KEEP_ALERTS,
      SEEN_TTL_SECONDS,
    );
    if (outcome === 'stale') {
      // Another instance took the stream while this one was not looking (a long pause): it stores from now on.
      if (this.token === token) this.giveUp('another instance took the stream (stale fencing token)');
      return;
    }
    if (outcome === 'duplicate') {
      this.state.duplicates++;
      return;
    }
    this.state.alerts_received++;
    for (const listener of this.listeners) {
      try {
        listener(alert);
      } catch (err) {
        this.logger.warn(`Whale alert listener failed: ${(err as Error).message}`);
      }
    }
    await this.raiseEvent(alert);
  }

  private async raiseEvent(alert: WhaleStreamAlert): Promise<void> {
    const threshold = this.eventThreshold;
    if (alert.total_value_usd < threshold || alert.amounts.length === 0) return;
    const symbol = alert.amounts[0].symbol.toUpperCase();
    if (symbol === '') return;
    const said = alert.text.slice(0, PROMPT_TEXT_MAX).replace(/[.\s]+$/, '');
    try {
      await this.events.raise({
        symbol,
        eventType: 'WHALE_TRANSACTION',
        priority: alert.total_value_usd >= 4 * threshold ? 'HIGH' : 'MEDIUM',
        data: {
          value_usd: alert.total_value_usd,
          from: alert.from,
          to: alert.to,
          blockchain: alert.blockchain,
        },
        timestamp: this.clock.now(),
        question: `Whale transfer: ${said}. What does it mean for ${symbol}?`,
      });
      this.state.events_sent++;
    } catch (err) {
      this.logger.warn(`Whale alert event not handled: ${(err as Error).message}`);
    }
  }
}

import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import WebSocket from 'ws';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { Clock } from '../../common/clock.js';
import { RedisService } from '../../redis/redis.service.js';
import { EventGate } from '../../ai-optimization/events/event-gate.service.js';
import { isRecord, text, toNumber } from '../vendor-http.js';

export interface WhaleStreamAlert {
  channel_id: string;
  timestamp: string;
  blockchain: string;
  transaction_type: string;
  from: string;
  to: string;
  amounts: { symbol: string; amount: number; value_usd: number }[];
  text: string;
  hash: string | null;
  total_value_usd: number;
}

export interface WhaleFilters {
  blockchains: string[];
  symbols: string[];
  tx_types: string[];
  min_value_usd: number;
}

const KEEP_ALERTS = 200;
const PING_MS = 20_000;

/** Parses a Whale Alert `alert` message; null when it is not one. */
export function parseAlert(msg: unknown): WhaleStreamAlert | null {
  if (!isRecord(msg) || msg.type !== 'alert') return null;
  const amounts = (Array.isArray(msg.amounts) ? msg.amounts : []).filter(isRecord).map((a) => ({
    symbol: text(a.symbol).toLowerCase(),
    amount: toNumber(a.amount) ?? 0,
    value_usd: toNumber(a.value_usd) ?? 0,
  }));
  const tx = isRecord(msg.transaction) ? msg.transaction : {};
  return {
    channel_id: text(msg.channel_id),
    timestamp: new Date((toNumber(msg.timestamp) ?? 0) * 1000).toISOString(),
    blockchain: text(msg.blockchain),
    transaction_type: text(msg.transaction_type),
    from: text(msg.from),
    to: text(msg.to),
    amounts,
    text: text(msg.text),
    hash: typeof tx.hash === 'string' ? tx.hash : null,
    total_value_usd: amounts.reduce((s, a) => s + a.value_usd, 0),
  };
}

/**
 * The Whale Alert WebSocket alert stream: subscribes with filters, pings to stay alive, reconnects with
 * exponential backoff, keeps the recent alerts in Redis, and turns each alert above WHALE_ALERT_EVENT_MIN_USD
 * into a WHALE_TRANSACTION event for the event gate. The key is only in the connection URL, never logged.
 */
@Injectable()
export class WhaleAlertStream implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WhaleAlertStream.name);
  private socket: WebSocket | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private backoff = { min: 500, max: 30_000, current: 500 };
  private readonly state = {
    connected: false,
    subscribed: false,
    reconnects: 0,
    alerts_received: 0,
    events_sent: 0,
    last_error: null as string | null,
  };
  filters: WhaleFilters = {
    blockchains: ['bitcoin', 'ethereum'],
    symbols: ['btc', 'eth', 'usdt', 'usdc'],
    tx_types: ['transfer'],
    min_value_usd: 1_000_000,
  };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly gate: EventGate,
    private readonly clock: Clock,
  ) {}

  get enabled(): boolean {
    return Boolean(this.config.whaleAlert?.wsUrl && this.config.whaleAlert.apiKey);
  }

  status() {
    return { enabled: this.enabled, ...this.state };
  }

  /** Tests shorten the reconnect backoff. */
  setBackoff(minMs: number, maxMs: number): void {
    this.backoff = { min: minMs, max: maxMs, current: minMs };
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.connect(); // never blocks boot
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    this.socket?.terminate();
  }

  private connect(): void {
    const wa = this.config.whaleAlert;
    if (!wa?.wsUrl || !wa.apiKey || this.stopped) return;
    const url = new URL(wa.wsUrl);
    url.searchParams.set('api_key', wa.apiKey);
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.on('open', () => {
      this.state.connected = true;
      socket.send(JSON.stringify({ type: 'subscribe_alerts', id: 'bastion', ...this.filters }));
      this.pingTimer = setInterval(() => socket.ping(), PING_MS);
      this.pingTimer.unref();
    });
    socket.on(
      'message',
      (data: WebSocket.RawData) =>
        void this.onMessage(
          Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'),
        ),
    );
    socket.on('error', (err: Error) => {
      this.state.last_error = err.message.replaceAll(wa.apiKey ?? '', '[REDACTED]');
    });
    socket.on('close', () => {
      this.state.connected = false;
      this.state.subscribed = false;
      clearInterval(this.pingTimer);
      if (this.stopped) return;
      const wait = this.backoff.current;
      this.backoff.current = Math.min(this.backoff.current * 2, this.backoff.max);
      this.state.reconnects++;
      this.logger.warn(`Whale Alert stream ${wa.wsUrl} closed; reconnecting in ${wait} ms`);
      this.retryTimer = setTimeout(() => this.connect(), wait);
      this.retryTimer.unref();
    });
  }

  private async onMessage(text: string): Promise<void> {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!isRecord(msg)) return;
    if (msg.type === 'subscribed_alerts') {
      this.state.subscribed = true;
      this.backoff.current = this.backoff.min; // a healthy subscription resets the backoff
      return;
    }
    if (typeof msg.error === 'string') {
      this.state.last_error = msg.error;
      this.logger.warn(`Whale Alert stream error: ${msg.error}`);
      return;
    }
    const alert = parseAlert(msg);
    if (!alert) return;
    this.state.alerts_received++;
    try {
      await this.redis
        .pipeline()
        .lpush(this.redis.keys.whaleAlerts(), JSON.stringify(alert))
        .ltrim(this.redis.keys.whaleAlerts(), 0, KEEP_ALERTS - 1)
        .exec();
    } catch (err) {
      this.logger.warn(`Whale alert not stored: ${(err as Error).message}`);
    }
    const threshold = this.config.whaleAlertEventMinUsd;
    if (alert.total_value_usd < threshold || alert.amounts.length === 0) return;
    const symbol = alert.amounts[0].symbol.toUpperCase();
    try {
      await this.gate.handle(
        {
          agentType: 'whale_watcher',
          prompt: `Whale transfer: ${alert.text.slice(0, 300)}. What does it mean for ${symbol}?`,
          responseType: 'whale_alert',
          symbol,
          maxTokens: 256,
          temperature: 0,
          json: false,
          cache: true,
        },
        {
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
        },
      );
      this.state.events_sent++;
    } catch (err) {
      this.logger.warn(`Whale alert event not handled: ${(err as Error).message}`);
    }
  }
}

import type { Clock } from '../../common/clock.js';
import { parseSymbol } from '../symbols.js';
import {
  type CandleErrorReason,
  type CandleFetchOptions,
  type CandleSeries,
  type CandleSource,
  CandleSourceError,
  findGaps,
  findSuspectBars,
  isLastCandleForming,
  isTimeframe,
  type Timeframe,
  validateCandles,
} from './candle-source.js';

/** The part of a ccxt exchange this source uses; a test can inject a stub with this shape. */
export interface OhlcvExchange {
  readonly id: string;
  /** ccxt: which capabilities the exchange has (`fetchOHLCV: true | 'emulated' | false`). */
  readonly has?: Record<string, unknown>;
  /** ccxt: unified timeframe → the exchange's interval name. */
  readonly timeframes?: Record<string, unknown>;
  loadMarkets(): Promise<unknown>;
  fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<unknown>;
}

/** Settings passed to the ccxt exchange constructor. */
export interface CcxtExchangeConfig {
  enableRateLimit: true;
  timeout: number;
  urls?: Record<string, unknown>;
  options?: Record<string, unknown>;
}

export interface CcxtCandleSourceOptions {
  /** ccxt exchange id: `config.exchangeId` (EXCHANGE_ID), e.g. `binance`. */
  exchangeId: string;
  /** Deadline of each HTTP call (ccxt `timeout`). Default 10 s. */
  timeoutMs?: number;
  /** Deep-merged into the exchange's `urls`; tests point binance's `api.public` at a fake. */
  urls?: Record<string, unknown>;
  /** Deep-merged into the exchange's `options`. */
  exchangeOptions?: Record<string, unknown>;
  /** Builds the exchange instead of ccxt; for tests only. */
  createExchange?: (exchangeId: string, config: CcxtExchangeConfig) => OhlcvExchange | Promise<OhlcvExchange>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MESSAGE_MAX = 300;

/**
 * Defaults per exchange. Binance's market list otherwise comes from three documents (spot, USDⓈ-M and
 * COIN-M futures, several MB together) although candles here are always spot: load only spot.
 */
const EXCHANGE_DEFAULT_OPTIONS: Record<string, Record<string, unknown>> = {
  binance: { fetchMarkets: { types: ['spot'] } },
};

/**
 * Live candles from the configured exchange through ccxt, public endpoints only (no keys).
 * ccxt is imported on the first fetch: it is a large module, and boot and most tests never need it.
 */
export class CcxtCandleSource implements CandleSource {
  readonly name: string;
  private readonly exchangeId: string;
  private readonly timeoutMs: number;
  private exchange: Promise<OhlcvExchange> | undefined;

  constructor(
    private readonly options: CcxtCandleSourceOptions,
    private readonly clock: Clock,
  ) {
    this.exchangeId = options.exchangeId.trim().toLowerCase();
    this.name = `ccxt:${this.exchangeId}`;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * ccxt semantics: with `since`, the first `limit` candles from `since`; without it, the latest `limit`.
   * Exchanges cap `limit` (Binance spot: 1000, default 500).
   */
  async fetch(symbol: string, timeframe: Timeframe, opts: CandleFetchOptions = {}): Promise<CandleSeries> {
    const { unified } = parseSymbol(symbol);
    if (!isTimeframe(timeframe)) {
      throw new CandleSourceError(
        this.name,
        'unsupported_timeframe',
        `timeframe ${String(timeframe)} is not supported`,
      );
    }
    const exchange = await this.ready();
    if (exchange.timeframes !== undefined && !(timeframe in exchange.timeframes)) {
      throw new CandleSourceError(
        this.name,
        'unsupported_timeframe',
        `${this.exchangeId} has no ${timeframe} candles (it has ${Object.keys(exchange.timeframes).join(', ')})`,
      );
    }
    let raw: unknown;
    try {
      raw = await exchange.fetchOHLCV(unified, timeframe, opts.since, opts.limit);
    } catch (err) {
      throw this.toCandleError(err, `fetchOHLCV ${unified} ${timeframe}`);
    }
    if (!Array.isArray(raw)) {
      throw new CandleSourceError(
        this.name,
        'malformed',
        `${this.exchangeId} returned candles that are not a list`,
      );
    }
    // ccxt passes on what the exchange sent (null volumes, inverted highs): drop and report it.
    const { candles, dropped } = validateCandles(raw);
    return {
      symbol: unified,
      timeframe,
      candles,
      lastCandleForming: isLastCandleForming(candles, timeframe, this.clock.now()),
      gaps: findGaps(candles, timeframe),
      dropped,
      suspectBars: findSuspectBars(candles),
      source: this.name,
    };
  }

  /** The exchange with its markets loaded; a failed load is forgotten so the next fetch tries again. */
  private async ready(): Promise<OhlcvExchange> {
    this.exchange ??= this.connect();
    try {
      return await this.exchange;
    } catch (err) {
      this.exchange = undefined;
      throw err;
    }
  }

  private async connect(): Promise<OhlcvExchange> {
    const config: CcxtExchangeConfig = { enableRateLimit: true, timeout: this.timeoutMs };
    const options = { ...EXCHANGE_DEFAULT_OPTIONS[this.exchangeId], ...this.options.exchangeOptions };
    if (Object.keys(options).length > 0) config.options = options;
    if (this.options.urls !== undefined) config.urls = this.options.urls;

    const exchange = this.options.createExchange
      ? await this.options.createExchange(this.exchangeId, config)
      : await this.createCcxtExchange(config);
    const canFetch = exchange.has?.fetchOHLCV;
    if (canFetch !== undefined && canFetch !== true && canFetch !== 'emulated') {
      throw new CandleSourceError(this.name, 'misconfigured', `${this.exchangeId} offers no OHLCV candles`);
    }
    try {
      await exchange.loadMarkets();
    } catch (err) {
      throw this.toCandleError(err, 'loadMarkets');
    }
    return exchange;
  }

  private async createCcxtExchange(config: CcxtExchangeConfig): Promise<OhlcvExchange> {
    const ccxt = (await import('ccxt')).default;
    // Checked here, not at boot, so a server without candle traffic never loads ccxt; the message says which
    // variable to fix.
    const Exchange: unknown = ccxt.exchanges.includes(this.exchangeId)
      ? (ccxt as unknown as Record<string, unknown>)[this.exchangeId]
      : undefined;
    if (typeof Exchange !== 'function') {
      throw new CandleSourceError(
        this.name,
        'misconfigured',
        `EXCHANGE_ID "${this.exchangeId}" is not an exchange ccxt ${ccxt.version} knows (e.g. binance, bybit, okx, kraken, coinbase)`,
      );
    }
    const exchange: unknown = new (Exchange as new (config: CcxtExchangeConfig) => unknown)(config);
    if (!isOhlcvExchange(exchange)) {
      throw new CandleSourceError(this.name, 'misconfigured', `ccxt ${this.exchangeId} has no fetchOHLCV`);
    }
    return exchange;
  }

  /** ccxt's error class (found by name along the prototype chain, so stubs need not load ccxt) → our reason. */
  private toCandleError(err: unknown, what: string): CandleSourceError {
    if (err instanceof CandleSourceError) return err;
    const names = errorClassNames(err);
    let reason: CandleErrorReason = 'unavailable';
    if (names.includes('RequestTimeout')) reason = 'timeout';
    else if (names.includes('BadSymbol')) reason = 'unknown_symbol';
    else if (names.includes('NotSupported')) reason = 'misconfigured';
    else if (names.includes('BadResponse')) reason = 'malformed';
    const detail = err instanceof Error ? err.message : String(err);
    const message = `${this.exchangeId} ${what} failed (${names[0] ?? 'error'}): ${detail}`;
    return new CandleSourceError(
      this.name,
      reason,
      message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX)}…` : message,
    );
  }
}

function isOhlcvExchange(value: unknown): value is OhlcvExchange {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.fetchOHLCV === 'function' && typeof candidate.loadMarkets === 'function';
}

/** Class names from the error's own class up to Error: `['RequestTimeout', 'NetworkError', …, 'Error']`. */
function errorClassNames(err: unknown): string[] {
  const names: string[] = [];
  let proto: unknown = typeof err === 'object' && err !== null ? Object.getPrototypeOf(err) : null;
  while (typeof proto === 'object' && proto !== null && proto !== Object.prototype) {
    const ctor: unknown = (proto as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && ctor.name !== '') names.push(ctor.name);
    proto = Object.getPrototypeOf(proto);
  }
  return names;
}

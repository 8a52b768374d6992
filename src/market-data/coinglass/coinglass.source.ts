import { Inject, Injectable, Optional } from '@nestjs/common';
import { DomainError } from '../../common/errors.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { MarketCache } from '../market-cache.js';
import type { MarketSource } from '../market-source.js';
import type { MarketSymbol } from '../symbols.js';
import { abandonable, abandonedError, isRecord, text, toNumber, VendorError } from '../vendor-http.js';

/**
 * Coinglass v4 (external-apis.md §4). Every value that reaches a vendor URL comes from these fixed lists or
 * from a validated MarketSymbol, so caller input can never add a parameter or a path segment.
 *
 * Intervals are the documented enum of the history endpoints; `2h` appears only in the quickstart, so it is
 * left out rather than risk a 400-worthy request turning into a vendor error.
 */
export const COINGLASS_INTERVALS = [
  '1m',
  '3m',
  '5m',
  '15m',
  '30m',
  '1h',
  '4h',
  '6h',
  '8h',
  '12h',
  '1d',
  '1w',
] as const;
/** Windows of the liquidation exchange list. */
export const COINGLASS_RANGES = ['1h', '4h', '12h', '24h'] as const;
/** Exchange names exactly as Coinglass spells them (the vendor is case-sensitive). */
export const COINGLASS_EXCHANGES = [
  'Binance',
  'OKX',
  'Bybit',
  'Bitget',
  'Gate',
  'HTX',
  'Hyperliquid',
  'Deribit',
  'BingX',
  'Bitmex',
  'Bitfinex',
  'CoinEx',
  'Kraken',
  'MEXC',
  'dYdX',
  'Coinbase',
] as const;
export type CoinglassInterval = (typeof COINGLASS_INTERVALS)[number];
export type CoinglassRange = (typeof COINGLASS_RANGES)[number];
export type CoinglassExchange = (typeof COINGLASS_EXCHANGES)[number];

/** Documented maximum of `limit` on the history endpoints. */
export const COINGLASS_MAX_LIMIT = 1000;

/**
 * One enum parameter checked against its list. Matching ignores case (no two entries differ only by case)
 * and returns the vendor's own spelling, so `binance` works and `Binance` is what is sent.
 */
export function parseCoinglassParam<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  const found =
    typeof value === 'string' ? allowed.find((a) => a.toLowerCase() === value.toLowerCase()) : undefined;
  if (found === undefined) {
    throw new DomainError('invalid_parameter', `${name} must be one of ${allowed.join(', ')}`, 400);
  }
  return found;
}

export function parseCoinglassLimit(value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > COINGLASS_MAX_LIMIT) {
    throw new DomainError(
      'invalid_parameter',
      `limit must be an integer between 1 and ${COINGLASS_MAX_LIMIT}`,
      400,
    );
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Normalised shapes: numbers as numbers, absent or non-numeric values as null; rows without a time dropped.

export interface LiquidationPoint {
  time: number;
  long_liquidation_usd: number | null;
  short_liquidation_usd: number | null;
}

export interface LiquidationByExchange {
  exchange: string;
  liquidation_usd: number | null;
  long_liquidation_usd: number | null;
  short_liquidation_usd: number | null;
}

export interface OhlcPoint {
  time: number;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
}

export interface OpenInterestByExchange {
  exchange: string;
  open_interest_usd: number | null;
  open_interest_quantity: number | null;
  open_interest_by_stable_coin_margin: number | null;
  open_interest_by_coin_margin: number | null;
  open_interest_change_percent_1h: number | null;
  open_interest_change_percent_4h: number | null;
  open_interest_change_percent_24h: number | null;
}

/** Current funding of one exchange, in percent per funding interval (Coinglass units, not Binance's). */
export interface FundingByExchange {
  exchange: string;
  margin: 'stablecoin' | 'token';
  funding_rate_percent: number | null;
  funding_rate_interval_hours: number | null;
  next_funding_time: number | null;
}

export interface LongShortPoint {
  time: number;
  long_percent: number | null;
  short_percent: number | null;
  long_short_ratio: number | null;
}

/** A type alias, not an interface, so it is assignable to MarketSource's Record<string, unknown>. */
export type CoinglassContext = {
  liquidations_24h: { total_usd: number | null; long_usd: number | null; short_usd: number | null } | null;
  open_interest_usd: number | null;
  open_interest_change_24h_percent: number | null;
  funding_rate_percent: number | null;
  /** How funding_rate_percent was obtained, so a reader knows whether it is market-wide. */
  funding_rate_basis: 'oi_weighted' | 'binance' | null;
  long_short_ratio: number | null;
  long_percent: number | null;
  short_percent: number | null;
  /** Parts that failed while others answered, by part name. */
  partial_errors: Record<string, { reason: string; message: string }>;
};

export interface RateLimitState {
  /** `API-KEY-MAX-LIMIT`: requests allowed per minute on this key's plan. */
  max: number | null;
  /** `API-KEY-USE-LIMIT`: requests used in the current window. */
  used: number | null;
}

export interface HistoryOptions {
  interval?: CoinglassInterval;
  limit?: number;
  signal?: AbortSignal;
}
export interface PairHistoryOptions extends HistoryOptions {
  exchange?: CoinglassExchange;
}
export interface AggregatedHistoryOptions extends HistoryOptions {
  exchanges?: readonly CoinglassExchange[];
}

export interface CoinglassSourceOptions {
  /** Deadline of one vendor call; tests shorten it, production keeps 4000 ms. */
  deadlineMs?: number;
}
export const COINGLASS_SOURCE_OPTIONS = Symbol('COINGLASS_SOURCE_OPTIONS');

const SOURCE = 'coinglass';
const HISTORY_TTL_SECONDS = 60;
const LIST_TTL_SECONDS = 30;
/** Enough rows to find the newest point without pulling the default 1000. */
const CONTEXT_HISTORY_LIMIT = 10;

/** First value that converts to a number among the spellings (the vendor uses several for one field). */
function num(row: Record<string, unknown>, ...keys: string[]): number | null {
  for (const key of keys) {
    const n = toNumber(row[key]);
    if (n !== null) return n;
  }
  return null;
}

const records = (data: unknown[]): Record<string, unknown>[] => data.filter(isRecord);

/** The rows that carry a `time`, each read by `fields`; rows without one are dropped. */
function timed<T>(data: unknown[], fields: (row: Record<string, unknown>) => T): ({ time: number } & T)[] {
  return records(data).flatMap((r) => {
    const time = num(r, 'time');
    return time === null ? [] : [{ time, ...fields(r) }];
  });
}

const ohlc = (data: unknown[]): OhlcPoint[] =>
  timed(data, (r) => ({
    open: num(r, 'open'),
    high: num(r, 'high'),
    low: num(r, 'low'),
    close: num(r, 'close'),
  }));

/** `exchange`, `symbol` (the pair) and `interval` of the per-pair history endpoints, validated. */
function pairParams(
  symbol: MarketSymbol,
  options: PairHistoryOptions,
  interval: CoinglassInterval,
): URLSearchParams {
  return new URLSearchParams({
    exchange: parseCoinglassParam('exchange', options.exchange ?? 'Binance', COINGLASS_EXCHANGES),
    symbol: symbol.pair,
    interval: parseCoinglassParam('interval', options.interval ?? interval, COINGLASS_INTERVALS),
  });
}

/** Newest row by time: the vendor's ordering is not documented. */
function newest<T extends { time: number }>(rows: T[]): T | undefined {
  return rows.reduce<T | undefined>(
    (best, r) => (best === undefined || r.time > best.time ? r : best),
    undefined,
  );
}

/**
 * Coinglass v4 client. Success is HTTP 200 AND `code == "0"`: plan errors arrive as HTTP 200 with another
 * code, so the envelope is always checked. The key travels only in the `CG-API-KEY` header, never in a URL,
 * a cache key or an error message. Answers are cached in Redis (60 s history, 30 s lists) and identical
 * concurrent calls share one vendor request.
 */
@Injectable()
export class CoinglassSource implements MarketSource {
  readonly name = SOURCE;
  readonly enabled: boolean;
  readonly deadlineMs: number;
  private readonly endpoint: { apiKey: string; baseUrl: string } | undefined;
  private rateLimit: RateLimitState = { max: null, used: null };

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly cache: MarketCache,
    @Optional() @Inject(COINGLASS_SOURCE_OPTIONS) options: CoinglassSourceOptions = {},
  ) {
    const cg = config.coinglass;
    this.endpoint = cg?.apiKey ? { apiKey: cg.apiKey, baseUrl: cg.baseUrl } : undefined;
    this.enabled = this.endpoint !== undefined;
    this.deadlineMs = options.deadlineMs ?? 4000;
  }

  /** The rate-limit headers of the last vendor answer that carried them. */
  lastRateLimit(): RateLimitState {
    return { ...this.rateLimit };
  }

  /** `GET /api/futures/liquidation/history` — one pair on one exchange. */
  async liquidationHistory(
    symbol: MarketSymbol,
    options: PairHistoryOptions = {},
  ): Promise<LiquidationPoint[]> {
    const params = pairParams(symbol, options, '4h');
    const data = await this.history('/api/futures/liquidation/history', params, options);
    return timed(data, (r) => ({
      long_liquidation_usd: num(r, 'long_liquidation_usd', 'longLiquidation_usd'),
      short_liquidation_usd: num(r, 'short_liquidation_usd', 'shortLiquidation_usd'),
    }));
  }

  /** `GET /api/futures/liquidation/aggregated-history` — one coin summed over the given exchanges. */
  async liquidationAggregated(
    symbol: MarketSymbol,
    options: AggregatedHistoryOptions = {},
  ): Promise<LiquidationPoint[]> {
    const requested = options.exchanges ?? ['Binance', 'OKX', 'Bybit'];
    if (requested.length === 0) {
      throw new DomainError('invalid_parameter', 'exchanges must name at least one exchange', 400);
    }
    const exchanges = [
      ...new Set(requested.map((e) => parseCoinglassParam('exchange', e, COINGLASS_EXCHANGES))),
    ];
    const params = new URLSearchParams({
      exchange_list: exchanges.join(','),
      symbol: symbol.base,
      interval: parseCoinglassParam('interval', options.interval ?? '4h', COINGLASS_INTERVALS),
    });
    const data = await this.history('/api/futures/liquidation/aggregated-history', params, options);
    return timed(data, (r) => ({
      long_liquidation_usd: num(
        r,
        'aggregated_long_liquidation_usd',
        'aggregatedLongLiquidation_usd',
        'long_liquidation_usd',
        'longLiquidation_usd',
      ),
      short_liquidation_usd: num(
        r,
        'aggregated_short_liquidation_usd',
        'aggregatedShortLiquidation_usd',
        'short_liquidation_usd',
        'shortLiquidation_usd',
      ),
    }));
  }

  /** `GET /api/futures/liquidation/exchange-list` — totals per exchange (and an `All` row) over a range. */
  async liquidationExchanges(
    symbol: MarketSymbol,
    range: CoinglassRange = '24h',
    signal?: AbortSignal,
  ): Promise<LiquidationByExchange[]> {
    const params = new URLSearchParams({
      symbol: symbol.base,
      range: parseCoinglassParam('range', range, COINGLASS_RANGES),
    });
    const data = await this.get('/api/futures/liquidation/exchange-list', params, LIST_TTL_SECONDS, signal);
    return records(data).map((r) => ({
      exchange: text(r.exchange),
      liquidation_usd: num(r, 'liquidation_usd', 'liquidationUsd'),
      // The real payload says longLiquidation_usd; the docs say long_liquidation_usd.
      long_liquidation_usd: num(r, 'longLiquidation_usd', 'long_liquidation_usd'),
      short_liquidation_usd: num(r, 'shortLiquidation_usd', 'short_liquidation_usd'),
    }));
  }

  /** `GET /api/futures/open-interest/aggregated-history` — OHLC of the coin's total open interest (USD). */
  async openInterestAggregated(symbol: MarketSymbol, options: HistoryOptions = {}): Promise<OhlcPoint[]> {
    const params = new URLSearchParams({
      symbol: symbol.base,
      interval: parseCoinglassParam('interval', options.interval ?? '4h', COINGLASS_INTERVALS),
    });
    const data = await this.history('/api/futures/open-interest/aggregated-history', params, options);
    return ohlc(data);
  }

  /** `GET /api/futures/open-interest/exchange-list` — current open interest per exchange and an `All` row. */
  async openInterestExchanges(symbol: MarketSymbol, signal?: AbortSignal): Promise<OpenInterestByExchange[]> {
    const params = new URLSearchParams({ symbol: symbol.base });
    const data = await this.get('/api/futures/open-interest/exchange-list', params, LIST_TTL_SECONDS, signal);
    return records(data).map((r) => ({
      exchange: text(r.exchange),
      open_interest_usd: num(r, 'open_interest_usd'),
      open_interest_quantity: num(r, 'open_interest_quantity'),
      open_interest_by_stable_coin_margin: num(r, 'open_interest_by_stable_coin_margin'),
      open_interest_by_coin_margin: num(r, 'open_interest_by_coin_margin'),
      open_interest_change_percent_1h: num(r, 'open_interest_change_percent_1h'),
      open_interest_change_percent_4h: num(r, 'open_interest_change_percent_4h'),
      open_interest_change_percent_24h: num(r, 'open_interest_change_percent_24h'),
    }));
  }

  /**
   * `GET /api/futures/funding-rate/exchange-list` — current rates of every coin in one answer (the endpoint
   * takes no parameters), so one cache entry serves every symbol; the coin's entry is picked here.
   */
  async fundingExchanges(symbol: MarketSymbol, signal?: AbortSignal): Promise<FundingByExchange[]> {
    const data = await this.get(
      '/api/futures/funding-rate/exchange-list',
      new URLSearchParams(),
      LIST_TTL_SECONDS,
      signal,
    );
    const entry = records(data).find((r) => text(r.symbol).toUpperCase() === symbol.base);
    if (!entry) return [];
    const list = (value: unknown, margin: FundingByExchange['margin']): FundingByExchange[] =>
      (Array.isArray(value) ? records(value) : []).map((r) => ({
        exchange: text(r.exchange),
        margin,
        funding_rate_percent: num(r, 'funding_rate'),
        funding_rate_interval_hours: num(r, 'funding_rate_interval'),
        next_funding_time: num(r, 'next_funding_time'),
      }));
    return [...list(entry.stablecoin_margin_list, 'stablecoin'), ...list(entry.token_margin_list, 'token')];
  }

  /** `GET /api/futures/funding-rate/history` — OHLC of one pair's funding rate, percent (strings upstream). */
  async fundingHistory(symbol: MarketSymbol, options: PairHistoryOptions = {}): Promise<OhlcPoint[]> {
    const params = pairParams(symbol, options, '8h');
    const data = await this.history('/api/futures/funding-rate/history', params, options);
    return ohlc(data);
  }

  /** `GET /api/futures/global-long-short-account-ratio/history` — share of accounts long and short. */
  async longShortRatio(symbol: MarketSymbol, options: PairHistoryOptions = {}): Promise<LongShortPoint[]> {
    const params = pairParams(symbol, options, '4h');
    const data = await this.history('/api/futures/global-long-short-account-ratio/history', params, options);
    return timed(data, (r) => ({
      long_percent: num(r, 'global_account_long_percent'),
      short_percent: num(r, 'global_account_short_percent'),
      long_short_ratio: num(r, 'global_account_long_short_ratio'),
    }));
  }

  /**
   * Derivatives snapshot for the agents. The four parts run in parallel and each may fail alone (a plan
   * may not cover every endpoint); only when all of them fail is the source reported as failed.
   */
  async context(symbol: MarketSymbol, signal: AbortSignal): Promise<CoinglassContext> {
    const [liq, oi, funding, ls] = await Promise.allSettled([
      this.liquidationExchanges(symbol, '24h', signal),
      this.openInterestExchanges(symbol, signal),
      this.fundingExchanges(symbol, signal),
      this.longShortRatio(symbol, {
        exchange: 'Binance',
        interval: '4h',
        limit: CONTEXT_HISTORY_LIMIT,
        signal,
      }),
    ]);
    const parts = { liquidations: liq, open_interest: oi, funding, long_short: ls };
    const failed = Object.entries(parts).filter(
      (e): e is [string, PromiseRejectedResult] => e[1].status === 'rejected',
    );
    if (failed.length === Object.keys(parts).length) {
      const first: unknown = failed[0][1].reason;
      throw first instanceof VendorError
        ? first
        : new VendorError(SOURCE, 'network', `coinglass context failed: ${String(first)}`);
    }

    const liqRows = liq.status === 'fulfilled' ? liq.value : [];
    const oiRows = oi.status === 'fulfilled' ? oi.value : [];
    const oiAll = oiRows.find((r) => r.exchange.toLowerCase() === 'all');
    const { rate, basis } = fundingRate(funding.status === 'fulfilled' ? funding.value : [], oiRows);
    const latest = ls.status === 'fulfilled' ? newest(ls.value) : undefined;
    return {
      liquidations_24h: liquidationTotals(liqRows),
      open_interest_usd: oiAll?.open_interest_usd ?? null,
      open_interest_change_24h_percent: oiAll?.open_interest_change_percent_24h ?? null,
      funding_rate_percent: rate,
      funding_rate_basis: basis,
      long_short_ratio: latest?.long_short_ratio ?? null,
      long_percent: latest?.long_percent ?? null,
      short_percent: latest?.short_percent ?? null,
      partial_errors: Object.fromEntries(
        failed.map(([part, result]) => {
          const err: unknown = result.reason;
          return [
            part,
            err instanceof VendorError
              ? { reason: err.reason, message: err.message }
              : { reason: 'error', message: err instanceof Error ? err.message : String(err) },
          ];
        }),
      ),
    };
  }

  /** One cheap, cached call: readiness probes must not spend a small plan's per-minute quota. */
  async healthy(): Promise<boolean> {
    if (!this.enabled) return false;
    try {
      await this.get('/api/futures/supported-coins', new URLSearchParams(), LIST_TTL_SECONDS);
      return true;
    } catch {
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------------------

  /** A history endpoint: `limit` added when asked for, cached HISTORY_TTL_SECONDS. */
  private history(path: string, params: URLSearchParams, options: HistoryOptions): Promise<unknown[]> {
    if (options.limit !== undefined) params.set('limit', String(parseCoinglassLimit(options.limit)));
    return this.get(path, params, HISTORY_TTL_SECONDS, options.signal);
  }

  /** The envelope's `data` (always an array on the endpoints used here), from the cache or the vendor. */
  private async get(
    path: string,
    params: URLSearchParams,
    ttlSeconds: number,
    signal?: AbortSignal,
  ): Promise<unknown[]> {
    const endpoint = this.endpoint;
    if (!endpoint) {
      throw new VendorError(SOURCE, 'disabled', 'coinglass is not configured (set COINGLASS_API_KEY)');
    }
    const where = `coinglass ${path}`;
    if (signal?.aborted) throw abandonedError(signal, SOURCE, where);
    params.sort(); // one cache entry per request, whatever order the parameters were added in
    const query = params.toString();
    // `new URL('/x', base)` would drop a path prefix of the configured base (e.g. a proxy at /coinglass/).
    const url = new URL(path.replace(/^\/+/, ''), endpoint.baseUrl.replace(/\/+$/, '') + '/');
    url.search = query;
    // The vendor call is shared by every caller coalesced on this key, so it runs under the source's own
    // deadline only; one caller giving up must not fail the others.
    const fetched = this.cache.getOrFetch(`coinglass:${path}?${query}`, ttlSeconds, () =>
      this.request(url, path, endpoint.apiKey),
    );
    const { value } = await abandonable(fetched, signal, SOURCE, where);
    return value;
  }

  /**
   * One vendor request. fetchVendorJson hides the response headers (the rate-limit counters live there) and
   * turns every non-2xx into http_error, while Coinglass puts a readable envelope on its 4xx answers; so
   * this keeps fetchVendorJson's deadline and error vocabulary but reads the answer itself.
   */
  private async request(url: URL, path: string, apiKey: string): Promise<unknown[]> {
    const where = `coinglass ${path}`;
    const deadline = AbortSignal.timeout(this.deadlineMs);
    const timedOut = (): VendorError =>
      new VendorError(SOURCE, 'timeout', `${where} timed out after ${this.deadlineMs} ms`);
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, {
        headers: { accept: 'application/json', 'CG-API-KEY': apiKey },
        signal: deadline,
        // fetch forwards custom headers across a redirect to another host; the key must not follow one.
        redirect: 'error',
      });
    } catch (err) {
      if (deadline.aborted) throw timedOut();
      throw new VendorError(
        SOURCE,
        'network',
        `${where} unreachable: ${redact((err as Error).message, apiKey)}`,
      );
    }
    this.recordRateLimit(res.headers);
    try {
      body = await res.text();
    } catch (err) {
      if (deadline.aborted) throw timedOut();
      throw new VendorError(
        SOURCE,
        'network',
        `${where} body not received: ${redact((err as Error).message, apiKey)}`,
      );
    }
    // Throttling and outages are transport failures whatever the body says.
    if (res.status === 429 || res.status >= 500) {
      throw new VendorError(SOURCE, 'http_error', `${where} answered HTTP ${res.status}`, res.status);
    }
    let json: unknown;
    try {
      json = JSON.parse(body) as unknown;
    } catch {
      if (!res.ok)
        throw new VendorError(SOURCE, 'http_error', `${where} answered HTTP ${res.status}`, res.status);
      throw new VendorError(SOURCE, 'malformed', `${where} answered with a body that is not JSON`);
    }
    if (!isRecord(json) || !('code' in json)) {
      if (!res.ok)
        throw new VendorError(SOURCE, 'http_error', `${where} answered HTTP ${res.status}`, res.status);
      throw new VendorError(SOURCE, 'malformed', `${where} answered JSON without the code/data envelope`);
    }
    const code = text(json.code);
    if (code !== '0') {
      // The plan and key errors come as HTTP 200 or 4xx with the same envelope: both are the vendor's "no".
      const msg = redact(text(json.msg) || 'no message', apiKey).slice(0, 200);
      throw new VendorError(SOURCE, 'business_error', `${where}: ${msg} (code ${code || '?'})`, res.status);
    }
    if (!res.ok)
      throw new VendorError(SOURCE, 'http_error', `${where} answered HTTP ${res.status}`, res.status);
    if (!Array.isArray(json.data)) {
      throw new VendorError(SOURCE, 'malformed', `${where} answered code 0 without a data list`);
    }
    return json.data as unknown[];
  }

  private recordRateLimit(headers: Headers): void {
    const max = toNumber(headers.get('API-KEY-MAX-LIMIT'));
    const used = toNumber(headers.get('API-KEY-USE-LIMIT'));
    if (max !== null || used !== null) this.rateLimit = { max, used };
  }
}

/** A vendor message could echo what it was sent; the key must never leave this file. */
function redact(message: string, apiKey: string): string {
  return apiKey.length > 0 ? message.replaceAll(apiKey, '[redacted]') : message;
}

/** The `All` row when present, else the sum over exchanges (null when nothing came back). */
function liquidationTotals(rows: LiquidationByExchange[]): CoinglassContext['liquidations_24h'] {
  const all = rows.find((r) => r.exchange.toLowerCase() === 'all');
  if (all) {
    return {
      total_usd: all.liquidation_usd,
      long_usd: all.long_liquidation_usd,
      short_usd: all.short_liquidation_usd,
    };
  }
  if (rows.length === 0) return null;
  const sum = (pick: (r: LiquidationByExchange) => number | null): number | null => {
    const values = rows.map(pick).filter((v): v is number => v !== null);
    return values.length > 0 ? values.reduce((a, b) => a + b, 0) : null;
  };
  return {
    total_usd: sum((r) => r.liquidation_usd),
    long_usd: sum((r) => r.long_liquidation_usd),
    short_usd: sum((r) => r.short_liquidation_usd),
  };
}

/**
 * Market-wide funding: the stablecoin-margined rates weighted by each exchange's stablecoin-margined open
 * interest (a small venue at an extreme rate says little about the market). Without usable weights,
 * Binance's rate stands in as the reference venue.
 */
function fundingRate(
  rates: FundingByExchange[],
  oi: OpenInterestByExchange[],
): { rate: number | null; basis: CoinglassContext['funding_rate_basis'] } {
  const stable = rates.filter((r) => r.margin === 'stablecoin' && r.funding_rate_percent !== null);
  const weightOf = new Map(
    oi
      .filter((r) => r.exchange.toLowerCase() !== 'all')
      .map((r) => [r.exchange.toLowerCase(), r.open_interest_by_stable_coin_margin ?? r.open_interest_usd]),
  );
  let weighted = 0;
  let total = 0;
  for (const r of stable) {
    const w = weightOf.get(r.exchange.toLowerCase());
    if (w === undefined || w === null || w <= 0) continue;
    weighted += (r.funding_rate_percent as number) * w;
    total += w;
  }
  if (total > 0) return { rate: weighted / total, basis: 'oi_weighted' };
  const binance = stable.find((r) => r.exchange.toLowerCase() === 'binance');
  return binance ? { rate: binance.funding_rate_percent, basis: 'binance' } : { rate: null, basis: null };
}

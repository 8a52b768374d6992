import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { MarketCache } from '../market-cache.js';
import type { MarketSource } from '../market-source.js';
import type { MarketSymbol } from '../symbols.js';
import { fetchVendorJson, isRecord, text, toNumber, VendorError } from '../vendor-http.js';

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
export const COINGLASS_RANGES = ['1h', '4h', '12h', '24h'] as const;
export const COINGLASS_EXCHANGES = [
  'Binance',
  'OKX',
  'Bybit',
  'Bitget',
  'Deribit',
  'Hyperliquid',
  'Gate',
  'HTX',
] as const;
export type CoinglassInterval = (typeof COINGLASS_INTERVALS)[number];
export type CoinglassRange = (typeof COINGLASS_RANGES)[number];
export type CoinglassExchange = (typeof COINGLASS_EXCHANGES)[number];

export interface LiquidationPoint {
  time: number;
  long_liquidation_usd: number | null;
  short_liquidation_usd: number | null;
}

const SOURCE = 'coinglass';

/** First numeric value among the given keys: Coinglass spells some keys two ways and sends numbers as strings. */
const pick = (row: Record<string, unknown>, ...keys: string[]): number | null => {
  for (const k of keys) {
    const n = toNumber(row[k]);
    if (n !== null) return n;
  }
  return null;
};

/**
 * Coinglass v4. Success is HTTP 200 AND `code == "0"` (plan errors arrive as HTTP 200 with another code).
 * The key travels only in the CG-API-KEY header; every enum parameter is checked against a fixed list before
 * a URL is built.
 */
@Injectable()
export class CoinglassSource implements MarketSource {
  readonly name = SOURCE;
  readonly enabled: boolean;
  readonly deadlineMs = 4000;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly cache: MarketCache,
  ) {
    this.enabled = config.coinglass !== undefined;
  }

  private async get(
    path: string,
    params: Record<string, string>,
    ttlSeconds: number,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const cg = this.config.coinglass;
    if (!cg) throw new VendorError(SOURCE, 'disabled', 'coinglass is not configured (set COINGLASS_API_KEY)');
    const url = new URL(path, `${cg.baseUrl}/`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const key = `coinglass:${path}:${url.searchParams.toString()}`;
    const { value } = await this.cache.getOrFetch(key, ttlSeconds, async () => {
      const body = await fetchVendorJson({
        source: SOURCE,
        url,
        headers: { 'CG-API-KEY': cg.apiKey as string },
        deadlineMs: this.deadlineMs,
        signal,
      });
      if (!isRecord(body)) throw new VendorError(SOURCE, 'malformed', `coinglass ${path}: not an envelope`);
      if (text(body.code) !== '0') {
        throw new VendorError(
          SOURCE,
          'business_error',
          `coinglass ${path}: ${text(body.msg) || 'error'} (code ${text(body.code)})`,
        );
      }
      return body.data ?? null;
    });
    return value;
  }

  async liquidationHistory(
    symbol: MarketSymbol,
    exchange: CoinglassExchange = 'Binance',
    interval: CoinglassInterval = '4h',
    signal?: AbortSignal,
  ): Promise<LiquidationPoint[]> {
    const data = await this.get(
      '/api/futures/liquidation/history',
      { exchange, symbol: symbol.pair, interval },
      60,
      signal,
    );
    return (Array.isArray(data) ? data : []).filter(isRecord).map((r) => ({
      time: pick(r, 'time') ?? 0,
      long_liquidation_usd: pick(r, 'long_liquidation_usd', 'longLiquidation_usd'),
      short_liquidation_usd: pick(r, 'short_liquidation_usd', 'shortLiquidation_usd'),
    }));
  }

  async liquidationExchanges(symbol: MarketSymbol, range: CoinglassRange = '24h', signal?: AbortSignal) {
    const data = await this.get(
      '/api/futures/liquidation/exchange-list',
      { symbol: symbol.base, range },
      30,
      signal,
    );
    return (Array.isArray(data) ? data : []).filter(isRecord).map((r) => ({
      exchange: text(r.exchange),
      liquidation_usd: pick(r, 'liquidation_usd'),
      long_liquidation_usd: pick(r, 'long_liquidation_usd', 'longLiquidation_usd'),
      short_liquidation_usd: pick(r, 'short_liquidation_usd', 'shortLiquidation_usd'),
    }));
  }

  async openInterestExchanges(symbol: MarketSymbol, signal?: AbortSignal) {
    const data = await this.get(
      '/api/futures/open-interest/exchange-list',
      { symbol: symbol.base },
      30,
      signal,
    );
    return (Array.isArray(data) ? data : []).filter(isRecord).map((r) => ({
      exchange: text(r.exchange),
      open_interest_usd: pick(r, 'open_interest_usd'),
      change_24h_percent: pick(r, 'open_interest_change_percent_24h'),
    }));
  }

  async openInterestHistory(symbol: MarketSymbol, interval: CoinglassInterval = '4h', signal?: AbortSignal) {
    const data = await this.get(
      '/api/futures/open-interest/aggregated-history',
      { symbol: symbol.base, interval },
      60,
      signal,
    );
    return (Array.isArray(data) ? data : []).filter(isRecord).map((r) => ({
      time: pick(r, 'time') ?? 0,
      open: pick(r, 'open'),
      high: pick(r, 'high'),
      low: pick(r, 'low'),
      close: pick(r, 'close'),
    }));
  }

  /** Current funding per exchange in percent per interval; interval and next time may be null. */
  async fundingExchanges(symbol: MarketSymbol, signal?: AbortSignal) {
    const data = await this.get('/api/futures/funding-rate/exchange-list', {}, 30, signal);
    const entry = (Array.isArray(data) ? data : [])
      .filter(isRecord)
      .find((r) => text(r.symbol).toUpperCase() === symbol.base);
    const list =
      entry && Array.isArray(entry.stablecoin_margin_list)
        ? entry.stablecoin_margin_list.filter(isRecord)
        : [];
    return list.map((r) => ({
      exchange: text(r.exchange),
      funding_rate_percent: pick(r, 'funding_rate'),
      interval_hours: pick(r, 'funding_rate_interval'),
      next_funding_time: pick(r, 'next_funding_time'),
    }));
  }

  async fundingHistory(
    symbol: MarketSymbol,
    exchange: CoinglassExchange = 'Binance',
    interval: CoinglassInterval = '8h',
    signal?: AbortSignal,
  ) {
    const data = await this.get(
      '/api/futures/funding-rate/history',
      { exchange, symbol: symbol.pair, interval },
      60,
      signal,
    );
    return (Array.isArray(data) ? data : [])
      .filter(isRecord)
      .map((r) => ({ time: pick(r, 'time') ?? 0, close: pick(r, 'close') }));
  }

  async longShortRatio(
    symbol: MarketSymbol,
    exchange: CoinglassExchange = 'Binance',
    interval: CoinglassInterval = '4h',
    signal?: AbortSignal,
  ) {
    const data = await this.get(
      '/api/futures/global-long-short-account-ratio/history',
      { exchange, symbol: symbol.pair, interval },
      60,
      signal,
    );
    return (Array.isArray(data) ? data : []).filter(isRecord).map((r) => ({
      time: pick(r, 'time') ?? 0,
      long_percent: pick(r, 'global_account_long_percent'),
      short_percent: pick(r, 'global_account_short_percent'),
      long_short_ratio: pick(r, 'global_account_long_short_ratio'),
    }));
  }

  /** Derivatives snapshot for the agents; each part may fail alone, all failing is an error. */
  async context(symbol: MarketSymbol, signal: AbortSignal): Promise<Record<string, unknown>> {
    const [liq, oi, funding, ls] = await Promise.allSettled([
      this.liquidationExchanges(symbol, '24h', signal),
      this.openInterestExchanges(symbol, signal),
      this.fundingExchanges(symbol, signal),
      this.longShortRatio(symbol, 'Binance', '4h', signal),
    ]);
    const parts = [liq, oi, funding, ls];
    if (parts.every((p) => p.status === 'rejected')) throw (liq as PromiseRejectedResult).reason;
    const all = liq.status === 'fulfilled' ? liq.value.find((r) => r.exchange === 'All') : undefined;
    const oiAll = oi.status === 'fulfilled' ? oi.value.find((r) => r.exchange === 'All') : undefined;
    const rates =
      funding.status === 'fulfilled'
        ? funding.value.map((f) => f.funding_rate_percent).filter((x): x is number => x !== null)
        : [];
    const latest = ls.status === 'fulfilled' ? ls.value.at(-1) : undefined;
    return {
      liquidations_24h: all
        ? {
            total_usd: all.liquidation_usd,
            long_usd: all.long_liquidation_usd,
            short_usd: all.short_liquidation_usd,
          }
        : null,
      open_interest_usd: oiAll?.open_interest_usd ?? null,
      open_interest_change_24h_percent: oiAll?.change_24h_percent ?? null,
      funding_rate_percent: rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : null,
      long_short_ratio: latest?.long_short_ratio ?? null,
      long_percent: latest?.long_percent ?? null,
      short_percent: latest?.short_percent ?? null,
      partial_errors: parts
        .filter((p): p is PromiseRejectedResult => p.status === 'rejected')
        .map((p) => (p.reason as Error).message),
    };
  }

  async healthy(): Promise<boolean> {
    try {
      await this.get('/api/futures/supported-coins', {}, 300);
      return true;
    } catch {
      return false;
    }
  }
}

import { Inject, Injectable, Optional } from '@nestjs/common';
import { DomainError } from '../../common/errors.js';
import type { ConfigType } from '@nestjs/config';
import { marketConfig } from '../../config/namespaces.js';
import { MarketCache } from '../market-cache.js';
import type { MarketSource } from '../market-source.js';
import type { MarketSymbol } from '../symbols.js';
import { abandonable, abandonedError } from '../vendor-http.js';
import { CoinglassClient, COINGLASS_SOURCE_NAME, type RateLimitState } from './coinglass.client.js';
import { type CoinglassContext, summarizeCoinglass } from './coinglass.context.js';
import {
  COINGLASS_EXCHANGES,
  COINGLASS_INTERVALS,
  COINGLASS_RANGES,
  type CoinglassExchange,
  type CoinglassInterval,
  type CoinglassRange,
  parseCoinglassLimit,
  parseCoinglassParam,
} from './coinglass.params.js';
import {
  type FundingByExchange,
  type LiquidationByExchange,
  type LiquidationPoint,
  type LongShortPoint,
  type OhlcPoint,
  type OpenInterestByExchange,
  parseFundingExchanges,
  parseLiquidationAggregated,
  parseLiquidationExchanges,
  parseLiquidationHistory,
  parseLongShort,
  parseOhlc,
  parseOpenInterestExchanges,
} from './coinglass.parsers.js';

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

const HISTORY_TTL_SECONDS = 60;
const LIST_TTL_SECONDS = 30;
/** Enough rows to find the newest point without pulling the default 1000. */
const CONTEXT_HISTORY_LIMIT = 10;

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

/**
 * Coinglass v4 as a market source: each endpoint family is its parameters (coinglass.params.ts), one
 * request through the v4 client (coinglass.client.ts) and its parser (coinglass.parsers.ts); the agents'
 * snapshot is summarised in coinglass.context.ts. Answers are cached in Redis (60 s history, 30 s lists)
 * and identical concurrent calls share one vendor request.
 */
@Injectable()
export class CoinglassSource implements MarketSource {
  readonly name = COINGLASS_SOURCE_NAME;
  readonly enabled: boolean;
  readonly deadlineMs: number;
  private readonly client: CoinglassClient;

  constructor(
    @Inject(marketConfig.KEY) config: ConfigType<typeof marketConfig>,
    private readonly cache: MarketCache,
    @Optional() @Inject(COINGLASS_SOURCE_OPTIONS) options: CoinglassSourceOptions = {},
  ) {
    const cg = config.coinglass;
    this.deadlineMs = options.deadlineMs ?? 4000;
    this.client = new CoinglassClient(
      cg?.apiKey ? { apiKey: cg.apiKey, baseUrl: cg.baseUrl } : undefined,
      this.deadlineMs,
    );
    this.enabled = this.client.enabled;
  }

  /** The rate-limit headers of the last vendor answer that carried them. */
  lastRateLimit(): RateLimitState {
    return this.client.lastRateLimit();
  }

  /** `GET /api/futures/liquidation/history` — one pair on one exchange. */
  async liquidationHistory(
    symbol: MarketSymbol,
    options: PairHistoryOptions = {},
  ): Promise<LiquidationPoint[]> {
    const params = pairParams(symbol, options, '4h');
    return parseLiquidationHistory(await this.history('/api/futures/liquidation/history', params, options));
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
    return parseLiquidationAggregated(
      await this.history('/api/futures/liquidation/aggregated-history', params, options),
    );
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
    return parseLiquidationExchanges(data);
  }

  /** `GET /api/futures/open-interest/aggregated-history` — OHLC of the coin's total open interest (USD). */
  async openInterestAggregated(symbol: MarketSymbol, options: HistoryOptions = {}): Promise<OhlcPoint[]> {
    const params = new URLSearchParams({
      symbol: symbol.base,
      interval: parseCoinglassParam('interval', options.interval ?? '4h', COINGLASS_INTERVALS),
    });
    return parseOhlc(await this.history('/api/futures/open-interest/aggregated-history', params, options));
  }

  /** `GET /api/futures/open-interest/exchange-list` — current open interest per exchange and an `All` row. */
  async openInterestExchanges(symbol: MarketSymbol, signal?: AbortSignal): Promise<OpenInterestByExchange[]> {
    const params = new URLSearchParams({ symbol: symbol.base });
    const data = await this.get('/api/futures/open-interest/exchange-list', params, LIST_TTL_SECONDS, signal);
    return parseOpenInterestExchanges(data);
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
    return parseFundingExchanges(data, symbol.base);
  }

  /** `GET /api/futures/funding-rate/history` — OHLC of one pair's funding rate, percent (strings upstream). */
  async fundingHistory(symbol: MarketSymbol, options: PairHistoryOptions = {}): Promise<OhlcPoint[]> {
    const params = pairParams(symbol, options, '8h');
    return parseOhlc(await this.history('/api/futures/funding-rate/history', params, options));
  }

  /** `GET /api/futures/global-long-short-account-ratio/history` — share of accounts long and short. */
  async longShortRatio(symbol: MarketSymbol, options: PairHistoryOptions = {}): Promise<LongShortPoint[]> {
    const params = pairParams(symbol, options, '4h');
    return parseLongShort(
      await this.history('/api/futures/global-long-short-account-ratio/history', params, options),
    );
  }

  /**
   * Derivatives snapshot for the agents. The four parts run in parallel and each may fail alone (a plan
   * may not cover every endpoint); the source fails only when no figure is left (see summarizeCoinglass).
   */
  async context(symbol: MarketSymbol, signal: AbortSignal): Promise<CoinglassContext> {
    const [liquidations, open_interest, funding, long_short] = await Promise.allSettled([
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
    return summarizeCoinglass(symbol.unified, { liquidations, open_interest, funding, long_short });
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

  /** The envelope's `data`, from the cache or the vendor. */
  private async get(
    path: string,
    params: URLSearchParams,
    ttlSeconds: number,
    signal?: AbortSignal,
  ): Promise<unknown[]> {
    const url = this.client.url(path, params); // refuses first when no key is configured
    const where = `${this.name} ${path}`;
    if (signal?.aborted) throw abandonedError(signal, this.name, where);
    // The vendor call is shared by every caller coalesced on this key, so it runs under the source's own
    // deadline only; one caller giving up must not fail the others. The key is never part of the cache key.
    const fetched = this.cache.getOrFetch(`coinglass:${path}?${params.toString()}`, ttlSeconds, () =>
      this.client.request(url, path),
    );
    const { value } = await abandonable(fetched, signal, this.name, where);
    return value;
  }
}

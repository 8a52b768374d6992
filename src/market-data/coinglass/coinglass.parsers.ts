import { isRecord, text, toNumber } from '../vendor-http.js';

/**
 * The normalised shapes of the Coinglass endpoints used here, read from the envelope's `data` rows: numbers
 * as numbers (the vendor sends numbers and numeric strings, and several spellings of one field), absent or
 * non-numeric values as null, rows without a time dropped.
 */

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

/** `/api/futures/{open-interest/aggregated-history, funding-rate/history}`: OHLC rows. */
export const parseOhlc = (data: unknown[]): OhlcPoint[] =>
  timed(data, (r) => ({
    open: num(r, 'open'),
    high: num(r, 'high'),
    low: num(r, 'low'),
    close: num(r, 'close'),
  }));

/** `/api/futures/liquidation/history`: one pair on one exchange. */
export const parseLiquidationHistory = (data: unknown[]): LiquidationPoint[] =>
  timed(data, (r) => ({
    long_liquidation_usd: num(r, 'long_liquidation_usd', 'longLiquidation_usd'),
    short_liquidation_usd: num(r, 'short_liquidation_usd', 'shortLiquidation_usd'),
  }));

/** `/api/futures/liquidation/aggregated-history`: one coin summed over exchanges. */
export const parseLiquidationAggregated = (data: unknown[]): LiquidationPoint[] =>
  timed(data, (r) => ({
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

/** `/api/futures/liquidation/exchange-list`: totals per exchange (and an `All` row). */
export const parseLiquidationExchanges = (data: unknown[]): LiquidationByExchange[] =>
  records(data).map((r) => ({
    exchange: text(r.exchange),
    liquidation_usd: num(r, 'liquidation_usd', 'liquidationUsd'),
    // The real payload says longLiquidation_usd; the docs say long_liquidation_usd.
    long_liquidation_usd: num(r, 'longLiquidation_usd', 'long_liquidation_usd'),
    short_liquidation_usd: num(r, 'shortLiquidation_usd', 'short_liquidation_usd'),
  }));

/** `/api/futures/open-interest/exchange-list`: current open interest per exchange (and an `All` row). */
export const parseOpenInterestExchanges = (data: unknown[]): OpenInterestByExchange[] =>
  records(data).map((r) => ({
    exchange: text(r.exchange),
    open_interest_usd: num(r, 'open_interest_usd'),
    open_interest_quantity: num(r, 'open_interest_quantity'),
    open_interest_by_stable_coin_margin: num(r, 'open_interest_by_stable_coin_margin'),
    open_interest_by_coin_margin: num(r, 'open_interest_by_coin_margin'),
    open_interest_change_percent_1h: num(r, 'open_interest_change_percent_1h'),
    open_interest_change_percent_4h: num(r, 'open_interest_change_percent_4h'),
    open_interest_change_percent_24h: num(r, 'open_interest_change_percent_24h'),
  }));

/**
 * `/api/futures/funding-rate/exchange-list`: every coin in one answer; the entry of `base` (upper case) is
 * picked, its stablecoin- and token-margined lists flattened. Empty when the coin is not listed.
 */
export function parseFundingExchanges(data: unknown[], base: string): FundingByExchange[] {
  const entry = records(data).find((r) => text(r.symbol).toUpperCase() === base);
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

/** `/api/futures/global-long-short-account-ratio/history`: share of accounts long and short. */
export const parseLongShort = (data: unknown[]): LongShortPoint[] =>
  timed(data, (r) => ({
    long_percent: num(r, 'global_account_long_percent'),
    short_percent: num(r, 'global_account_short_percent'),
    long_short_ratio: num(r, 'global_account_long_short_ratio'),
  }));

import { VendorError } from '../vendor-http.js';
import { COINGLASS_SOURCE_NAME } from './coinglass.client.js';
import type {
  FundingByExchange,
  LiquidationByExchange,
  LongShortPoint,
  OpenInterestByExchange,
} from './coinglass.parsers.js';

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

/** The four parts of the snapshot, as settled by the source (each may fail alone). */
export interface CoinglassContextParts {
  liquidations: PromiseSettledResult<LiquidationByExchange[]>;
  open_interest: PromiseSettledResult<OpenInterestByExchange[]>;
  funding: PromiseSettledResult<FundingByExchange[]>;
  long_short: PromiseSettledResult<LongShortPoint[]>;
}

const SOURCE = COINGLASS_SOURCE_NAME;

const asVendorError = (err: unknown): VendorError =>
  err instanceof VendorError
    ? err
    : new VendorError(SOURCE, 'network', `coinglass context failed: ${String(err)}`);

/**
 * The derivatives snapshot the agents read. A part that failed while others answered is listed under
 * `partial_errors`. When no figure is left — every part failed, or those that answered carry nothing for the
 * coin — the source has failed: this throws, so the market context lists Coinglass under `errors` with the
 * reason instead of answering an all-null block.
 */
export function summarizeCoinglass(symbol: string, parts: CoinglassContextParts): CoinglassContext {
  const named: [string, PromiseSettledResult<unknown>][] = [
    ['liquidations', parts.liquidations],
    ['open_interest', parts.open_interest],
    ['funding', parts.funding],
    ['long_short', parts.long_short],
  ];
  const failed = named.filter((e): e is [string, PromiseRejectedResult] => e[1].status === 'rejected');
  if (failed.length === named.length) throw asVendorError(failed[0][1].reason);

  const { liquidations: liq, open_interest: oi, funding, long_short: ls } = parts;
  const liqRows = liq.status === 'fulfilled' ? liq.value : [];
  const oiRows = oi.status === 'fulfilled' ? oi.value : [];
  const oiAll = oiRows.find((r) => r.exchange.toLowerCase() === 'all');
  const { rate, basis } = fundingRate(funding.status === 'fulfilled' ? funding.value : [], oiRows);
  const latest = ls.status === 'fulfilled' ? newest(ls.value) : undefined;
  const partialErrors = Object.fromEntries(
    failed.map(([part, result]) => {
      const err: unknown = result.reason;
      return [
        part,
        err instanceof VendorError
          ? { reason: err.reason, message: err.message }
          : { reason: 'error', message: err instanceof Error ? err.message : String(err) },
      ];
    }),
  );
  const context: CoinglassContext = {
    liquidations_24h: liquidationTotals(liqRows),
    open_interest_usd: oiAll?.open_interest_usd ?? null,
    open_interest_change_24h_percent: oiAll?.open_interest_change_percent_24h ?? null,
    funding_rate_percent: rate,
    funding_rate_basis: basis,
    long_short_ratio: latest?.long_short_ratio ?? null,
    long_percent: latest?.long_percent ?? null,
    short_percent: latest?.short_percent ?? null,
    partial_errors: partialErrors,
  };
  if (hasFigure(context)) return context;

  const why = Object.entries(partialErrors)
    .map(([part, e]) => `${part}: ${e.message}`)
    .join('; ');
  throw failed.length > 0
    ? new VendorError(
        SOURCE,
        asVendorError(failed[0][1].reason).reason,
        `coinglass has no figure for ${symbol} (${why})`,
      )
    : new VendorError(SOURCE, 'no_data', `coinglass has no figure for ${symbol}`);
}

function hasFigure(c: CoinglassContext): boolean {
  const liq = c.liquidations_24h;
  return [
    liq?.total_usd,
    liq?.long_usd,
    liq?.short_usd,
    c.open_interest_usd,
    c.open_interest_change_24h_percent,
    c.funding_rate_percent,
    c.long_short_ratio,
    c.long_percent,
    c.short_percent,
  ].some((v) => v !== null && v !== undefined);
}

/** Newest row by time: the vendor's ordering is not documented. */
function newest<T extends { time: number }>(rows: T[]): T | undefined {
  return rows.reduce<T | undefined>(
    (best, r) => (best === undefined || r.time > best.time ? r : best),
    undefined,
  );
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

import { DomainError } from '../../common/errors.js';

/**
 * The values a caller may choose for a Coinglass v4 request. Every value that reaches a vendor URL comes
 * from these fixed lists or from a validated MarketSymbol, so caller input can never add a parameter or a
 * path segment.
 *
 * Intervals are the documented enum of the history endpoints; `2h` appears only in the vendor's quickstart,
 * so it is left out rather than risk a 400-worthy request turning into a vendor error.
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

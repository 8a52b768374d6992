import { BadRequestException } from '@nestjs/common';

/** One instrument in every spelling a vendor wants; built only from validated input. */
export interface MarketSymbol {
  /** Base asset, upper case: `BTC`. */
  base: string;
  /** Quote asset, upper case: `USDT`. */
  quote: string;
  /** Exchange pair without separator: `BTCUSDT` (Binance, Coinglass pair endpoints). */
  pair: string;
  /** ccxt unified symbol: `BTC/USDT`. */
  unified: string;
}

const QUOTES = ['USDT', 'USDC', 'FDUSD', 'BUSD', 'USD', 'EUR', 'BTC', 'ETH'];
const ASSET = /^[A-Z0-9]{1,15}$/;

/**
 * Validates and normalises a symbol: `BTC`, `btc`, `BTC/USDT`, `BTC-USDT`, `BTC_USDT` and `BTCUSDT` all
 * become the same instrument. Anything else (paths, encoded characters, long strings) is a 400, before any
 * URL is built from it.
 */
export function parseSymbol(input: unknown, defaultQuote = 'USDT'): MarketSymbol {
  if (typeof input !== 'string' || input.length === 0 || input.length > 24) {
    throw new BadRequestException('symbol must be 1–24 characters like BTC, BTCUSDT or BTC/USDT');
  }
  const upper = input.toUpperCase();
  let base: string;
  let quote: string;
  const parts = upper.split(/[/_-]/);
  if (parts.length === 2) {
    [base, quote] = parts;
  } else if (parts.length === 1) {
    const q = QUOTES.find((candidate) => upper.length > candidate.length && upper.endsWith(candidate));
    base = q ? upper.slice(0, -q.length) : upper;
    quote = q ?? defaultQuote;
  } else {
    throw new BadRequestException(`symbol "${input.slice(0, 24)}" has more than one separator`);
  }
  if (!ASSET.test(base) || !ASSET.test(quote)) {
    throw new BadRequestException(
      'symbol may contain only letters and digits around one separator (/, -, _)',
    );
  }
  return { base, quote, pair: `${base}${quote}`, unified: `${base}/${quote}` };
}

/**
 * Reads what a free-text market question asks — symbols, capital, timeframe, trade type, leverage, risk
 * tolerance, price levels, direction — deterministically, without a model: the answer's sizing and the
 * fallback brief depend on these numbers, so they must not hallucinate.
 */

export const TIMEFRAME_STYLES = ['scalp', 'day', 'swing', 'position', 'long-term'] as const;
export type TimeframeStyle = (typeof TIMEFRAME_STYLES)[number];
export const TRADE_TYPES = ['spot', 'futures', 'leverage'] as const;
export type TradeType = (typeof TRADE_TYPES)[number];
export const RISK_TOLERANCES = ['low', 'medium', 'high'] as const;
export type RiskTolerance = (typeof RISK_TOLERANCES)[number];
export type Direction = 'long' | 'short';

/** Above these a value is a typo or a joke, not a trade to size. */
export const MAX_CAPITAL_USD = 10_000_000_000;
export const MAX_LEVERAGE = 200;
export const MAX_SYMBOLS = 10;

export interface QueryContext {
  /** Tickers in the order they were mentioned: `BTC`, `ETH`. */
  symbols: string[];
  direction: Direction | null;
  capital_usd: number | null;
  timeframe: TimeframeStyle | null;
  trade_type: TradeType | null;
  leverage: number | null;
  risk_tolerance: RiskTolerance | null;
  /** Prices the question names ("at $97,000", "above 4k"), in the order mentioned. */
  price_levels: number[];
}

/** What a caller states explicitly; it wins over what is read from the text. */
export interface UserContext {
  capital_usd?: number;
  risk_tolerance?: RiskTolerance;
  timeframe?: TimeframeStyle;
  trade_type?: TradeType;
  leverage?: number;
  symbols?: string[];
}

/** A value the caller got wrong; `problems` name each one (the service answers 400 with them). */
export class QueryValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'QueryValidationError';
  }
}

// ----- symbols ---------------------------------------------------------------------------------------------

/** Names and tickers that are safe to match in any case. */
const NAMES: Record<string, string> = {
  bitcoin: 'BTC',
  bitcoins: 'BTC',
  btc: 'BTC',
  xbt: 'BTC',
  ethereum: 'ETH',
  ether: 'ETH',
  eth: 'ETH',
  solana: 'SOL',
  sol: 'SOL',
  ripple: 'XRP',
  xrp: 'XRP',
  dogecoin: 'DOGE',
  doge: 'DOGE',
  cardano: 'ADA',
  ada: 'ADA',
  bnb: 'BNB',
  avalanche: 'AVAX',
  avax: 'AVAX',
  chainlink: 'LINK',
  litecoin: 'LTC',
  ltc: 'LTC',
  toncoin: 'TON',
  polkadot: 'DOT',
  polygon: 'POL',
  matic: 'POL',
  tron: 'TRX',
  trx: 'TRX',
  shiba: 'SHIB',
  shib: 'SHIB',
  pepe: 'PEPE',
  sui: 'SUI',
  aptos: 'APT',
  arbitrum: 'ARB',
  cosmos: 'ATOM',
  uniswap: 'UNI',
  stellar: 'XLM',
  xlm: 'XLM',
  filecoin: 'FIL',
  injective: 'INJ',
  inj: 'INJ',
  hedera: 'HBAR',
  hbar: 'HBAR',
  bch: 'BCH',
  wif: 'WIF',
  bonk: 'BONK',
};

/** Tickers that are also English words or abbreviations ("link", "near", "etc."): only in upper case. */
const UPPERCASE_ONLY = new Set([
  'LINK',
  'TON',
  'DOT',
  'NEAR',
  'UNI',
  'OP',
  'ARB',
  'APT',
  'ATOM',
  'FIL',
  'POL',
  'ETC',
]);

/** Names of two words, matched (and blanked out) before single words so "bitcoin cash" is not BTC. */
const MULTI_WORD: [RegExp, string][] = [
  [/\bbitcoin\s+cash\b/gi, 'BCH'],
  [/\bethereum\s+classic\b/gi, 'ETC'],
  [/\bshiba\s+inu\b/gi, 'SHIB'],
  [/\bbinance\s+coin\b/gi, 'BNB'],
];

const QUOTE_SUFFIX = /^(.+?)(USDT|USDC|FDUSD|BUSD|USD|PERP)$/;
/** Quote currencies: "$USDT" or "USD/USDT" names no asset to analyse. */
const NOT_ASSETS = new Set(['USD', 'USDT', 'USDC', 'BUSD', 'FDUSD', 'EUR', 'DAI']);

interface Found {
  at: number;
  value: string;
}

function findSymbols(text: string): Found[] {
  const found: Found[] = [];
  let rest = text;
  for (const [pattern, ticker] of MULTI_WORD) {
    rest = rest.replace(pattern, (m, offset: number) => {
      found.push({ at: offset, value: ticker });
      return ' '.repeat(m.length);
    });
  }
  // A pair (BTC/USDT, ETH-USDC) or a cashtag ($PEPE) names a ticker explicitly, known or not.
  for (const m of rest.matchAll(
    /(?<![\w$])([A-Za-z][A-Za-z0-9]{1,9})\s*[/-]\s*(?:USDT|USDC|USD|BUSD|FDUSD)\b/gi,
  )) {
    found.push({ at: m.index, value: m[1].toUpperCase() });
  }
  for (const m of rest.matchAll(/\$([A-Za-z][A-Za-z0-9]{1,9})\b/g)) {
    found.push({ at: m.index, value: m[1].toUpperCase() });
  }
  for (const m of rest.matchAll(/\b[A-Za-z][A-Za-z0-9]{1,11}\b/g)) {
    const word = m[0];
    const upper = word.toUpperCase();
    const known = NAMES[word.toLowerCase()];
    if (known) found.push({ at: m.index, value: known });
    else if (UPPERCASE_ONLY.has(word)) found.push({ at: m.index, value: word });
    else if (word === upper) {
      // BTCUSDT, ETHPERP: a known base glued to its quote.
      const glued = QUOTE_SUFFIX.exec(upper);
      const base = glued
        ? (NAMES[glued[1].toLowerCase()] ?? (UPPERCASE_ONLY.has(glued[1]) ? glued[1] : null))
        : null;
      if (base) found.push({ at: m.index, value: base });
    }
  }
  return found.filter((f) => !NOT_ASSETS.has(f.value)).sort((a, b) => a.at - b.at);
}

// ----- amounts: capital, price levels, leverage ------------------------------------------------------------

const MULTIPLIERS: Record<string, number> = {
  k: 1e3,
  thousand: 1e3,
  grand: 1e3,
  m: 1e6,
  mm: 1e6,
  mil: 1e6,
  million: 1e6,
  b: 1e9,
  bn: 1e9,
  billion: 1e9,
  trillion: 1e12,
};

/**
 * A number that may be money: optional minus, `$`, digits with thousands separators, a multiplier and a
 * currency. Whether it is money, and whose, is decided from its neighbours in `readAmounts`.
 */
const AMOUNT =
  /(?<![\w.,/])(?:(?<!\w)(?<minus>-)\s*)?(?<dollar>\$)?\s*(?<minus2>-)?(?<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?:\s*(?<mult>thousand|grand|million|billion|trillion|mil|mm|bn|k|m|b)\b)?(?:\s*(?<unit>usdt|usdc|usd|dollars?|bucks)\b)?/gi;

/** Words right before an amount that make it a price level. */
const LEVEL_LEAD =
  /\b(?:at|above|below|near|around|under|over|between|to|towards?|from|target(?:ing)?|entry|stop|sl|tp|breaks?|reclaims?|retests?|hits?|reach(?:es)?|loses?|holds?|price(?:\s+of)?|level(?:\s+of)?)\s*$/i;
/**
 * Words right before an amount that make it capital. `of` counts only after these nouns ("account of $10k")
 * or a percent ("1% of $20k").
 */
const CAPITAL_LEAD =
  /\b(?:with|have|got|using|use|invest(?:ing)?|put(?:ting)?|deploy(?:ing)?|allocat(?:e|ing)|capital(?:\s+of)?|account(?:\s+of)?|portfolio(?:\s+of)?|budget(?:\s+of)?|bankroll(?:\s+of)?|size(?:\s+of)?|stack(?:\s+of)?|(?<=%\s*)of)\s*$/i;
/** Words right before an amount that make it a result or a risk budget, not the capital. */
const NOT_CAPITAL_LEAD =
  /\b(?:risk(?:ing)?|lost|lose|losing|loss(?:\s+of)?|made|gained|profit(?:\s+of)?|pnl(?:\s+(?:of|is))?|fees?(?:\s+of)?|paid)\s*$/i;
/** "$95k-$100k", "95k to 100k": both ends of a range are prices. */
const RANGE_NEXT = /^\s*(?:-|–|to)\s*\$?\d/i;
const RANGE_PREVIOUS =
  /(?:\d\s*(?:k|m|b)?\s*(?:-|–|to)|\bbetween\s+\$?[\d,.]+\s*(?:k|m|b)?\s+and)\s*\$?\s*$/i;
/** Words right after an amount that make it capital. */
const CAPITAL_TAIL =
  /^\s*(?:of\s+)?(?:capital|account|portfolio|budget|bankroll|stack|to\s+(?:invest|trade|deploy|put))\b/i;

interface Amounts {
  capital: number | null;
  levels: number[];
}

function readAmounts(text: string, symbolSpans: Found[]): Amounts {
  const read: { value: number; role: 'capital' | 'level' | 'either' }[] = [];
  for (const m of text.matchAll(AMOUNT)) {
    const g = m.groups ?? {};
    const before = text.slice(0, m.index);
    const after = text.slice(m.index + m[0].length);
    // "10x", "x5", "3 times" are leverage; "5%" a percentage — not money.
    if (/^\s*(?:x\b|×|times\b|%|percent)/i.test(after) || /(?<!\w)x\s*$/i.test(before)) continue;
    // A result, not a size: "I lost $2k", "PnL of $300".
    if (NOT_CAPITAL_LEAD.test(before)) continue;
    const mult = g.mult?.toLowerCase();
    // Lower-case "m" without "$" or a currency is a chart interval ("5m"), not millions.
    if (mult === 'm' && g.mult !== 'M' && !g.dollar && !g.unit) continue;
    const isMoney = Boolean(g.dollar || g.unit || mult);
    const leadsLevel = LEVEL_LEAD.test(before) && !CAPITAL_LEAD.test(before);
    // A bare number after a level word is a price too ("above 4000"), but not a count ("in 3 days").
    if (!isMoney && !(leadsLevel && /^\s*(?:$|[,.?!;)]|\s+(?:and|or|then|with|for|on|in)\b)/i.test(after)))
      continue;
    const sign = g.minus || g.minus2 ? -1 : 1;
    const value = sign * Number(g.digits.replace(/,/g, '')) * (mult ? MULTIPLIERS[mult] : 1);
    const isCapital = CAPITAL_LEAD.test(before) || CAPITAL_TAIL.test(after);
    // A negative amount is a loss or a change unless it is stated as the capital itself.
    if (value < 0 && !isCapital) continue;
    // "BTC $97,000" (an amount right after a ticker) is that asset's price; so is either end of a range.
    const afterSymbol = symbolSpans.some((s) => /^\S+\s*$/.test(text.slice(s.at, m.index)));
    const inRange = RANGE_NEXT.test(after) || RANGE_PREVIOUS.test(before);
    read.push({
      value,
      role: isCapital ? 'capital' : leadsLevel || afterSymbol || inRange ? 'level' : 'either',
    });
  }
  // Stated capital first; otherwise the first amount nothing marks as a price is the capital.
  const stated = read.findIndex((r) => r.role === 'capital');
  const capitalAt = stated >= 0 ? stated : read.findIndex((r) => r.role === 'either');
  return {
    capital: capitalAt >= 0 ? read[capitalAt].value : null,
    levels: read.filter((r, i) => i !== capitalAt && r.role !== 'capital').map((r) => r.value),
  };
}

/** The leverage multiple: "10x", "x5", "5x leverage", "leverage of 3", "3 times leverage". */
function readLeverage(text: string): number | null {
  const explicit =
    /(?<![\w.])(\d+(?:\.\d+)?)\s*(?:x|×)\s*(?:leverage|lev)\b|\b(?:leverage|lev)\s*(?:of|at|:)?\s*(\d+(?:\.\d+)?)\s*(?:x|×)?(?![\w.])|(?<![\w.])(\d+(?:\.\d+)?)\s*times\s+leverage/i.exec(
      text,
    );
  if (explicit) return Number(explicit[1] ?? explicit[2] ?? explicit[3]);
  // A bare "10x" or "x5" is leverage only in a trading sentence: "will BTC 2x this year?" is a price target.
  const bare = /(?<![\w.])(\d+(?:\.\d+)?)\s*(?:x|×)(?![\w])|(?<![\w.$])x\s*(\d+(?:\.\d+)?)(?![\w.])/i.exec(
    text,
  );
  if (
    bare &&
    /\b(?:long|short|futures|perps?|perpetual|margin|position|leverage|lev|trade|trading|degen|yolo|entry|with)\b/i.test(
      text,
    )
  )
    return Number(bare[1] ?? bare[2]);
  return null;
}

// ----- words -----------------------------------------------------------------------------------------------

/** Explicit styles outrank durations: "swing trade over a few weeks" is a swing trade. */
const STYLE_WORDS: [TimeframeStyle, RegExp][] = [
  ['scalp', /\bscalp(?:s|ing|er|ers)?\b/],
  ['day', /\b(?:intra-?day|day[- ]?trad(?:e|es|ing|er)|daytrad(?:e|ing|er))\b/],
  ['swing', /\bswing(?:s|ing)?\b/],
  ['position', /\bposition[- ]trad(?:e|es|ing|er)\b/],
  ['long-term', /\b(?:long[- ]term|hodl(?:ing)?|buy and hold|retirement|accumulat(?:e|ing))\b/],
];

const DURATION_WORDS: [TimeframeStyle, RegExp][] = [
  ['scalp', /\b(?:minutes?|mins?|1m|3m|5m|quick flip|in and out)\b/],
  ['day', /\b(?:today|tonight|hours?|15m|30m|1h|within the day|end of (?:the )?day|a day|one day|1 day)\b/],
  ['swing', /\b(?:days|this week|next week|a week|one week|short[- ]term|4h|1d|daily)\b/],
  ['position', /\b(?:weeks|weekly|1w|a month|one month|1 month|mid[- ]term|medium[- ]term)\b/],
  ['long-term', /\b(?:months|years?|decade|long run)\b/],
];

function readTimeframe(lower: string): TimeframeStyle | null {
  for (const list of [STYLE_WORDS, DURATION_WORDS]) {
    const hit = list.find(([, pattern]) => pattern.test(lower));
    if (hit) return hit[0];
  }
  return null;
}

function readRisk(lower: string): RiskTolerance | null {
  if (
    /\b(?:conservative(?:ly)?|safe(?:ly|st|r)?|low[- ]risk|careful(?:ly)?|cautious(?:ly)?|risk[- ]averse|capital preservation|protect my capital)\b/.test(
      lower,
    )
  )
    return 'low';
  if (
    /\b(?:aggressive(?:ly)?|degen|yolo|high[- ]risk|all[- ]in|max(?:imum)? leverage|risky|send it)\b/.test(
      lower,
    )
  )
    return 'high';
  if (/\b(?:moderate(?:ly)?|balanced|medium[- ]risk|some risk|reasonable risk)\b/.test(lower))
    return 'medium';
  return null;
}

function readTradeType(lower: string, leverage: number | null): TradeType | null {
  // "future" alone is English ("in the future"); only the plural names the instrument.
  if (/\b(?:futures|perps?|perpetuals?)\b/.test(lower)) return 'futures';
  if ((leverage !== null && leverage > 1) || /\b(?:leverage[ds]?|margin)\b/.test(lower)) return 'leverage';
  if (/\bspot\b/.test(lower)) return 'spot';
  return null;
}

/** "long-term", "how long", "short-term", "sell-off" are not directions. */
const LONG_WORDS =
  /\b(?:buy(?:ing)?|bullish|(?<!how |as |so |too |for |very )long(?:s|ing)?(?![- ]?(?:term|time|run|haul|as)\b))\b/g;
const SHORT_WORDS =
  /\b(?:sell(?:s|ing)?(?![- ]?off)|bearish|(?<!in )short(?:s|ing)?(?![- ]?(?:term|of)\b))\b/g;

function readDirection(lower: string): Direction | null {
  const longAt = [...lower.matchAll(LONG_WORDS)].map((m) => m.index);
  const shortAt = [...lower.matchAll(SHORT_WORDS)].map((m) => m.index);
  if (longAt.length === 0 && shortAt.length === 0) return null;
  if (longAt.length === 0) return 'short';
  if (shortAt.length === 0) return 'long';
  // "long or short?" asks which: no side is chosen.
  if (/\b(?:long or short|short or long|buy or sell|sell or buy)\b/.test(lower)) return null;
  return longAt[0] < shortAt[0] ? 'long' : 'short';
}

// ----- public API ------------------------------------------------------------------------------------------

/** Everything the text says; values are not validated here (see `validateQuery`). */
export function extractQuery(text: string): QueryContext {
  const lower = text.toLowerCase();
  const found = findSymbols(text);
  const symbols = [...new Set(found.map((f) => f.value))].slice(0, MAX_SYMBOLS);
  const leverage = readLeverage(text);
  const { capital, levels } = readAmounts(text, found);
  return {
    symbols,
    direction: readDirection(lower),
    capital_usd: capital,
    timeframe: readTimeframe(lower),
    trade_type: readTradeType(lower, leverage),
    leverage,
    risk_tolerance: readRisk(lower),
    price_levels: levels,
  };
}

/** Explicit user context wins over what was read from the text. */
export function mergeContext(extracted: QueryContext, ctx: UserContext = {}): QueryContext {
  const tradeType =
    ctx.trade_type ??
    (ctx.leverage !== undefined && ctx.leverage > 1 && extracted.trade_type !== 'futures'
      ? 'leverage'
      : extracted.trade_type);
  return {
    ...extracted,
    symbols: ctx.symbols?.length ? [...new Set(ctx.symbols.map(baseOf))] : extracted.symbols,
    capital_usd: ctx.capital_usd ?? extracted.capital_usd,
    risk_tolerance: ctx.risk_tolerance ?? extracted.risk_tolerance,
    timeframe: ctx.timeframe ?? extracted.timeframe,
    trade_type: tradeType,
    // A caller who says "spot" holds no leverage, whatever multiple the text mentions.
    leverage: tradeType === 'spot' ? null : (ctx.leverage ?? extracted.leverage),
  };
}

/** Names every value no trade can have; an empty list means the query can be answered. */
export function queryProblems(q: QueryContext): string[] {
  const problems: string[] = [];
  if (q.capital_usd !== null) {
    if (!Number.isFinite(q.capital_usd) || q.capital_usd <= 0)
      problems.push(`capital must be a positive amount of USD, got ${q.capital_usd}`);
    else if (q.capital_usd > MAX_CAPITAL_USD)
      problems.push(
        `capital of $${q.capital_usd} is beyond the ${MAX_CAPITAL_USD} USD this service sizes for`,
      );
  }
  if (q.leverage !== null && !(q.leverage >= 1 && q.leverage <= MAX_LEVERAGE))
    problems.push(`leverage must be between 1x and ${MAX_LEVERAGE}x, got ${q.leverage}x`);
  for (const level of q.price_levels) {
    if (!Number.isFinite(level) || level <= 0)
      problems.push(`price level must be a positive price, got ${level}`);
  }
  return problems;
}

/** extract → merge → validate: the trade parameters of one query, or a QueryValidationError naming them. */
export function processQuery(text: string, ctx: UserContext = {}): QueryContext {
  const merged = mergeContext(extractQuery(text), ctx);
  const problems = queryProblems(merged);
  if (problems.length > 0) throw new QueryValidationError(problems);
  return merged;
}

/** `btc`, `BTC/USDT`, `BTCUSDT` → `BTC`. */
function baseOf(symbol: string): string {
  const upper = symbol.trim().toUpperCase();
  const pair = upper.split(/[/_-]/)[0];
  const glued = QUOTE_SUFFIX.exec(pair);
  return glued && glued[1].length >= 2 ? glued[1] : pair;
}

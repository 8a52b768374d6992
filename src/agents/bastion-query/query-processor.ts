/** What a free-text market question asks, extracted deterministically (no model involved). */
export interface ExtractedQuery {
  symbols: string[];
  direction: 'long' | 'short' | null;
  capital_usd: number | null;
  timeframe: 'scalp' | 'day' | 'swing' | 'position' | 'long-term' | null;
  trade_type: 'spot' | 'futures' | 'leverage' | null;
  leverage: number | null;
  risk_tolerance: 'low' | 'medium' | 'high' | null;
  price_levels: number[];
}

export interface UserContext {
  capital_usd?: number;
  risk_tolerance?: 'low' | 'medium' | 'high';
  timeframe?: ExtractedQuery['timeframe'];
  trade_type?: ExtractedQuery['trade_type'];
  leverage?: number;
  symbols?: string[];
}

const NAMES: Record<string, string> = {
  bitcoin: 'BTC',
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
  link: 'LINK',
  litecoin: 'LTC',
  ltc: 'LTC',
  ton: 'TON',
};

const MULTIPLIER: Record<string, number> = {
  k: 1e3,
  thousand: 1e3,
  m: 1e6,
  mm: 1e6,
  million: 1e6,
  b: 1e9,
  billion: 1e9,
};

const num = (s: string): number => Number(s.replace(/,/g, ''));

export function extractQuery(text: string): ExtractedQuery {
  const lower = text.toLowerCase();
  const symbols: string[] = [];
  const add = (s: string): void => {
    if (!symbols.includes(s)) symbols.push(s);
  };
  for (const m of text.matchAll(/\$?\b([A-Za-z]{2,10})(?:\s*\/\s*(?:USDT|USDC|USD))?\b/g)) {
    const t = NAMES[m[1].toLowerCase()];
    if (t) add(t);
  }

  const leverageMatch = /(\d{1,3}(?:\.\d+)?)\s*x\b|\bx\s*(\d{1,3})\b|(\d{1,3})\s*times leverage/i.exec(text);
  const leverage = leverageMatch ? num(leverageMatch[1] ?? leverageMatch[2] ?? leverageMatch[3]) : null;

  // Capital: a money amount with $, USD/USDT/USDC, or a k/m suffix; price levels are amounts introduced by "at/above/below".
  let capital: number | null = null;
  const levels: number[] = [];
  const money =
    /(at|above|below|near|to|from|with|of|have|using|invest|put)?\s*(\$)?\s*(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(k|thousand|mm|m|million|b|billion)?\b\s*(usdt|usdc|usd|dollars|bucks)?/gi;
  for (const m of text.matchAll(money)) {
    const [, lead, dollar, digits, suffix, unit] = m;
    if (!dollar && !suffix && !unit) continue;
    if (
      leverageMatch &&
      m.index !== undefined &&
      text
        .slice(m.index, m.index + m[0].length)
        .toLowerCase()
        .includes('x')
    )
      continue;
    const value = num(digits) * (suffix ? MULTIPLIER[suffix.toLowerCase()] : 1);
    const leadWord = lead?.toLowerCase();
    if (leadWord && ['at', 'above', 'below', 'near', 'to', 'from'].includes(leadWord)) levels.push(value);
    else if (capital === null) capital = value;
  }

  const timeframe: ExtractedQuery['timeframe'] = /\bscalp/.test(lower)
    ? 'scalp'
    : /\b(intraday|day ?trad|today|within the day)/.test(lower)
      ? 'day'
      : /\b(swing|few days|couple of days|this week|weeks?)\b/.test(lower)
        ? 'swing'
        : /\b(months?|position trade|quarter)\b/.test(lower)
          ? 'position'
          : /\b(long[- ]term|years?|hodl|retirement)\b/.test(lower)
            ? 'long-term'
            : null;

  const tradeType: ExtractedQuery['trade_type'] =
    leverage !== null || /\bleverage/.test(lower)
      ? 'leverage'
      : /\b(futures|perps?|perpetual)\b/.test(lower)
        ? 'futures'
        : /\bspot\b/.test(lower)
          ? 'spot'
          : null;

  const risk: ExtractedQuery['risk_tolerance'] = /\b(conservative|safe|low risk|careful|cautious)\b/.test(
    lower,
  )
    ? 'low'
    : /\b(aggressive|degen|yolo|high risk|all[- ]in)\b/.test(lower)
      ? 'high'
      : /\b(moderate|balanced|medium risk)\b/.test(lower)
        ? 'medium'
        : null;

  const direction: ExtractedQuery['direction'] = /\b(short|sell|bearish)\b/.test(lower)
    ? 'short'
    : /\b(long|buy|bullish)\b/.test(lower)
      ? 'long'
      : null;

  return {
    symbols,
    direction,
    capital_usd: capital,
    timeframe,
    trade_type: tradeType,
    leverage,
    risk_tolerance: risk,
    price_levels: levels,
  };
}

/** Explicit user context wins over what was read from the text. */
export function mergeContext(extracted: ExtractedQuery, ctx: UserContext = {}): ExtractedQuery {
  return {
    ...extracted,
    symbols: ctx.symbols?.length ? ctx.symbols.map((s) => s.toUpperCase()) : extracted.symbols,
    capital_usd: ctx.capital_usd ?? extracted.capital_usd,
    risk_tolerance: ctx.risk_tolerance ?? extracted.risk_tolerance,
    timeframe: ctx.timeframe ?? extracted.timeframe,
    trade_type: ctx.trade_type ?? (ctx.leverage ? 'leverage' : extracted.trade_type),
    leverage: ctx.leverage ?? extracted.leverage,
  };
}

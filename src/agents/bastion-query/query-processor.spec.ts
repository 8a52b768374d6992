import {
  extractQuery,
  mergeContext,
  processQuery,
  QueryValidationError,
  type QueryContext,
} from './query-processor.js';

/** One phrasing and the fields it must yield (fields not listed are not checked). */
const phrasings: [string, Partial<QueryContext>][] = [
  // symbols: tickers, names, pairs, cashtags
  [
    'Should I long BTC at $97,000 with $50K?',
    { symbols: ['BTC'], direction: 'long', capital_usd: 50_000, price_levels: [97_000] },
  ],
  ['I have 50k to put into bitcoin', { symbols: ['BTC'], capital_usd: 50_000, price_levels: [] }],
  [
    'Buy ETH with 50,000 USDT for a swing trade',
    { symbols: ['ETH'], capital_usd: 50_000, timeframe: 'swing', direction: 'long' },
  ],
  [
    'Is it time to short ethereum with 10x leverage?',
    { symbols: ['ETH'], direction: 'short', leverage: 10, trade_type: 'leverage', timeframe: null },
  ],
  ['scalp SOL with $2,500', { symbols: ['SOL'], timeframe: 'scalp', capital_usd: 2_500 }],
  [
    'Day trading $BTC today, conservative please',
    { symbols: ['BTC'], timeframe: 'day', risk_tolerance: 'low' },
  ],
  [
    'Going full degen on doge with x20',
    { symbols: ['DOGE'], leverage: 20, risk_tolerance: 'high', trade_type: 'leverage' },
  ],
  [
    'What is the long-term outlook for bitcoin?',
    { symbols: ['BTC'], timeframe: 'long-term', direction: null },
  ],
  [
    'BTC/USDT perps, $1.2M, aggressive',
    { symbols: ['BTC'], trade_type: 'futures', capital_usd: 1_200_000, risk_tolerance: 'high' },
  ],
  [
    'Spot buy of solana with 2.5 million dollars',
    { symbols: ['SOL'], trade_type: 'spot', capital_usd: 2_500_000, direction: 'long' },
  ],
  ['Should I sell my ETH above $4,000?', { symbols: ['ETH'], direction: 'short', price_levels: [4_000] }],
  [
    'position trade in BTC for a few months, moderate risk',
    { symbols: ['BTC'], timeframe: 'position', risk_tolerance: 'medium' },
  ],
  ['Compare BTC and ETH for 10000 usd', { symbols: ['BTC', 'ETH'], capital_usd: 10_000 }],
  ['bullish on xrp? intraday only', { symbols: ['XRP'], direction: 'long', timeframe: 'day' }],
  [
    'futures short on SOL, safe sizing please',
    { symbols: ['SOL'], trade_type: 'futures', direction: 'short', risk_tolerance: 'low' },
  ],
  [
    'I want to put $500 into ADA over the next few days',
    { symbols: ['ADA'], capital_usd: 500, timeframe: 'swing' },
  ],
  ['5x long on LINK near $18', { symbols: ['LINK'], leverage: 5, direction: 'long', price_levels: [18] }],
  ['hodl bitcoin with 100k', { symbols: ['BTC'], timeframe: 'long-term', capital_usd: 100_000 }],
  [
    'what about avalanche',
    {
      symbols: ['AVAX'],
      capital_usd: null,
      timeframe: null,
      trade_type: null,
      leverage: null,
      direction: null,
    },
  ],
  ['yolo 3 times leverage on ether', { symbols: ['ETH'], leverage: 3, risk_tolerance: 'high' }],
  [
    'Should I long BTC at $97,000 with $50K on 10x?',
    { capital_usd: 50_000, leverage: 10, price_levels: [97_000], trade_type: 'leverage' },
  ],
  ['swing ETHUSDT for a few weeks', { symbols: ['ETH'], timeframe: 'swing' }],
  ['BTC for a few weeks, cautious', { timeframe: 'position', risk_tolerance: 'low' }],
  ['hold SOL for months', { symbols: ['SOL'], timeframe: 'long-term' }],
  ['long PEPE/USDT with x5 on margin', { symbols: ['PEPE'], leverage: 5, trade_type: 'leverage' }],
  ['bitcoin cash or litecoin?', { symbols: ['BCH', 'LTC'] }],
  ['I just need a link to the docs', { symbols: [] }],
  ['Will BTC 2x this year?', { leverage: null, timeframe: 'long-term' }],
  [
    'my account of 25,000 usdc: short BTC below 90k',
    { capital_usd: 25_000, price_levels: [90_000], direction: 'short' },
  ],
  ['Long or short BTC here?', { direction: null }],
  ['After the sell-off, should I buy SOL?', { direction: 'long' }],
  ['scalp on the 5m chart with 2 grand', { timeframe: 'scalp', capital_usd: 2_000 }],
  ['My PnL is -$300 this week; long BTC with $5k?', { capital_usd: 5_000 }],
  ['ETH $3,500 breakout, 10x futures', { price_levels: [3_500], trade_type: 'futures', leverage: 10 }],
  ['$1.5m portfolio, leverage 3x on BTC', { capital_usd: 1_500_000, leverage: 3, trade_type: 'leverage' }],
  ['BTC target 120k, entry 95k, stop 91k', { price_levels: [120_000, 95_000, 91_000], capital_usd: null }],
  ['Should I hedge with a BTC-USD short?', { symbols: ['BTC'], direction: 'short' }],
  ['is it safe to long NEAR near 5?', { symbols: ['NEAR'], price_levels: [5], risk_tolerance: 'low' }],
  [
    '$97k-$100k range on BTC, long with $10k',
    { capital_usd: 10_000, price_levels: [97_000, 100_000], direction: 'long' },
  ],
  ['BTC between 95k and 100k?', { capital_usd: null, price_levels: [95_000, 100_000] }],
  ['risking $500 of my 20k account on SOL, 1% of $20k max', { capital_usd: 20_000, price_levels: [] }],
  ['BTC price of $97k, ETH level of 3500 and', { price_levels: [97_000, 3_500] }],
  ['I lost $2k yesterday on eth', { symbols: ['ETH'], capital_usd: null, price_levels: [] }],
  [
    'long btc 15m chart, 20x, $300 account',
    { symbols: ['BTC'], timeframe: 'day', leverage: 20, capital_usd: 300, trade_type: 'leverage' },
  ],
];

describe('extractQuery', () => {
  it.each(phrasings)('%s', (text, expected) => {
    expect(extractQuery(text)).toMatchObject(expected);
  });

  it('covers every field across the table', () => {
    const seen = new Set<string>();
    for (const [, expected] of phrasings) Object.keys(expected).forEach((k) => seen.add(k));
    expect([...seen].sort()).toEqual(
      [
        'symbols',
        'direction',
        'capital_usd',
        'timeframe',
        'trade_type',
        'leverage',
        'risk_tolerance',
        'price_levels',
      ].sort(),
    );
    expect(phrasings.length).toBeGreaterThanOrEqual(20);
  });

  it('reads every timeframe style', () => {
    const styles = ['scalp', 'day trade', 'swing', 'position trade', 'long-term'].map(
      (w) => extractQuery(`${w} BTC`).timeframe,
    );
    expect(styles).toEqual(['scalp', 'day', 'swing', 'position', 'long-term']);
  });
});

describe('mergeContext', () => {
  it('lets explicit user context win over the text', () => {
    const merged = mergeContext(extractQuery('long BTC with $50K, aggressive, for months'), {
      capital_usd: 20_000,
      risk_tolerance: 'low',
      timeframe: 'swing',
      leverage: 3,
    });
    expect(merged).toMatchObject({
      capital_usd: 20_000,
      risk_tolerance: 'low',
      timeframe: 'swing',
      leverage: 3,
      trade_type: 'leverage',
      symbols: ['BTC'],
      direction: 'long',
    });
  });

  it('keeps extracted fields the context does not state', () => {
    const merged = mergeContext(extractQuery('short ETH at $3,000 with 10k'), { risk_tolerance: 'high' });
    expect(merged).toMatchObject({ capital_usd: 10_000, price_levels: [3_000], risk_tolerance: 'high' });
  });

  it('normalises explicit symbols to their base asset', () => {
    expect(
      mergeContext(extractQuery('long BTC'), { symbols: ['eth/usdt', 'SOLUSDT', 'eth'] }).symbols,
    ).toEqual(['ETH', 'SOL']);
  });

  it('drops the text leverage when the caller says spot', () => {
    expect(mergeContext(extractQuery('BTC 10x long'), { trade_type: 'spot' })).toMatchObject({
      trade_type: 'spot',
      leverage: null,
    });
  });
});

describe('processQuery', () => {
  const problemsOf = (text: string, ctx = {}): string[] => {
    try {
      processQuery(text, ctx);
      return [];
    } catch (err) {
      if (err instanceof QueryValidationError) return err.problems;
      throw err;
    }
  };

  it.each([
    ['long BTC with -$5,000', {}, /capital must be a positive amount of USD, got -5000/],
    ['long BTC', { capital_usd: -5 }, /capital must be a positive amount of USD, got -5/],
    ['long BTC with $0', {}, /capital must be a positive amount/],
    ['long BTC with $5 trillion', {}, /capital of \$5000000000000 is beyond/],
    ['long BTC with 500x leverage', {}, /leverage must be between 1x and 200x, got 500x/],
    ['long BTC with 0x leverage', {}, /leverage must be between 1x and 200x, got 0x/],
    ['long BTC', { leverage: 1000 }, /leverage must be between 1x and 200x, got 1000x/],
    ['short ETH at $0', {}, /price level must be a positive price, got 0/],
  ])('rejects %s %j', (text, ctx, message) => {
    expect(problemsOf(text, ctx).join('; ')).toMatch(message);
  });

  it('accepts a negative text amount once the caller states the capital', () => {
    expect(processQuery('long BTC with -$5,000', { capital_usd: 5_000 }).capital_usd).toBe(5_000);
  });

  it('names every problem at once', () => {
    expect(problemsOf('long BTC with -$5,000 at 500x leverage')).toHaveLength(2);
  });
});

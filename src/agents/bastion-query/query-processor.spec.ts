import { extractQuery, mergeContext, type ExtractedQuery } from './query-processor.js';

const cases: [string, Partial<ExtractedQuery>][] = [
  [
    'Should I long BTC at $97,000 with $50K?',
    { symbols: ['BTC'], direction: 'long', capital_usd: 50_000, price_levels: [97_000] },
  ],
  ['I have 50k to put into bitcoin', { symbols: ['BTC'], capital_usd: 50_000 }],
  [
    'Buy ETH with 50,000 USDT for a swing trade',
    { symbols: ['ETH'], capital_usd: 50_000, timeframe: 'swing', direction: 'long' },
  ],
  [
    'Is it time to short ethereum with 10x leverage?',
    { symbols: ['ETH'], direction: 'short', leverage: 10, trade_type: 'leverage' },
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
    'What is the long-term outlook for bitcoin? I hold for years',
    { symbols: ['BTC'], timeframe: 'long-term' },
  ],
  [
    'BTC/USDT perps, $1.2M, aggressive',
    { symbols: ['BTC'], trade_type: 'futures', capital_usd: 1_200_000, risk_tolerance: 'high' },
  ],
  [
    'Spot buy of solana with 2.5 million dollars',
    { symbols: ['SOL'], trade_type: 'spot', capital_usd: 2_500_000 },
  ],
  ['Should I sell my ETH above $4,000?', { symbols: ['ETH'], direction: 'short', price_levels: [4_000] }],
  [
    'position trade in BTC for a few months, moderate risk',
    { symbols: ['BTC'], timeframe: 'position', risk_tolerance: 'medium' },
  ],
  ['Compare BTC and ETH for 10000 usd', { symbols: ['BTC', 'ETH'], capital_usd: 10_000 }],
  ['bullish on xrp? intraday', { symbols: ['XRP'], direction: 'long', timeframe: 'day' }],
  [
    'futures short on SOL, safe sizing',
    { symbols: ['SOL'], trade_type: 'futures', direction: 'short', risk_tolerance: 'low' },
  ],
  ['I want to put $500 into ADA this week', { symbols: ['ADA'], capital_usd: 500, timeframe: 'swing' }],
  ['5x long on LINK near $18', { symbols: ['LINK'], leverage: 5, direction: 'long', price_levels: [18] }],
  ['hodl bitcoin with 100k', { symbols: ['BTC'], timeframe: 'long-term', capital_usd: 100_000 }],
  ['what about avalanche', { symbols: ['AVAX'], capital_usd: null, timeframe: null, trade_type: null }],
  ['yolo 3 times leverage on ether', { symbols: ['ETH'], leverage: 3, risk_tolerance: 'high' }],
  [
    'Should I long BTC at $97,000 with $50K on 10x?',
    { capital_usd: 50_000, leverage: 10, price_levels: [97_000], trade_type: 'leverage' },
  ],
];

describe('extractQuery', () => {
  it.each(cases)('%s', (text, expected) => {
    expect(extractQuery(text)).toMatchObject(expected);
  });

  it('lets explicit user context win over the text', () => {
    const merged = mergeContext(extractQuery('long BTC with $50K, aggressive'), {
      capital_usd: 20_000,
      risk_tolerance: 'low',
      leverage: 3,
    });
    expect(merged).toMatchObject({
      capital_usd: 20_000,
      risk_tolerance: 'low',
      leverage: 3,
      trade_type: 'leverage',
      symbols: ['BTC'],
    });
  });
});

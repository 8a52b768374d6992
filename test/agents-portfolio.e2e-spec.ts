import { readFileSync } from 'node:fs';
import { parseCandleCsv } from '../src/market-data/candles/csv-candle-source.js';
import type { Ohlcv } from '../src/market-data/candles/candle-source.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const btc = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8'))
  .candles.filter(([ts]) => ts >= Date.parse('2022-06-01T00:00:00Z'))
  .slice(0, 200);
/** A second asset: BTC's bars with a damped, shifted path (deterministic). */
const bar = (ts: number, o: number, c: number, v: number): Ohlcv => [
  ts,
  o,
  Math.max(o, c) * 1.001,
  Math.min(o, c) * 0.999,
  c,
  v,
];
const alt: Ohlcv[] = btc.map(([ts, o, , , c, v], i) =>
  bar(ts, o / 20 + i * 0.01, c / 20 + i * 0.01 + Math.sin(i) * 5, v),
);
const gold: Ohlcv[] = btc.map(([ts], i) => bar(ts, 100 + i * 0.02, 100 + i * 0.02 + Math.cos(i) * 0.2, 10));

describe('POST /agents/portfolio-optimizer/optimize', () => {
  let good: FakeLlm;
  let bastion: TestApp;
  beforeAll(async () => {
    good = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      reply: (req) =>
        JSON.stringify(req.messages).includes('aggressive')
          ? 'not json at all'
          : '{"insights":["diversified"],"warnings":["watch BTC"],"recommendations":["rebalance monthly"]}',
    });
    bastion = await startTestApp({ env: providerEnv({ deepseek: good }) });
  });
  afterAll(async () => {
    await bastion.close();
    await good.close();
  });

  const body = (over: Record<string, unknown> = {}) => ({
    user_id: 7,
    risk_level: 'conservative',
    include_ai_insights: true,
    positions: [
      { symbol: 'BTC', value_usd: 9000 },
      { symbol: 'ALT', value_usd: 500 },
      { symbol: 'GOLD', value_usd: 500 },
    ],
    candles: { BTC: btc, ALT: alt, GOLD: gold },
    timeframe: '1h',
    ...over,
  });

  it('answers weights, rebalance trades and metrics, with validated model insights', async () => {
    const res = await bastion.request('POST', '/agents/portfolio-optimizer/optimize', body());
    expect(res.status).toBe(200);
    const w = res.body.target_weights as Record<string, number>;
    expect(Math.abs(Object.values(w).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
    expect(Math.max(...Object.values(w))).toBeLessThanOrEqual(0.4 + 1e-9);
    expect(res.body.current_weights.BTC).toBeCloseTo(0.9, 12);
    expect(res.body.rebalance_needed).toBe(true);
    expect(res.body.trades.find((t: { symbol: string }) => t.symbol === 'BTC')).toMatchObject({
      action: 'sell',
    });
    expect(typeof res.body.portfolio_sharpe).toBe('number');
    expect(res.body).toMatchObject({
      ai_enhanced: true,
      ai_insights: ['diversified'],
      ai_warnings: ['watch BTC'],
    });
  });

  it('falls back to rule-based insights when the model answers garbage', async () => {
    await bastion.request(
      'POST',
      '/ai-cost/sampling-strategy',
      { agent_type: 'portfolio_optimizer', strategy: 'ALWAYS' },
      ADMIN_KEY,
    );
    const res = await bastion.request(
      'POST',
      '/agents/portfolio-optimizer/optimize',
      body({ risk_level: 'aggressive' }),
    );
    expect(res.status).toBe(200);
    expect(res.body.ai_enhanced).toBe(false);
    expect(res.body.ai_reason).toMatch(/unusable|unavailable/);
    expect(res.body.ai_insights[0]).toMatch(/allocation; largest weight/);
  });

  it('answers bad input with a 400 naming the problem', async () => {
    const level = await bastion.request(
      'POST',
      '/agents/portfolio-optimizer/optimize',
      body({ risk_level: 'yolo' }),
    );
    expect(level.status).toBe(400);
    expect(JSON.stringify(level.body.message)).toMatch(
      /risk_level must be one of conservative, moderate, aggressive/,
    );
    const negative = await bastion.request(
      'POST',
      '/agents/portfolio-optimizer/optimize',
      body({
        positions: [
          { symbol: 'BTC', value_usd: -1 },
          { symbol: 'ALT', value_usd: 1 },
          { symbol: 'GOLD', value_usd: 1 },
        ],
      }),
    );
    expect(negative.status).toBe(400);
    expect(JSON.stringify(negative.body.message)).toMatch(/value_usd must not be negative/);
    const few = await bastion.request(
      'POST',
      '/agents/portfolio-optimizer/optimize',
      body({ candles: { BTC: btc.slice(0, 10), ALT: alt.slice(0, 10), GOLD: gold.slice(0, 10) } }),
    );
    expect(few.status).toBe(400);
    expect(few.body.message).toMatch(/at least 31 bars/);
  });
});

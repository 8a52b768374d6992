import { readFileSync } from 'node:fs';
import { ManualClock } from '../src/common/clock.js';
import type { Ohlcv } from '../src/market-data/candles/candle-source.js';
import { parseCandleCsv } from '../src/market-data/candles/csv-candle-source.js';
import { startFakeBinance, type FakeBinance } from './fakes/binance.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startAppWithFakeExchange, type CandleApp } from './support/app-with-candles.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const HOUR = 3_600_000;
/** 200 real BTC hours of the January 2023 rally, rescaled so the last close is ETH's 2,500 of the guide. */
const btc = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8')).candles;
const start = btc.findIndex(([ts]) => ts >= Date.parse('2023-01-05T00:00:00Z'));
const rally = btc.slice(start, start + 200);
const scale = 2500 / (rally.at(-1) as Ohlcv)[4];
const eth: Ohlcv[] = rally.map(([ts, o, h, l, c, v]) => [
  ts,
  o * scale,
  h * scale,
  l * scale,
  c * scale,
  v * 40,
]);
const lastTs = (eth.at(-1) as Ohlcv)[0];

/** The integration guide's own request bodies, byte for byte. */
const SEED_SIGNAL =
  '{"signal_id":"SIG_001","symbol":"ETH/USDT","action":"BUY","confidence":0.75,"current_price":2500.0}';
const SEED_ANOMALY = '{"user_id":1,"bot_id":123,"timeframe_minutes":60}';

describe('The seed guide’s request shapes (HTTP, real Redis, ccxt against a fake Binance, fake DeepSeek)', () => {
  let binance: FakeBinance;
  let deepseek: FakeLlm;
  let app: CandleApp;
  const clock = new ManualClock(lastTs + HOUR + 60_000); // the last bar closed a minute ago

  beforeAll(async () => {
    binance = await startFakeBinance({ klines: { ETHUSDT: { '1h': eth } } });
    deepseek = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      reply: () => '{"opinion":"approve","reason":"the trend supports it"}',
    });
    app = await startAppWithFakeExchange({
      binanceApiBase: binance.apiBase,
      clock,
      env: providerEnv({ deepseek }),
    });
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([binance?.close(), deepseek?.close()]);
  });

  const post = async (path: string, raw: string) => {
    const res = await fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test-bot-key-0001' },
      body: raw,
    });
    return { status: res.status, body: await res.json() };
  };

  it('validates the guide’s signal example: action → side, current_price → entry, signal_id and confidence echoed', async () => {
    const res = await post('/agents/signal-validator/validate', SEED_SIGNAL);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      signal_id: 'SIG_001',
      action: 'BUY',
      confidence: 0.75,
      symbol: 'ETH/USDT',
      side: 'long',
      entry_price: 2500,
      strategy: 'trend', // default_strategy of config/agents.yaml
      timeframe: '1h', // default_timeframe
      regime: 'trending_up',
    });
    expect(['APPROVED', 'NEEDS_REVIEW', 'REJECTED']).toContain(res.body.validation_result);
    expect(typeof res.body.confidence_score).toBe('number');
    // The entry is the last close of the candles ccxt fetched, so the price is sane and the regime fits.
    const rule = (name: string) => res.body.rules.find((r: { name: string }) => r.name === name);
    expect(rule('price_sanity')).toMatchObject({ passed: true, value: 0 });
    expect(rule('regime_compatibility')).toMatchObject({ passed: true, value: 'trending_up' });
    // No stop-loss in the guide's example: the rules say so rather than guess one.
    expect(res.body.failed_rules).toEqual(expect.arrayContaining(['stop_loss_present', 'risk_reward']));
    expect(binance.calls.map((c) => c.path)).toContain('/api/v3/klines');
    expect(binance.calls.find((c) => c.path === '/api/v3/klines')?.query).toMatchObject({
      symbol: 'ETHUSDT',
      interval: '1h',
      limit: '200',
    });
  });

  it('SELL is a short; our own shape still works and says the same', async () => {
    const sell = await post(
      '/agents/signal-validator/validate',
      '{"signal_id":"SIG_002","symbol":"ETH/USDT","action":"SELL","confidence":0.6,"current_price":2500.0,"include_ai":false}',
    );
    expect(sell.status).toBe(200);
    expect(sell.body).toMatchObject({ signal_id: 'SIG_002', action: 'SELL', side: 'short', confidence: 0.6 });
    const ours = await app.request('POST', '/agents/signal-validator/validate', {
      symbol: 'ETH/USDT',
      side: 'short',
      entry_price: 2500,
      strategy: 'trend',
      timeframe: '1h',
      include_ai: false,
    });
    expect(ours.status).toBe(200);
    expect(ours.body.rules).toEqual(sell.body.rules);
    expect(ours.body).not.toHaveProperty('signal_id');
    expect(ours.body).not.toHaveProperty('action');
  });

  it('refuses a seed signal that contradicts itself or misses the side, naming the fields', async () => {
    const contradict = await app.request('POST', '/agents/signal-validator/validate', {
      symbol: 'ETH/USDT',
      action: 'BUY',
      side: 'short',
      current_price: 2500,
      entry_price: 2400,
    });
    expect(contradict.status).toBe(400);
    expect(contradict.body.message).toEqual([
      'action BUY contradicts side short: give one of them',
      'current_price 2500 contradicts entry_price 2400: give one of them',
    ]);
    const missing = await app.request('POST', '/agents/signal-validator/validate', {
      symbol: 'ETH/USDT',
      action: 'HOLD',
      confidence: 1.5,
    });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toEqual(
      expect.arrayContaining([
        'action must be BUY or SELL',
        'entry_price must be a positive number (or give current_price)',
        'confidence must be between 0 and 1',
      ]),
    );
  });

  it('detects anomalies for the guide’s example, whose bot_id is a number, and echoes it as a number', async () => {
    const t = clock.now();
    // Telemetry arrives under the path's string id; "123" and 123 are one bot.
    const sent = await app.request('POST', '/bots/123/telemetry', {
      user_id: 1,
      events: Array.from({ length: 10 }, (_, i) => ({
        type: 'order',
        timestamp: new Date(t - 20 * 60_000 + i * 1000).toISOString(),
        latency_ms: 8000,
      })),
    });
    expect(sent.status).toBe(200);
    const res = await post('/agents/anomaly-detector/detect', SEED_ANOMALY);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      bot_id: 123,
      user_id: 1,
      window: { minutes: 60 },
      telemetry: { orders: 10 },
    });
    expect(res.body.anomalies).toEqual([
      expect.objectContaining({ anomaly_type: 'latency', recommended_action: 'reduce_order_rate' }),
    ]);
    const asString = await app.request('POST', '/agents/anomaly-detector/detect', {
      user_id: 1,
      bot_id: '123',
      timeframe_minutes: 60,
      include_ai: false,
    });
    expect(asString.body.bot_id).toBe('123');
    expect(asString.body.anomalies).toEqual(
      res.body.anomalies.map((a: object) => ({ ...a, ai_enhanced: false })),
    );
    for (const bad of [-1, 1.5, 'bad id!']) {
      const refused = await app.request('POST', '/agents/anomaly-detector/detect', {
        user_id: 1,
        bot_id: bad,
        timeframe_minutes: 60,
      });
      expect(refused.status).toBe(400);
      expect(JSON.stringify(refused.body.message)).toMatch(/bot_id must be .* or a non-negative integer/);
    }
  });
});

import { readFileSync } from 'node:fs';
import { ManualClock } from '../src/common/clock.js';
import { parseCandleCsv } from '../src/market-data/candles/csv-candle-source.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const all = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8')).candles;
const from = (start: string, bars: number) => {
  const i = all.findIndex(([ts]) => ts >= Date.parse(`${start}Z`));
  return all.slice(i, i + bars);
};
const trend = from('2023-01-05T00:00', 200); // January 2023 rally
const lastClose = trend.at(-1)?.[4] as number;
const lastTs = trend.at(-1)?.[0] as number;

describe('Agents through HTTP', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  const clock = new ManualClock(lastTs + 3_600_000 + 60_000); // one minute after the last bar closed

  beforeAll(async () => {
    deepseek = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      reply: (req) =>
        req.response_format
          ? '{"opinion":"approve","reason":"looks fine"}'
          : 'The evidence supports the verdict.',
    });
    bastion = await startTestApp({ env: providerEnv({ deepseek }), clock });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
  });

  it('market regime: ten analyses of one symbol within a minute make one upstream call (PERIODIC 300 s)', async () => {
    const answers = [];
    for (let i = 0; i < 10; i++) {
      const candles = trend.slice(i, 190 + i); // different candles each time: not the response cache at work
      answers.push(
        (
          await bastion.request('POST', '/agents/market-regime/analyze', {
            symbol: 'BTC/USDT',
            timeframe: '1h',
            candles,
          })
        ).body,
      );
      clock.advance(5_000);
    }
    expect(deepseek.calls).toHaveLength(1);
    expect(answers[0]).toMatchObject({
      regime_type: 'trending_up',
      ai_enhanced: true,
      ai_reason: 'called',
      symbol: 'BTC/USDT',
    });
    expect(answers.slice(1).every((a) => a.ai_reason === 'sampled_out')).toBe(true);
    expect(answers[0].indicators).toEqual(
      expect.objectContaining({
        atr: expect.any(Number),
        adx: expect.any(Number),
        plus_di: expect.any(Number),
        minus_di: expect.any(Number),
      }),
    );
  });

  const signal = (over: Record<string, unknown> = {}) => ({
    symbol: 'BTC/USDT',
    side: 'long',
    entry_price: lastClose,
    stop_loss: lastClose * 0.98,
    take_profit: lastClose * 1.06,
    position_size_pct: 0.1,
    leverage: 1,
    strategy: 'trend',
    timeframe: '1h',
    signal_timestamp: lastTs,
    candles: trend,
    ...over,
  });

  it('signal validator: reports its rules, approves a clean signal, rejects a price 30% away', async () => {
    const clean = (await bastion.request('POST', '/agents/signal-validator/validate', signal())).body;
    expect(clean.rules.length).toBeGreaterThanOrEqual(12);
    for (const r of clean.rules)
      expect(Object.keys(r).sort()).toEqual(['critical', 'limit', 'name', 'passed', 'reason', 'value']);
    expect(clean.validation_result).toBe('APPROVED');
    const far = (
      await bastion.request(
        'POST',
        '/agents/signal-validator/validate',
        signal({ entry_price: lastClose * 1.3, stop_loss: lastClose * 1.27, take_profit: lastClose * 1.4 }),
      )
    ).body;
    expect(far.validation_result).toBe('REJECTED');
    expect(far.failed_rules).toContain('price_sanity');
  });

  it('signal validator: a leveraged signal without a stop-loss stays REJECTED even when the model approves', async () => {
    const res = (
      await bastion.request(
        'POST',
        '/agents/signal-validator/validate',
        signal({ stop_loss: undefined, leverage: 5, entry_price: lastClose * 1.001 }),
      )
    ).body;
    expect(res.ai_opinion).toEqual({ opinion: 'approve', reason: 'looks fine' });
    expect(res.validation_result).toBe('REJECTED');
    expect(res.failed_rules).toContain('stop_loss_required_with_leverage');
  });

  it('both agents still answer with ai_enhanced false when the model fails', async () => {
    deepseek.inject({ kind: 'status', status: 500 });
    clock.advance(3_600_000); // past the PERIODIC interval so the regime agent tries the model
    const regime = await bastion.request('POST', '/agents/market-regime/analyze', {
      symbol: 'BTC',
      timeframe: '1h',
      candles: trend.slice(5),
    });
    expect(regime.status).toBe(200);
    expect(regime.body).toMatchObject({ regime_type: 'trending_up', ai_enhanced: false });
    const validated = await bastion.request(
      'POST',
      '/agents/signal-validator/validate',
      signal({ entry_price: lastClose * 1.002 }),
    );
    expect(validated.status).toBe(200);
    expect(validated.body.ai_enhanced).toBe(false);
    expect(validated.body.validation_result).toBe('APPROVED');
    deepseek.clearFaults();
  });

  it('answers malformed or too few candles with a 400 naming the problem', async () => {
    const few = await bastion.request('POST', '/agents/market-regime/analyze', {
      symbol: 'BTC',
      timeframe: '1h',
      candles: trend.slice(0, 10),
    });
    expect(few.status).toBe(400);
    expect(few.body.message).toMatch(/at least 28 candles/);
    const bad = await bastion.request('POST', '/agents/market-regime/analyze', {
      symbol: 'BTC',
      timeframe: '1h',
      candles: [[1, 'a', 2, 3, 4, 5], ...trend.slice(0, 40)],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/candles: row/);
    const tf = await bastion.request('POST', '/agents/market-regime/analyze', {
      symbol: 'BTC',
      timeframe: '2h',
      candles: trend,
    });
    expect(tf.status).toBe(400);
    expect(JSON.stringify(tf.body.message)).toMatch(/timeframe must be one of/);
    const neg = await bastion.request(
      'POST',
      '/agents/signal-validator/validate',
      signal({ entry_price: -5 }),
    );
    expect(neg.status).toBe(400);
    expect(JSON.stringify(neg.body.message)).toMatch(/entry_price must be a positive number/);
  });
});

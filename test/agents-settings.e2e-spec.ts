import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/common/clock.js';
import type { Ohlcv } from '../src/market-data/candles/candle-source.js';
import { parseCandleCsv } from '../src/market-data/candles/csv-candle-source.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** Six assets on 200 real BTC hours: BTC itself and five seeded synthetic ones with different betas. */
const btc = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8'))
  .candles.filter(([ts]) => ts >= Date.parse('2023-01-01T00:00:00Z'))
  .slice(0, 200);
function synthetic(seed: number, beta: number, noise: number, drift: number): Ohlcv[] {
  let state = seed;
  const rnd = (): number => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  let price = 100;
  return btc.map(([ts], i) => {
    const open = price;
    const r = i === 0 ? 0 : btc[i][4] / btc[i - 1][4] - 1;
    price = open * (1 + beta * r + drift + noise * rnd());
    return [ts, open, Math.max(open, price) * 1.001, Math.min(open, price) * 0.999, price, 10];
  });
}
const candles: Record<string, Ohlcv[]> = {
  BTC: btc,
  ETH: synthetic(1, 1.3, 0.006, 0.0004),
  SOL: synthetic(2, 1.6, 0.01, 0.0008),
  GOLD: synthetic(3, 0.05, 0.002, 0.0001),
  DOGE: synthetic(4, 1.9, 0.012, 0.0002),
  BNB: synthetic(5, 0.9, 0.004, 0.0003),
};

const yamlFile = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'bastion-agents-')), 'agents.yaml');
  writeFileSync(path, text);
  return path;
};

describe('Agent settings from config/agents.yaml and at run time (HTTP, real Redis, two instances)', () => {
  const clock = new ManualClock(T0);
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    // The guide's shape, as an operator writes it: a tighter cap and a stricter latency limit.
    const env = {
      AGENTS_CONFIG_PATH: yamlFile(
        [
          'agents:',
          '  portfolio_optimizer:',
          '    max_position_size: 0.2',
          '  anomaly_detector:',
          '    anomaly_thresholds: { latency_ms: 2000 }',
        ].join('\n'),
      ),
    };
    a = await startTestApp({ env, clock });
    b = await startTestApp({ env, clock, prefix: a.prefix });
  });
  afterAll(async () => {
    await b?.close({ keepKeys: true });
    await a?.close();
  });

  const optimize = (app: TestApp, level: string, symbols = Object.keys(candles)) =>
    app.request('POST', '/agents/portfolio-optimizer/optimize', {
      user_id: 3,
      risk_level: level,
      positions: symbols.map((s) => ({ symbol: s, value_usd: 1000 })),
      candles: Object.fromEntries(symbols.map((s) => [s, candles[s]])),
      timeframe: '1h',
    });
  const latencyBot = async (app: TestApp, bot: string, ms: number) => {
    await app.request('POST', `/bots/${bot}/telemetry`, {
      user_id: 1,
      events: Array.from({ length: 10 }, (_, i) => ({
        type: 'order',
        timestamp: iso(T0 - 10 * 60_000 + i * 1000),
        latency_ms: ms,
      })),
    });
    return (
      await app.request('POST', '/agents/anomaly-detector/detect', {
        user_id: 1,
        bot_id: bot,
        timeframe_minutes: 60,
        include_ai: false,
      })
    ).body;
  };

  it('max_position_size 0.2 in agents.yaml: no weight above 0.2 at any risk level', async () => {
    for (const level of ['conservative', 'moderate', 'aggressive']) {
      const res = await optimize(a, level);
      expect(res.status).toBe(200);
      expect(res.body.max_position_size).toBe(0.2);
      const weights = Object.values<number>(res.body.target_weights);
      expect(Math.max(...weights)).toBeLessThanOrEqual(0.2);
      expect(Math.abs(weights.reduce((s, w) => s + w, 0) - 1)).toBeLessThan(1e-9);
    }
    // Four assets cannot reach 100% at 20% each: a 400 that says so.
    const four = await optimize(a, 'moderate', ['BTC', 'ETH', 'SOL', 'GOLD']);
    expect(four.status).toBe(400);
    expect(four.body.message).toMatch(/infeasible max_position_size: 4 asset\(s\) capped at 0\.2/);
  });

  it('latency_ms 2000 in agents.yaml raises a latency anomaly for a bot at 2,500 ms', async () => {
    const body = await latencyBot(a, 'bot-2500', 2500);
    expect(body.anomalies).toEqual([
      expect.objectContaining({ anomaly_type: 'latency', threshold: 2000, value: expect.any(Number) }),
    ]);
    expect(body.anomalies[0].value).toBeGreaterThanOrEqual(2500);
  });

  it('shows the settings in force in the seed’s shape', async () => {
    const all = (await a.request('GET', '/agents/settings')).body;
    expect(Object.keys(all)).toEqual([
      'market_regime',
      'signal_validator',
      'anomaly_detector',
      'portfolio_optimizer',
    ]);
    expect(all.portfolio_optimizer).toMatchObject({
      max_position_size: 0.2,
      rebalance_threshold: 0.1,
      risk_levels: { conservative: { method: 'min_variance', max_drawdown: 0.15 } },
    });
    expect(all.anomaly_detector.anomaly_thresholds).toMatchObject({
      latency_ms: 2000,
      error_rate_percent: 10,
    });
    expect((await a.request('GET', '/agents/settings/signal_validator')).body).toMatchObject({
      min_passed_rules: 11,
      critical_rules: [
        'price_sanity',
        'exchange_outage',
        'stop_loss_required_with_leverage',
        'leverage_cap',
        'position_size',
      ],
    });
    const unknown = await a.request('GET', '/agents/settings/trader');
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(
      /agent must be one of market_regime, .*portfolio_optimizer, got "trader"/,
    );
  });

  it('an admin change on one instance applies on the other at once; DELETE returns to the file', async () => {
    expect((await latencyBot(b, 'bot-3000', 3000)).anomalies).toHaveLength(1);
    const changed = await a.request(
      'PATCH',
      '/agents/settings/anomaly_detector',
      { anomaly_thresholds: { latency_ms: 4000 } },
      ADMIN_KEY,
    );
    expect(changed.status).toBe(200);
    expect(changed.body.anomaly_thresholds).toMatchObject({ latency_ms: 4000, loss_streak: 5 });
    // Instance b never saw the request: it reads the settings from Redis on its next detection.
    expect((await latencyBot(b, 'bot-3000', 3000)).anomalies).toEqual([]);
    expect(
      (await b.request('GET', '/agents/settings/anomaly_detector')).body.anomaly_thresholds.latency_ms,
    ).toBe(4000);

    const reset = await b.request('DELETE', '/agents/settings/anomaly_detector', undefined, ADMIN_KEY);
    expect(reset.status).toBe(200);
    expect(reset.body.anomaly_thresholds.latency_ms).toBe(2000);
    expect((await latencyBot(a, 'bot-3000', 3000)).anomalies).toHaveLength(1);
  });

  it('several agents at once, all or nothing; market_hours names the exchange-outage rule', async () => {
    const res = await a.request(
      'PATCH',
      '/agents/settings',
      {
        signal_validator: { critical_rules: ['market_hours', 'price_sanity'], min_passed_rules: 12 },
        portfolio_optimizer: { rebalance_threshold: 0.05 },
      },
      ADMIN_KEY,
    );
    expect(res.status).toBe(200);
    expect(res.body.signal_validator.critical_rules).toEqual(['exchange_outage', 'price_sanity']);
    expect((await b.request('GET', '/agents/settings/portfolio_optimizer')).body.rebalance_threshold).toBe(
      0.05,
    );

    const refused = await a.request(
      'PATCH',
      '/agents/settings',
      { portfolio_optimizer: { rebalance_threshold: 0.2 }, signal_validator: { min_passed_rules: 0 } },
      ADMIN_KEY,
    );
    expect(refused.status).toBe(400);
    expect(refused.body.message).toEqual([
      'signal_validator.min_passed_rules must be an integer at least 1 and at most 16, got 0',
    ]);
    // Nothing was stored: the valid half of a refused change does not apply either.
    expect((await b.request('GET', '/agents/settings/portfolio_optimizer')).body.rebalance_threshold).toBe(
      0.05,
    );
  });

  it('refuses bad changes with one 400 naming every problem, unknown keys included; bots may only read', async () => {
    const res = await a.request(
      'PATCH',
      '/agents/settings/anomaly_detector',
      {
        check_interval_seconds: 'soon',
        alert_min_severity: 'panic',
        anomaly_thresholds: { latency_ms: 0, loss_streek: 4 },
        severity_scales: { latency: [2, 1, 3] },
      },
      ADMIN_KEY,
    );
    expect(res.status).toBe(400);
    expect(res.body.message).toEqual([
      'anomaly_detector.check_interval_seconds must be an integer at least 1 and at most 86400, got "soon"',
      'anomaly_detector.alert_min_severity must be one of low, medium, high, critical, got "panic"',
      'anomaly_detector.anomaly_thresholds.latency_ms must be a number greater than 0 and at most 3600000, got 0',
      expect.stringMatching(
        /^anomaly_detector\.anomaly_thresholds\.loss_streek is not a setting \(known: latency_ms, /,
      ),
      'anomaly_detector.severity_scales.latency must be three ascending positive ratios [medium, high, critical], got [2,1,3]',
    ]);
    for (const body of ['{"constructor":{"prototype":{}}}', '{"__proto__":{"admin":true}}', '[1,2]', '"x"']) {
      const refused = await a.request('PATCH', '/agents/settings/signal_validator', body, ADMIN_KEY);
      expect(refused.status).toBe(400);
    }
    const top = await a.request('PATCH', '/agents/settings', '{"constructor":{}}', ADMIN_KEY);
    expect(top.status).toBe(400);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const bot = await a.request('PATCH', '/agents/settings/signal_validator', { min_passed_rules: 5 });
    expect(bot.status).toBe(403);
    expect((await a.request('GET', '/agents/settings/signal_validator')).status).toBe(200);
  });
});

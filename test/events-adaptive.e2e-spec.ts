import { ManualClock } from '../src/common/clock.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { DisposableRedis, randomPort, waitFor } from './support/redis-server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const T0 = Date.parse('2026-11-22T12:00:00Z');
const HOUR = 3_600_000;

/** A small window so the test needs few events; the ranking is the same at 720. */
const ADAPTIVE = {
  priority_mode: 'adaptive',
  adaptive_window: 100,
  adaptive_min_history: 40,
};

/** One closed 1h bar of `symbol`, as a bot sends it: it declares LOW and lets the gate rank the move. */
const bar = (symbol: string, hour: number, move: number, agent = 'regime_probe') => ({
  agent_type: agent,
  prompt: `${symbol} bar ${hour}: anything to do?`,
  max_tokens: 64,
  event: {
    symbol,
    event_type: 'PRICE_UPDATE',
    priority: 'LOW',
    data: { change_percent: move, volatility: Math.abs(move) * 1.3, volume_ratio: 1 },
    timestamp: new Date(T0 + hour * HOUR).toISOString(),
  },
});

/** `count` bars whose moves cycle between −size and +size (a quiet or a volatile history). */
async function seed(app: TestApp, symbol: string, count: number, size: number): Promise<void> {
  for (let h = 0; h < count; h++) {
    const move = Number((size * (0.6 + (0.8 * ((h * 7) % 10)) / 10) * (h % 2 ? -1 : 1)).toFixed(2));
    const res = await app.request('POST', '/ai/events', bar(symbol, h, move));
    expect(res.status).toBe(200);
  }
}

const setThresholds = (app: TestApp, body: unknown) =>
  app.request('POST', '/ai-cost/event-thresholds', body, ADMIN_KEY);

describe('Adaptive event priority', () => {
  let deepseek: FakeLlm;
  const apps: TestApp[] = [];

  beforeEach(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterEach(async () => {
    while (apps.length > 0) await (apps.pop() as TestApp).close();
    await deepseek.close();
  });

  const start = async (env: Record<string, string | undefined> = {}, prefix?: string) => {
    const app = await startTestApp({
      env: { ...providerEnv({ deepseek }), ...env },
      clock: new ManualClock(T0 + 1000 * HOUR),
      prefix,
    });
    apps.push(app);
    return app;
  };

  it('ranks a 2.5% move CRITICAL on a quiet symbol and LOW on a volatile one, where static says CRITICAL', async () => {
    const bastion = await start();
    const on = await setThresholds(bastion, ADAPTIVE);
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ ...ADAPTIVE, adaptive_scope: 'symbol', price_change_pct: 2 });

    await seed(bastion, 'QUIET/USDT', 60, 0.3);
    await seed(bastion, 'WILD/USDT', 60, 3);

    const quiet = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 60, 2.5));
    expect(quiet.status).toBe(200);
    expect(quiet.body.metadata.ai_called).toBe(true);
    expect(quiet.body.metadata.event).toMatchObject({
      priority: 'CRITICAL',
      declared_priority: 'LOW',
      priority_mode: 'adaptive',
      decision: 'call',
      percentiles: { move: 100, range: 100 },
    });
    expect(quiet.body.metadata.event.raised_by).toEqual([
      "return 2.5% at the 100th percentile of QUIET/USDT's last 60",
    ]);

    const wild = await bastion.request('POST', '/ai/events', bar('WILD/USDT', 60, -2.5));
    expect(wild.body.metadata.event).toMatchObject({
      priority: 'LOW',
      priority_mode: 'adaptive',
      raised_by: [],
      decision: 'batched',
    });
    expect(wild.body.metadata.event.percentiles.move).toBeLessThan(50);

    // The same bar sent by a second agent is ranked against the same window (it is not counted twice).
    const again = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 60, 2.5, 'signal_probe'));
    expect(again.body.metadata.event.raised_by).toEqual([
      "return 2.5% at the 100th percentile of QUIET/USDT's last 60",
    ]);

    // The static thresholds, still available, rank the volatile symbol's ordinary move CRITICAL (2.5% ≥ 2%,
    // range 3.25% > 1.5%).
    expect((await setThresholds(bastion, { priority_mode: 'static' })).status).toBe(200);
    const fixed = await bastion.request('POST', '/ai/events', bar('WILD/USDT', 61, -2.5));
    expect(fixed.body.metadata.event).toMatchObject({
      priority: 'CRITICAL',
      priority_mode: 'static',
      raised_by: ['price move 2.5% ≥ 2%', 'volatility 3.25% > 1.5%'],
    });
  });

  it('ranks against every symbol of the tenant in the global scope, and waits for enough history', async () => {
    const bastion = await start();
    await setThresholds(bastion, { ...ADAPTIVE, adaptive_scope: 'global' });
    await seed(bastion, 'QUIET/USDT', 30, 0.3);
    // 30 observations: not enough yet, the static rules decide and say why.
    const early = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 30, 2.5));
    expect(early.body.metadata.event).toMatchObject({
      priority: 'CRITICAL',
      priority_mode: 'static',
      priority_fallback: 'warming_up (30 of 40)',
    });
    await seed(bastion, 'WILD/USDT', 60, 3);
    // Against all symbols (quiet and volatile together), 2.5% is no longer rare.
    const later = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 61, 2.5));
    expect(later.body.metadata.event).toMatchObject({ priority: 'LOW', priority_mode: 'adaptive' });
  });

  it('switches at run time across two instances and refuses bad settings naming the field', async () => {
    const a = await start();
    const b = await start({}, a.prefix);
    // Seeded in static mode: the windows fill anyway, so the switch ranks at once.
    await seed(a, 'QUIET/USDT', 45, 0.3);

    expect((await setThresholds(a, ADAPTIVE)).status).toBe(200);
    await sleep(1100); // an instance reads the settings again when its copy is a second old
    const onB = await b.request('POST', '/ai/events', bar('QUIET/USDT', 45, 1.2));
    expect(onB.body.metadata.event).toMatchObject({ priority: 'CRITICAL', priority_mode: 'adaptive' });
    expect((await b.request('GET', '/ai-cost/event-thresholds')).body.priority_mode).toBe('adaptive');

    expect((await setThresholds(b, { priority_mode: 'static' })).status).toBe(200);
    await sleep(1100);
    const onA = await a.request('POST', '/ai/events', bar('QUIET/USDT', 46, 1.2));
    // static: 1.2% < 2%, but the range 1.56% > 1.5% raises it one step
    expect(onA.body.metadata.event).toMatchObject({ priority: 'MEDIUM', priority_mode: 'static' });

    const bad = await setThresholds(a, { priority_mode: 'fast', adaptive_scope: 'planet' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toEqual([
      'priority_mode must be one of: static, adaptive',
      'adaptive_scope must be one of: symbol, global',
    ]);
    const order = await setThresholds(a, { adaptive_high_pct: 99.9 });
    expect(order.status).toBe(400);
    expect(order.body.message).toEqual([
      'adaptive_high_pct must keep adaptive_high_pct (99.9) ≤ adaptive_critical_pct (99.5)',
    ]);
    const window = await setThresholds(a, { adaptive_window: 30 });
    expect(window.status).toBe(400);
    expect(window.body.message).toEqual([
      'adaptive_window must keep adaptive_min_history (40) ≤ adaptive_window (30)',
    ]);
    const range = await setThresholds(a, { adaptive_window: 5.5 });
    expect(range.body.message).toEqual(['adaptive_window must be an integer between 20 and 10000']);
    expect((await a.request('GET', '/ai-cost/event-thresholds')).body.priority_mode).toBe('static');
  });

  it('falls back to the static thresholds with no 5xx while Redis is down', async () => {
    const redis = new DisposableRedis(randomPort());
    await redis.start();
    try {
      const bastion = await start({ REDIS_URL: redis.url });
      await setThresholds(bastion, ADAPTIVE);
      await seed(bastion, 'QUIET/USDT', 45, 0.3);
      await redis.kill();
      const quiet = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 45, 1.2));
      expect(quiet.status).toBe(200);
      expect(quiet.body.metadata.ai_called).toBe(true);
      expect(quiet.body.metadata.event).toMatchObject({
        priority: 'MEDIUM', // static: 1.2% < 2%, the range 1.56% > 1.5% one step up
        priority_mode: 'static',
        priority_fallback: 'store_unavailable',
      });
      const big = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 46, 4.5));
      expect(big.status).toBe(200);
      expect(big.body.metadata.ai_called).toBe(true);
      expect(big.body.metadata.event).toMatchObject({
        priority: 'CRITICAL',
        priority_mode: 'static',
        raised_by: ['price move 4.5% ≥ 4%'],
        priority_fallback: 'store_unavailable',
      });
      // Redis back, empty (this one keeps nothing on disk): the settings are set again and a new window fills.
      await redis.start();
      await waitFor(
        async () => (await setThresholds(bastion, ADAPTIVE)).status === 200,
        10_000,
        'the settings could not be written once Redis was back',
      );
      const after = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 47, 1.2));
      expect(after.body.metadata.event).toMatchObject({
        priority_mode: 'static',
        priority_fallback: 'warming_up (0 of 40)',
      });
      // Queued counters are written before the app stops, so it stops while Redis is up.
      await (apps.pop() as TestApp).close();
    } finally {
      await redis.kill();
    }
  }, 60_000);

  it('works on the embedded store', async () => {
    const bastion = await start({ REDIS_URL: undefined });
    await setThresholds(bastion, ADAPTIVE);
    await seed(bastion, 'QUIET/USDT', 45, 0.3);
    const quiet = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 45, 1.2));
    expect(quiet.body.metadata.event).toMatchObject({ priority: 'CRITICAL', priority_mode: 'adaptive' });
    const ordinary = await bastion.request('POST', '/ai/events', bar('QUIET/USDT', 46, 0.25));
    expect(ordinary.body.metadata.event).toMatchObject({ priority: 'LOW', priority_mode: 'adaptive' });
  });
});

import { ManualClock } from '../src/common/clock.js';
import { ANOMALY_SYSTEM_PROMPT } from '../src/agents/anomaly-detector/anomaly-detector.service.js';
import { TelemetryService } from '../src/agents/bot-telemetry/telemetry.service.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');
const MIN = 60_000;
/** A bot of the default tenant (the tests' keys name no tenant). */
const defaultBot = (botId: string) => ({ tenant: 'default', botId });
const iso = (ms: number) => new Date(ms).toISOString();
const RANK = { low: 0, medium: 1, high: 2, critical: 3 } as const;

interface AnomalyBody {
  anomaly_type: string;
  severity: keyof typeof RANK;
  recommended_action: string;
  ai_enhanced: boolean;
}

const orders = (n: number, latency: number, start = T0 - 30 * MIN) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'order',
    timestamp: iso(start + i * 1000),
    latency_ms: latency + (i % 3) * 10,
  }));

describe('Bot telemetry and the anomaly detector (HTTP, real Redis, fake DeepSeek)', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  const clock = new ManualClock(T0);

  beforeAll(async () => {
    deepseek = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      reply: () =>
        'Likely an exchange-side slowdown; check the venue status page and your rate-limit headers.',
    });
    bastion = await startTestApp({ env: providerEnv({ deepseek }), clock });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });
  beforeEach(() => {
    clock.set(T0);
    deepseek.reset();
  });

  const send = (bot: string, events: unknown[]) =>
    bastion.request('POST', `/bots/${bot}/telemetry`, { user_id: 1, events });
  const detect = (bot: string, extra: Record<string, unknown> = {}) =>
    bastion.request('POST', '/agents/anomaly-detector/detect', {
      user_id: 1,
      bot_id: bot,
      timeframe_minutes: 60,
      ...extra,
    });
  const anomaly = (body: { anomalies: AnomalyBody[] }, type: string) =>
    body.anomalies.find((a) => a.anomaly_type === type);

  it('stores a valid batch and answers what it accepted per type', async () => {
    const res = await send('bot-mixed', [
      {
        type: 'trade',
        timestamp: iso(T0 - MIN),
        pnl: 3.5,
        symbol: 'BTC/USDT',
        side: 'buy',
        slippage_bps: 1.2,
      },
      { type: 'order', timestamp: iso(T0 - MIN), latency_ms: 120 },
      { type: 'error', timestamp: iso(T0 - MIN), message: 'rate limited', code: -1003 },
      { type: 'heartbeat', timestamp: iso(T0 - 10_000), interval_seconds: 30 },
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      accepted: 4,
      expired: 0,
      bot_id: 'bot-mixed',
      counts: { trade: 1, order: 1, error: 1, heartbeat: 1 },
    });
    const body = (await detect('bot-mixed')).body;
    expect(body).toMatchObject({
      bot_id: 'bot-mixed',
      user_id: 1,
      window: { from: iso(T0 - 60 * MIN), to: iso(T0), minutes: 60 },
      telemetry: {
        trades: 1,
        orders: 1,
        errors: 1,
        last_heartbeat: iso(T0 - 10_000),
        heartbeat_interval_seconds: 30,
      },
      anomaly_score: 0,
      anomalies: [],
      ai_enhanced: false,
      ai_reason: 'no_anomalies',
    });
  });

  it('raises a loss streak after six losing trades in a row, with the rule action pause_trading', async () => {
    const trades = [5, -1, -2, -3, -1, -4, -2].map((pnl, i) => ({
      type: 'trade',
      timestamp: iso(T0 - 50 * MIN + i * MIN),
      pnl,
    }));
    expect((await send('bot-losses', trades)).body).toMatchObject({ accepted: 7, counts: { trade: 7 } });
    const body = (await detect('bot-losses', { include_ai: false })).body;
    expect(anomaly(body, 'loss_streak')).toMatchObject({
      value: 6,
      threshold: 5,
      recommended_action: 'pause_trading',
      ai_enhanced: false,
    });
    expect(body.ai_reason).toBe('not_requested');
  });

  it('rates order latencies around 8,000 ms more severe than around 5,500 ms', async () => {
    await send('bot-slow', orders(10, 8000));
    await send('bot-sluggish', orders(10, 5500));
    const slow = anomaly((await detect('bot-slow', { include_ai: false })).body, 'latency')!;
    const sluggish = anomaly((await detect('bot-sluggish', { include_ai: false })).body, 'latency')!;
    expect(slow.recommended_action).toBe('reduce_order_rate');
    expect(RANK[slow.severity]).toBeGreaterThan(RANK[sluggish.severity]);
  });

  it('raises a stale-bot anomaly after twice the declared heartbeat interval, not before', async () => {
    const beat = T0 - 10 * MIN;
    // The newest heartbeat wins even when an older one arrives later.
    await send('bot-quiet', [{ type: 'heartbeat', timestamp: iso(beat), interval_seconds: 60 }]);
    await send('bot-quiet', [{ type: 'heartbeat', timestamp: iso(beat - 5 * MIN) }]);
    clock.set(beat + 90_000);
    expect((await detect('bot-quiet', { include_ai: false })).body.anomalies).toEqual([]);
    clock.set(beat + 120_000);
    const body = (await detect('bot-quiet', { include_ai: false })).body;
    expect(body.anomalies).toEqual([
      expect.objectContaining({
        anomaly_type: 'stale_heartbeat',
        value: 120,
        recommended_action: 'restart_bot',
      }),
    ]);
  });

  it('asks the model only when the anomaly score reaches THRESHOLD 0.7; the model never changes an action', async () => {
    await send('bot-mild', orders(10, 5300, T0 - 5 * MIN));
    const mild = (await detect('bot-mild')).body;
    expect(mild.anomaly_score).toBeLessThan(0.7);
    expect(mild).toMatchObject({ ai_enhanced: false, ai_reason: 'sampled_out' });
    expect(mild.ai_explanation).toBeUndefined();
    expect(deepseek.calls).toHaveLength(0);

    await send('bot-crawl', orders(10, 8200));
    const severe = (await detect('bot-crawl')).body;
    expect(severe.anomaly_score).toBeGreaterThanOrEqual(0.7);
    expect(severe).toMatchObject({ ai_enhanced: true, ai_reason: 'called' });
    expect(severe.ai_explanation).toMatch(/exchange-side slowdown/);
    expect(anomaly(severe, 'latency')).toMatchObject({
      severity: 'critical',
      recommended_action: 'reduce_order_rate',
      ai_enhanced: true,
    });
    expect(deepseek.calls).toHaveLength(1);
    // The static, versioned system prompt leads; the anomalies come later, in the user message.
    const messages = deepseek.calls[0].body.messages;
    expect(messages[0]).toEqual({ role: 'system', content: ANOMALY_SYSTEM_PROMPT });
    expect(String(messages[1].content)).toContain('"anomaly_type":"latency"');

    // Same anomalies again: the explanation comes from the response cache, no second upstream call.
    const again = (await detect('bot-crawl')).body;
    expect(again).toMatchObject({ ai_enhanced: true, ai_reason: 'response_cache' });
    expect(deepseek.calls).toHaveLength(1);
  });

  it('still answers every anomaly, with ai_enhanced false, when the model fails', async () => {
    deepseek.inject({ kind: 'status', status: 500 });
    await send('bot-broken', orders(10, 9100));
    const res = await detect('bot-broken');
    expect(res.status).toBe(200);
    expect(deepseek.calls.length).toBeGreaterThan(0);
    expect(anomaly(res.body, 'latency')).toMatchObject({
      severity: 'critical',
      recommended_action: 'reduce_order_rate',
      ai_enhanced: false,
    });
    expect(res.body.ai_enhanced).toBe(false);
    expect(res.body.ai_reason).toBe('provider_unavailable');
    expect(res.body.ai_explanation).toBeUndefined();
    deepseek.clearFaults();
  });

  it('rejects invalid telemetry with a 400 that names the event and the field', async () => {
    const message = async (bot: string, events: unknown[]) => {
      const res = await send(bot, events);
      expect(res.status).toBe(400);
      return JSON.stringify(res.body.message);
    };
    expect(
      await message('bot-x', [
        { type: 'order', timestamp: iso(T0), latency_ms: 5 },
        { type: 'trade', timestamp: iso(T0) },
      ]),
    ).toMatch(/events\.1\.pnl is required on a trade/);
    expect(await message('bot-x', [{ type: 'fill', timestamp: iso(T0) }])).toMatch(
      /events\.0\.type must be one of/,
    );
    expect(await message('bot-x', [{ type: 'order', timestamp: iso(T0), latency_ms: -1 }])).toMatch(
      /events\.0\.latency_ms must be at least 0/,
    );
    expect(await message('bot-x', [{ type: 'error', timestamp: iso(T0) }])).toMatch(
      /events\.0\.message is required on an error/,
    );
    expect(await message('bot-x', [{ type: 'error', timestamp: iso(T0), message: 'x'.repeat(501) }])).toMatch(
      /events\.0\.message must be at most 500/,
    );
    expect(await message('bot-x', [{ type: 'heartbeat', timestamp: 'yesterday' }])).toMatch(
      /events\.0\.timestamp must be an ISO 8601/,
    );
    expect(await message('bot-x', [{ type: 'heartbeat', timestamp: iso(T0 + 3_600_000) }])).toMatch(
      /events\.0\.timestamp is more than 300 s in the future/,
    );
    expect(
      await message(
        'bot-x',
        Array.from({ length: 1001 }, () => ({ type: 'heartbeat', timestamp: iso(T0) })),
      ),
    ).toMatch(/events must contain at most 1000 events/);
    expect(await message('bot-x', [])).toMatch(/events must contain at least 1 event/);
    expect(await message('bad%20id!', [{ type: 'heartbeat', timestamp: iso(T0) }])).toMatch(/bot_id must be/);
    expect(await message('b'.repeat(65), [{ type: 'heartbeat', timestamp: iso(T0) }])).toMatch(
      /bot_id must be/,
    );

    const badDetect = await detect('bad.id', { timeframe_minutes: 0 });
    expect(badDetect.status).toBe(400);
    expect(JSON.stringify(badDetect.body.message)).toMatch(
      /bot_id must be.*timeframe_minutes must be at least 1/,
    );
    const tooLong = await detect('bot-x', { timeframe_minutes: 10_081 });
    expect(JSON.stringify(tooLong.body.message)).toMatch(/timeframe_minutes must be at most 10080/);
  });

  it('keeps retention bounded: the newest 5,000 entries per series and nothing older than 7 days', async () => {
    const telemetry = bastion.app.get(TelemetryService);
    const start = T0 - 2 * 3_600_000;
    for (let batch = 0; batch < 6; batch++) {
      const res = await send(
        'bot-busy',
        Array.from({ length: 1000 }, (_, i) => ({
          type: 'order',
          timestamp: iso(start + (batch * 1000 + i) * 100),
          latency_ms: 100,
        })),
      );
      expect(res.status).toBe(200);
      expect(await telemetry.count(defaultBot('bot-busy'), 'order')).toBeLessThanOrEqual(5000);
    }
    expect(await telemetry.count(defaultBot('bot-busy'), 'order')).toBe(5000);
    // The oldest 1,000 were dropped, not the newest.
    const window = await telemetry.window(defaultBot('bot-busy'), 0, T0);
    expect(window.orders[0].at).toBe(start + 1000 * 100);

    // An event older than the retention is valid but not stored; the age trim also runs on later writes.
    const res = await send('bot-old', [
      { type: 'trade', timestamp: iso(T0 - 8 * 86_400_000), pnl: 1 },
      { type: 'trade', timestamp: iso(T0 - 6 * 86_400_000), pnl: 2 },
    ]);
    expect(res.body).toMatchObject({ accepted: 1, expired: 1, counts: { trade: 1 } });
    expect(await telemetry.count(defaultBot('bot-old'), 'trade')).toBe(1);
    clock.advance(2 * 86_400_000);
    await send('bot-old', [{ type: 'trade', timestamp: iso(T0 + 2 * 86_400_000 - MIN), pnl: 3 }]);
    expect(await telemetry.count(defaultBot('bot-old'), 'trade')).toBe(1);
  });
});

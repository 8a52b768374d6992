import { ManualClock } from '../src/common/clock.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe('Bot telemetry and the anomaly detector', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  const clock = new ManualClock(T0);

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }), clock });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
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

  it('raises a loss streak after six losing trades in a row, with a rule-based action', async () => {
    const trades = [5, -1, -2, -3, -1, -4, -2].map((pnl, i) => ({
      type: 'trade',
      timestamp: iso(T0 - 50 * 60_000 + i * 60_000),
      pnl,
    }));
    expect((await send('bot-losses', trades)).body).toMatchObject({ accepted: 7, counts: { trade: 7 } });
    const res = (await detect('bot-losses', { include_ai: false })).body;
    const streak = res.anomalies.find((a: { anomaly_type: string }) => a.anomaly_type === 'loss_streak');
    expect(streak).toMatchObject({
      value: 6,
      threshold: 5,
      recommended_action: 'pause_trading',
      ai_enhanced: false,
    });
  });

  it('rates order latencies around 8,000 ms more severe than around 5,500 ms', async () => {
    const orders = (ms: number) =>
      Array.from({ length: 10 }, (_, i) => ({
        type: 'order',
        timestamp: iso(T0 - 30 * 60_000 + i * 1000),
        latency_ms: ms + (i % 3) * 10,
      }));
    await send('bot-slow', orders(8000));
    await send('bot-sluggish', orders(5500));
    const rank = { low: 0, medium: 1, high: 2, critical: 3 } as const;
    const sev = async (bot: string) =>
      (await detect(bot, { include_ai: false })).body.anomalies.find(
        (a: { anomaly_type: string }) => a.anomaly_type === 'latency',
      ).severity as keyof typeof rank;
    const slow = await sev('bot-slow');
    const sluggish = await sev('bot-sluggish');
    expect(rank[slow]).toBeGreaterThan(rank[sluggish]);
  });

  it('raises a stale-bot anomaly after twice the heartbeat interval', async () => {
    await send('bot-quiet', [{ type: 'heartbeat', timestamp: iso(T0 - 10 * 60_000), interval_seconds: 60 }]);
    clock.set(T0 - 10 * 60_000 + 90_000); // 90 s: still fine
    expect((await detect('bot-quiet', { include_ai: false })).body.anomalies).toEqual([]);
    clock.set(T0 - 10 * 60_000 + 120_000); // twice the interval
    const res = (await detect('bot-quiet', { include_ai: false })).body;
    expect(res.anomalies[0]).toMatchObject({
      anomaly_type: 'stale_heartbeat',
      recommended_action: 'restart_bot',
    });
    clock.set(T0);
  });

  it('asks the model only when the anomaly score reaches the THRESHOLD strategy (0.7), and survives a failing model', async () => {
    deepseek.reset();
    await send(
      'bot-mild',
      Array.from({ length: 10 }, (_, i) => ({
        type: 'order',
        timestamp: iso(T0 - 5 * 60_000 + i),
        latency_ms: 5300,
      })),
    );
    const mild = (await detect('bot-mild')).body;
    expect(mild.anomaly_score).toBeLessThan(0.7);
    expect(mild.ai_reason).toBe('sampled_out');
    expect(deepseek.calls).toHaveLength(0);
    const severe = (await detect('bot-slow')).body;
    expect(severe.anomaly_score).toBeGreaterThanOrEqual(0.7);
    expect(severe).toMatchObject({ ai_enhanced: true, ai_reason: 'called' });
    expect(
      severe.anomalies.every((a: { recommended_action: string }) => a.recommended_action.length > 0),
    ).toBe(true);
    expect(deepseek.calls).toHaveLength(1);
    deepseek.inject({ kind: 'status', status: 500 });
    const failing = (await detect('bot-losses')).body;
    expect(failing.anomalies.length).toBeGreaterThan(0);
    expect(failing.ai_enhanced).toBe(false);
    deepseek.clearFaults();
  });

  it('rejects invalid telemetry with a 400 naming the problem and keeps retention bounded', async () => {
    const noPnl = await send('bot-x', [{ type: 'trade', timestamp: iso(T0) }]);
    expect(noPnl.status).toBe(400);
    expect(JSON.stringify(noPnl.body.message)).toMatch(/events\.0\.pnl is required on a trade/);
    expect((await send('bot-x', [{ type: 'fill', timestamp: iso(T0) }])).status).toBe(400);
    expect((await send('bad id!', [{ type: 'heartbeat', timestamp: iso(T0) }])).status).toBe(400);
    const tooMany = await send(
      'bot-x',
      Array.from({ length: 1001 }, () => ({ type: 'heartbeat', timestamp: iso(T0) })),
    );
    expect(tooMany.status).toBe(400);
    for (let batch = 0; batch < 6; batch++) {
      const res = await send(
        'bot-busy',
        Array.from({ length: 1000 }, (_, i) => ({
          type: 'order',
          timestamp: iso(T0 - 3_600_000 + batch * 1000 + i),
          latency_ms: 100,
        })),
      );
      expect(res.status).toBe(200);
    }
    const stored = await bastion.redis.client.zcard(bastion.redis.keys.botEvents('bot-busy', 'order'));
    expect(stored).toBe(5000);
  });
});

import { ManualClock } from '../src/common/clock.js';
import { BatchFlusher } from '../src/ai-optimization/events/batch-flusher.service.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';
import { lowEvent } from './support/events.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');

describe('Event gate and batching', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let clock: ManualClock;

  beforeEach(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    clock = new ManualClock(T0);
    bastion = await startTestApp({ env: providerEnv({ deepseek }), clock });
  });
  afterEach(async () => {
    await bastion.close();
    await deepseek.close();
  });

  const post = (body: unknown) => bastion.request('POST', '/ai/events', body);
  const batch = async (id: string) => (await bastion.request('GET', `/ai/batches/${id}`)).body;
  const flush = () => bastion.app.get(BatchFlusher).flushDue();

  it('answers 15 LOW events with one call at the tenth and one more when the rest time out', async () => {
    const answers = [];
    for (let i = 1; i <= 15; i++) answers.push(await post(lowEvent(i)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.metadata).toMatchObject({ ai_called: false, reason: 'batched' });
      expect(a.body.metadata.event).toMatchObject({ decision: 'batched', priority: 'LOW' });
    }
    const first = answers[0].body.metadata.event.batch_id;
    const second = answers[10].body.metadata.event.batch_id;
    expect(answers.slice(0, 10).every((a) => a.body.metadata.event.batch_id === first)).toBe(true);
    expect(answers.slice(10).every((a) => a.body.metadata.event.batch_id === second)).toBe(true);
    expect(answers.map((a) => a.body.metadata.event.position)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5,
    ]);

    await waitFor(
      async () => (await batch(first)).status === 'done',
      5000,
      'the full batch was not answered',
    );
    expect(deepseek.calls).toHaveLength(1);
    expect(deepseek.calls[0].body.messages.at(-1)?.content).toMatch(
      /Events \(10\):\n1\. .*BTC\/USDT PRICE_UPDATE/,
    );

    expect(await flush()).toBe(0); // the five left are not due yet
    expect((await batch(second)).status).toBe('open');
    clock.advance(300_000);
    expect(await flush()).toBe(1);
    expect(deepseek.calls).toHaveLength(2);

    for (const id of [first, second]) {
      const view = await batch(id);
      expect(view.status).toBe('done');
      expect(view.answer.response).toMatch(/^Answer #/);
      expect(view.events.every((e: { answer: string }) => e.answer === view.answer.response)).toBe(true);
    }
    expect((await batch(first)).events).toHaveLength(10);
    expect((await batch(second)).events).toHaveLength(5);
    expect(await flush()).toBe(0); // answered once: nothing flushes again
    expect(deepseek.calls).toHaveLength(2);

    const stats = (await bastion.request('GET', '/ai-cost/event-stats')).body;
    expect(stats).toMatchObject({
      total_events: 15,
      batched: 15,
      batches_flushed: 2,
      batched_events_answered: 15,
      upstream_calls: 2,
    });
    expect(stats.upstream_calls).toBe(deepseek.completedCalls());
    expect(stats.reduction_percent).toBeCloseTo((1 - 2 / 15) * 100, 3);
  });

  it('answers 20 LOW price updates with at most two upstream calls and reports the reduction', async () => {
    for (let i = 1; i <= 20; i++) await post(lowEvent(i));
    await waitFor(
      () => Promise.resolve(deepseek.completedCalls() === 2),
      5000,
      'two full batches were not answered',
    );
    clock.advance(400_000);
    await flush();
    expect(deepseek.calls.length).toBeLessThanOrEqual(2);
    const stats = (await bastion.request('GET', '/ai-cost/event-stats')).body;
    expect(stats.by_type.PRICE_UPDATE).toBe(20);
    expect(stats.reduction_percent).toBe(90);
    const overall = (await bastion.request('GET', '/ai-cost/stats')).body;
    expect(overall.overall.total_calls).toBe(deepseek.completedCalls());
    expect(overall.batching.batches_flushed).toBe(2);
    expect(overall.batching.savings_usd).toBeGreaterThan(0);
  });

  it('answers CRITICAL fresh inside min_ai_interval, filters HIGH inside it and calls HIGH after it', async () => {
    const ev = (priority: string, data: Record<string, unknown> = {}) => ({
      agent_type: 'gate_probe',
      prompt: 'What now?',
      event: { symbol: 'ETH', event_type: 'LIQUIDATION', priority, data },
    });
    const high1 = await post(ev('HIGH'));
    expect(high1.body.metadata).toMatchObject({ reason: 'called', ai_called: true });
    expect(high1.body.metadata.event.decision).toBe('call');

    clock.advance(10_000);
    const high2 = await post(ev('HIGH'));
    expect(high2.body.metadata.reason).toBe('event_filtered');
    expect(high2.body.response).toBe(high1.body.response); // the last answer, with its age
    expect(high2.body.metadata.response_age_seconds).toBe(10);

    const critical = await post(ev('CRITICAL'));
    expect(critical.body.metadata).toMatchObject({ reason: 'called', ai_called: true });
    expect(deepseek.calls).toHaveLength(2);
    const critical2 = await post(ev('CRITICAL'));
    expect(critical2.body.metadata.reason).toBe('called'); // never from cache
    expect(deepseek.calls).toHaveLength(3);

    clock.advance(51_000);
    const high3 = await post(ev('HIGH'));
    expect(high3.body.metadata.reason).toBe('called');
    expect(deepseek.calls).toHaveLength(4);

    const stats = (await bastion.request('GET', '/ai-cost/event-stats')).body;
    expect(stats).toMatchObject({ called: 4, filtered: 1, upstream_calls: 4 });
    expect(stats.upstream_calls).toBe(deepseek.completedCalls());
  });

  it('treats a LOW PRICE_UPDATE with a large change_percent as HIGH', async () => {
    const res = await post(lowEvent(1, 'raise_probe', { data: { price: 97000, change_percent: 2.6 } }));
    expect(res.body.metadata.event).toMatchObject({
      priority: 'HIGH',
      declared_priority: 'LOW',
      decision: 'call',
    });
    expect(res.body.metadata.event.raised_by[0]).toMatch(/price move 2.6%/);
    expect(res.body.metadata.reason).toBe('called');
    const crit = await post(lowEvent(2, 'raise_probe', { data: { change_percent: -4.5 } }));
    expect(crit.body.metadata.event.priority).toBe('CRITICAL');
  });

  it('answers a LOW event from the response cache or the sampler before queueing it', async () => {
    const event = {
      symbol: 'SOL',
      event_type: 'FUNDING_RATE',
      data: { rate: 0.01 },
      timestamp: '2026-11-22T11:00:00Z',
    };
    const ask = (priority: string) =>
      post({ agent_type: 'lane_probe', prompt: 'Funding moved', event: { ...event, priority } });
    const high = await ask('HIGH'); // called; its answer is cached under the same request
    const low = await ask('LOW'); // the same event delivered again at LOW: the cache answers, nothing is queued
    expect(low.body.response).toBe(high.body.response);
    expect(low.body.metadata).toMatchObject({ reason: 'response_cache', cache_hit: true });
    expect(low.body.metadata.event).toMatchObject({ priority: 'LOW', decision: 'call' });

    const set = await bastion.request(
      'POST',
      '/ai-cost/sampling-strategy',
      { agent_type: 'lane_probe', strategy: 'PERIODIC', interval_seconds: 3600 },
      ADMIN_KEY,
    );
    expect(set.status).toBe(200);
    const queued = await post(lowEvent(1, 'lane_probe')); // the interval started with this event: queued
    expect(queued.body.metadata.reason).toBe('batched');
    clock.advance(60_000);
    const skipped = await post(lowEvent(2, 'lane_probe')); // inside the interval: sampled out, not queued
    expect(skipped.body.metadata).toMatchObject({ reason: 'sampled_out', ai_called: false });
    expect(skipped.body.metadata.event.decision).toBe('call');
    expect((await batch(queued.body.metadata.event.batch_id)).events).toHaveLength(1);

    expect(deepseek.calls).toHaveLength(1);
    const stats = (await bastion.request('GET', '/ai-cost/event-stats')).body;
    expect(stats).toMatchObject({
      called: 1,
      response_cache: 1,
      batched: 1,
      sampled_out: 1,
      upstream_calls: 1,
    });
  });

  it('sends events that ask the identical request (same question and inputs) to the model as one line', async () => {
    const ranging = { regime: 'ranging', adx_band: 'weak' };
    const trending = { regime: 'trending_up', adx_band: 'strong' };
    let batchId = '';
    for (let i = 1; i <= 10; i++) {
      const body = {
        ...lowEvent(i),
        prompt: 'Regime: what should the fleet run?',
        context: i <= 6 ? ranging : trending,
      };
      batchId = (await post(body)).body.metadata.event.batch_id;
    }
    await waitFor(
      async () => (await batch(batchId)).status === 'done',
      5000,
      'the full batch was not answered',
    );
    expect(deepseek.calls).toHaveLength(1);
    const sent = deepseek.calls[0].body.messages.at(-1)?.content;
    expect(sent).toMatch(/^Events \(10\) in 2 distinct requests:\n/);
    expect(sent).toContain('1. BTC/USDT PRICE_UPDATE ×6 from ');
    expect(sent).toContain('| inputs {"adx_band":"weak","regime":"ranging"}');
    expect(sent).toContain('2. BTC/USDT PRICE_UPDATE ×4 from ');
    expect(sent).toContain('latest {"change_percent":0.1,"price":97010}');
    expect(sent).toContain('Question for every event: Regime: what should the fleet run?');
    // Every event keeps what its caller sent, and gets the batch's answer.
    const view = await batch(batchId);
    expect(view.events).toHaveLength(10);
    expect(view.events.map((e: { context: unknown }) => e.context)).toEqual([
      ...Array(6).fill(ranging),
      ...Array(4).fill(trending),
    ]);
    expect(view.events.every((e: { answer: string }) => e.answer === view.answer.response)).toBe(true);
  });

  it("answers a batch with the model its events asked for and makes the answer its symbol's last answer", async () => {
    let batchId = '';
    for (let i = 1; i <= 10; i++)
      batchId = (await post({ ...lowEvent(i), model: 'deepseek-v4-pro' })).body.metadata.event.batch_id;
    await waitFor(
      async () => (await batch(batchId)).status === 'done',
      5000,
      'the full batch was not answered',
    );
    expect(deepseek.calls).toHaveLength(1);
    expect(deepseek.calls[0].body.model).toBe('deepseek-v4-pro');
    const batchAnswer = (await batch(batchId)).answer.response;
    expect(batchAnswer).toMatch(/^Answer #1 /);
    clock.advance(120_000);
    const next = await post(lowEvent(11)); // queued again; its placeholder is the batch's answer, 120 s old
    expect(next.body.metadata.reason).toBe('batched');
    expect(next.body.response).toBe(batchAnswer);
    expect(next.body.metadata).toMatchObject({ model: 'deepseek-v4-pro', response_age_seconds: 120 });
  });

  it('validates events and thresholds with a 400 naming the field', async () => {
    const bad = await post({
      ...lowEvent(1),
      event: { symbol: 'BTC', event_type: 'RUMOUR', priority: 'LOW' },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.message)).toMatch(/event_type must be one of/);
    const noEvent = await post({ agent_type: 'x', prompt: 'y' });
    expect(noEvent.status).toBe(400);
    const range = await bastion.request(
      'POST',
      '/ai-cost/event-thresholds',
      { batch_size: 0, price_change_pct: -1 },
      ADMIN_KEY,
    );
    expect(range.status).toBe(400);
    expect(JSON.stringify(range.body.message)).toMatch(/batch_size must be an integer between 1 and 1000/);
    expect(JSON.stringify(range.body.message)).toMatch(/price_change_pct must be a number between/);
    const unknown = await bastion.request('POST', '/ai-cost/event-thresholds', { batchsize: 5 }, ADMIN_KEY);
    expect(unknown.status).toBe(400);
    const botKey = await bastion.request('POST', '/ai-cost/event-thresholds', { batch_size: 5 });
    expect(botKey.status).toBe(403);
    const ok = await bastion.request('POST', '/ai-cost/event-thresholds', { batch_size: 5 }, ADMIN_KEY);
    expect(ok.body).toMatchObject({ batch_size: 5, price_change_pct: 2, min_ai_interval: 60 });
    expect((await bastion.request('GET', '/ai/batches/not-a-batch')).status).toBe(404);
  });
});

describe('Sampling strategies on /ai/call', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let clock: ManualClock;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    clock = new ManualClock(T0);
    bastion = await startTestApp({ env: providerEnv({ deepseek }), clock });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
  });

  const setStrategy = (body: Record<string, unknown>) =>
    bastion.request('POST', '/ai-cost/sampling-strategy', body, ADMIN_KEY);
  let n = 0;
  const call = (agent: string, extra: Record<string, unknown> = {}) =>
    bastion.request('POST', '/ai/call', {
      agent_type: agent,
      symbol: 'BTC',
      prompt: `question ${++n}`,
      ...extra,
    });
  const reasons = async (
    agent: string,
    count: number,
    stepMs: number,
    extra: (i: number) => Record<string, unknown> = () => ({}),
  ) => {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      out.push((await call(agent, extra(i))).body.metadata.reason);
      clock.advance(stepMs);
    }
    return out;
  };

  it('PERIODIC calls once per interval', async () => {
    expect(
      (await setStrategy({ agent_type: 'periodic_probe', strategy: 'PERIODIC', interval_seconds: 300 }))
        .status,
    ).toBe(200);
    expect(await reasons('periodic_probe', 7, 60_000)).toEqual([
      'called',
      'sampled_out',
      'sampled_out',
      'sampled_out',
      'sampled_out',
      'called',
      'sampled_out',
    ]);
  });

  it('the market regime agent on PERIODIC 300 s makes one call for ten analyses within a minute', async () => {
    const before = deepseek.calls.length;
    const out = await reasons('market_regime', 10, 5_000);
    expect(out.filter((r) => r === 'called')).toHaveLength(1);
    expect(deepseek.calls.length - before).toBe(1);
  });

  it('CHANGE_BASED calls when a feature moved by the threshold', async () => {
    await setStrategy({ agent_type: 'change_probe', strategy: 'CHANGE_BASED', threshold: 0.05 });
    const prices = [100, 101, 104, 106, 106, 109];
    expect(
      await reasons('change_probe', 6, 1000, (i) => ({ sampling_features: { price: prices[i] } })),
    ).toEqual(['called', 'sampled_out', 'sampled_out', 'called', 'sampled_out', 'sampled_out']);
  });

  it('THRESHOLD calls only for scores at or above the threshold', async () => {
    await setStrategy({ agent_type: 'threshold_probe', strategy: 'THRESHOLD', threshold: 0.7 });
    const scores = [0.2, 0.69, 0.7, 0.95];
    expect(await reasons('threshold_probe', 4, 1000, (i) => ({ score: scores[i] }))).toEqual([
      'sampled_out',
      'sampled_out',
      'called',
      'called',
    ]);
  });

  it('ALWAYS always calls and NEVER never does', async () => {
    await setStrategy({ agent_type: 'always_probe', strategy: 'ALWAYS' });
    await setStrategy({ agent_type: 'never_probe', strategy: 'NEVER' });
    expect(await reasons('always_probe', 3, 1000)).toEqual(['called', 'called', 'called']);
    expect(await reasons('never_probe', 3, 1000)).toEqual(['sampled_out', 'sampled_out', 'sampled_out']);
  });

  it('ADAPTIVE calls more often when volatility is higher', async () => {
    await setStrategy({
      agent_type: 'calm_probe',
      strategy: 'ADAPTIVE',
      min_interval_seconds: 60,
      max_interval_seconds: 600,
      volatility_scale: 5,
    });
    await setStrategy({
      agent_type: 'wild_probe',
      strategy: 'ADAPTIVE',
      min_interval_seconds: 60,
      max_interval_seconds: 600,
      volatility_scale: 5,
    });
    const calm = await reasons('calm_probe', 20, 60_000, () => ({ sampling_features: { volatility: 0.5 } }));
    clock.advance(3_600_000);
    const wild = await reasons('wild_probe', 20, 60_000, () => ({ sampling_features: { volatility: 6 } }));
    const calls = (r: string[]) => r.filter((x) => x === 'called').length;
    expect(calls(wild)).toBe(20);
    expect(calls(calm)).toBe(2); // interval 600 − 0.1 × 540 = 546 s: calls at 0 and 600 s
    const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
    expect(stats.sampling.adaptive_calls).toBe(22);
    expect(stats.sampling.by_agent.calm_probe).toMatchObject({
      calls: 2,
      sampled_out: 18,
      adaptive_calls: 2,
    });
  });

  it('sampling stats agree with the calls the upstream received', async () => {
    const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
    expect(stats.overall.total_calls).toBe(deepseek.completedCalls());
    expect(stats.sampling.calls_saved).toBe(stats.reasons.sampled_out);
    expect(stats.overall.total_requests).toBe(stats.overall.total_calls + stats.sampling.calls_saved);
    expect(stats.sampling.savings_usd).toBeGreaterThan(0);
  });

  it('rejects out-of-range strategy parameters with a 400 naming the field', async () => {
    const res = await setStrategy({
      agent_type: 'x_probe',
      strategy: 'ADAPTIVE',
      min_interval_seconds: 900,
      max_interval_seconds: 60,
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.message)).toMatch(
      /min_interval_seconds must not exceed max_interval_seconds/,
    );
    const bad = await setStrategy({ agent_type: 'x_probe', strategy: 'SOMETIMES', interval_seconds: -1 });
    expect(JSON.stringify(bad.body.message)).toMatch(
      /strategy must be one of[\s\S]*interval_seconds must be a number between 1/,
    );
  });
});

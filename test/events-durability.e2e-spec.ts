import { ManualClock } from '../src/common/clock.js';
import { BatchFlusher } from '../src/ai-optimization/events/batch-flusher.service.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, testStoreEnv, type TestApp } from './support/app.js';
import { buildOnce, ChildBastion } from './support/child-bastion.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';

const lowEvent = (i: number) => ({
  agent_type: 'durable_probe',
  prompt: `Low event ${i}`,
  event: { symbol: 'SOL', event_type: 'FUNDING_RATE', priority: 'LOW', data: { rate: 0.01 * i } },
});

describe('Queued events survive crashes and concurrent flushers', () => {
  // Compiling the server for the child processes takes a while on a loaded machine: not on the test's clock.
  beforeAll(() => buildOnce(), 180_000);
  let deepseek: FakeLlm;
  let child: ChildBastion | undefined;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterAll(async () => {
    await child?.kill();
    for (const app of apps.reverse()) await app.close();
    await deepseek.close();
  });

  it('answers every event exactly once after a SIGKILL before and during a flush', async () => {
    const prefix = `bastion-test:durable-${Date.now()}:`;
    const env = {
      ...providerEnv({ deepseek }),
      ...testStoreEnv(),
      REDIS_KEY_PREFIX: prefix,
      API_KEYS: BOT_KEY,
      ADMIN_API_KEYS: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'test',
    };
    child = new ChildBastion(env);
    await child.start();
    const post = async (path: string, body: unknown, key = BOT_KEY) => {
      const res = await fetch(`${child?.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    expect(
      (await post('/ai-cost/event-thresholds', { batch_size: 3, batch_timeout: 300 }, ADMIN_KEY)).status,
    ).toBe(200);

    // Batch 1 fills up and its flush hangs upstream; batch 2 stays open with two events. Then: SIGKILL.
    deepseek.inject({ kind: 'hang', times: 1 });
    const queued = [];
    for (let i = 1; i <= 5; i++) queued.push((await post('/ai/events', lowEvent(i))).body.metadata.event);
    await waitFor(
      () => Promise.resolve(deepseek.calls.length === 1),
      5000,
      'the full batch was not sent upstream',
    );
    await child.kill();
    const [first, second] = [queued[0].batch_id, queued[4].batch_id];
    expect(queued.map((q) => q.batch_id)).toEqual([first, first, first, second, second]);

    // A new process (in-process here, with a clock past the flush lease and the batch timeout) takes over.
    const clock = new ManualClock(Date.now() + 301_000);
    const survivor = await startTestApp({ env: providerEnv({ deepseek }), prefix, clock });
    apps.push(survivor);
    expect(await survivor.app.get(BatchFlusher).flushDue()).toBe(2);
    const view = async (id: string) => (await survivor.request('GET', `/ai/batches/${id}`)).body;
    const [b1, b2] = [await view(first), await view(second)];
    expect(b1).toMatchObject({ status: 'done', attempts: 2 });
    expect(b2).toMatchObject({ status: 'done', attempts: 1 });
    expect(b1.events.map((e: { prompt: string }) => e.prompt)).toEqual([
      'Low event 1',
      'Low event 2',
      'Low event 3',
    ]);
    expect(b2.events.map((e: { answer: string }) => e.answer)).toEqual([
      b2.answer.response,
      b2.answer.response,
    ]);
    expect(deepseek.completedCalls()).toBe(2);

    // Exactly once: flushing again answers nothing and calls nobody.
    expect(await survivor.app.get(BatchFlusher).flushDue()).toBe(0);
    expect(deepseek.calls).toHaveLength(3);
    expect((await view(first)).answer).toEqual(b1.answer);

    // Two instances draining the same due batch concurrently: one upstream call.
    const other = await startTestApp({ env: providerEnv({ deepseek }), prefix, clock });
    apps.push(other);
    for (let i = 6; i <= 7; i++) await survivor.request('POST', '/ai/events', lowEvent(i));
    clock.advance(301_000);
    const answered = await Promise.all([
      survivor.app.get(BatchFlusher).flushDue(),
      other.app.get(BatchFlusher).flushDue(),
    ]);
    expect(answered[0] + answered[1]).toBe(1);
    expect(deepseek.calls).toHaveLength(4);
    const stats = (await other.request('GET', '/ai-cost/event-stats')).body;
    expect(stats.batches_flushed).toBe(3);
    expect(stats.batched_events_answered).toBe(7);
  }, 60_000);

  it('a sampling change made through one instance applies on another at once', async () => {
    const [a, b] = [await startTestApp({ env: providerEnv({ deepseek }) }), undefined];
    apps.push(a);
    const second = b ?? (await startTestApp({ env: providerEnv({ deepseek }), prefix: a.prefix }));
    apps.push(second);
    const call = (app: TestApp, i: number) =>
      app.request('POST', '/ai/call', { agent_type: 'shared_probe', symbol: 'BTC', prompt: `q${i}` });
    expect((await call(second, 1)).body.metadata.reason).toBe('called'); // default ALWAYS
    await a.request(
      'POST',
      '/ai-cost/sampling-strategy',
      { agent_type: 'shared_probe', strategy: 'NEVER' },
      ADMIN_KEY,
    );
    expect((await call(second, 2)).body.metadata.reason).toBe('sampled_out');
    expect(
      (await second.request('GET', '/ai-cost/sampling-strategy?agent_type=shared_probe')).body.strategy,
    ).toBe('NEVER');
    await a.request('POST', '/ai-cost/event-thresholds', { min_ai_interval: 5 }, ADMIN_KEY);
    expect((await second.request('GET', '/ai-cost/event-thresholds')).body.min_ai_interval).toBe(5);
  });
});

import { toPico } from '../src/common/money.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

/**
 * `/ai/call` and `/v1` book a call (settle its cost, store its answer, record it) once the answer is on its
 * way. Nothing may be lost by that: a caller that asks right after its answer sees the call, and an instance
 * shut down right after answering has booked it all — the exact cost on the budget counters (not the
 * reservation's upper bound), the answer in the cache, the call in the ledger — before it stops.
 */
describe('A call booked after its answer is in the books', () => {
  let deepseek: FakeLlm;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
    await deepseek.close();
  });
  beforeEach(() => deepseek.reset());

  const start = async (prefix?: string): Promise<TestApp> => {
    const app = await startTestApp({ env: providerEnv({ deepseek }), prefix });
    apps.push(app);
    return app;
  };
  const daySpend = async (app: TestApp): Promise<bigint> => {
    const day = `day:${new Date().toISOString().slice(0, 10)}`;
    return BigInt((await app.redis.client.get(app.redis.keys.budgetSpend(day, 'global'))) ?? '0');
  };

  it('for a caller that asks right after its answer', async () => {
    const app = await start();
    const body = { agent_type: 'books_probe', symbol: 'BTC/USDT', prompt: 'Asked, then the books at once' };
    const answer = await app.request('POST', '/ai/call', body);
    expect(answer.body.metadata.reason).toBe('called');
    const [stats, again] = await Promise.all([
      app.request('GET', '/ai-cost/stats'),
      app.request('POST', '/ai/call', body),
    ]);
    expect(stats.body.overall.total_calls).toBe(1);
    expect(again.body.metadata.reason).toBe('response_cache');
    expect(await daySpend(app)).toBe(toPico(answer.body.metadata.cost_usd as number));
  });

  it('when the instance shuts down right after answering, on both doors', async () => {
    const first = await start();
    const aiCall = { agent_type: 'books_probe', symbol: 'ETH/USDT', prompt: 'Answered just before shutdown' };
    const v1 = {
      model: 'deepseek-v4-flash',
      messages: [{ role: 'user', content: 'Also just before shutdown' }],
    };
    const [a, b] = await Promise.all([
      first.request('POST', '/ai/call', aiCall),
      first.request('POST', '/v1/chat/completions', v1),
    ]);
    expect([a.status, b.status, b.headers.get('x-bastion-cache')]).toEqual([200, 200, 'MISS']);
    await first.close({ keepKeys: true });
    apps.splice(apps.indexOf(first), 1);

    const next = await start(first.prefix);
    const cost = (a.body.metadata.cost_usd as number) + Number(b.headers.get('x-bastion-cost-usd'));
    expect(await daySpend(next)).toBe(
      toPico(a.body.metadata.cost_usd as number) + toPico(Number(b.headers.get('x-bastion-cost-usd'))),
    );
    const stats = (await next.request('GET', '/ai-cost/stats')).body;
    expect(stats.overall.total_calls).toBe(2);
    expect(stats.overall.total_cost_usd).toBeCloseTo(cost, 12);
    const [againA, againB] = await Promise.all([
      next.request('POST', '/ai/call', aiCall),
      next.request('POST', '/v1/chat/completions', v1),
    ]);
    expect(againA.body.metadata.reason).toBe('response_cache');
    expect(againB.headers.get('x-bastion-cache')).toBe('HIT');
    expect(deepseek.calls).toHaveLength(2);
  });
});

import type { Cluster } from 'ioredis';
import { BudgetAlertsService } from '../src/cost-monitoring/alerts/budget-alerts.service.js';
import { CostLedger } from '../src/cost-monitoring/cost-ledger.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, ON_CLUSTER, scanKeys, startTestApp, type TestApp } from './support/app.js';
import { lowEvent } from './support/events.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { startReceiver, type Received } from './support/receiver.js';
import { waitFor } from './support/redis-server.js';

/**
 * Scale-out: two Bastion instances (two applications with nothing in memory in common) share one key prefix
 * on a local three-master Redis Cluster, as two replicas behind a load balancer would. Requests alternate
 * between them; what a single instance guarantees must hold across both. Runs in the jest "cluster" project.
 */
describe('Two instances on a three-master Redis Cluster', () => {
  let deepseek: FakeLlm;
  let webhook: Awaited<ReturnType<typeof startReceiver>>;
  let a: TestApp;
  let b: TestApp;
  /** Requests go to the instances in turn, as a round-robin balancer sends them. */
  const on = (i: number) => (i % 2 === 0 ? a : b);
  const today = () => new Date().toISOString().slice(0, 10);

  beforeAll(async () => {
    // Every upstream answer takes 500 ms: identical requests overlap, and reservations are all held at once.
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY, latencyMs: 500 });
    webhook = await startReceiver();
    const env = {
      ...providerEnv({ deepseek }),
      BUDGET_ENFORCEMENT: 'hard',
      ALERT_WEBHOOK_URL: `${webhook.url}/hook`,
    };
    a = await startTestApp({ env });
    b = await startTestApp({ env, prefix: a.prefix });
  }, 60_000);
  afterAll(async () => {
    await b?.close({ keepKeys: true });
    await a?.close();
    await webhook?.close();
    await deepseek?.close();
  });
  beforeEach(() => deepseek.reset());

  it('runs on the cluster, with the keys spread over its masters', async () => {
    expect(ON_CLUSTER).toBe(true);
    expect(a.redis.cluster && b.redis.cluster).toBe(true);
    // Conversations of different agents and symbols hash to different slots, so to different masters.
    await Promise.all(
      ['BTC', 'ETH', 'SOL', 'XRP', 'ADA', 'DOGE'].map((symbol, i) =>
        on(i).request('POST', '/ai/call', { agent_type: 'spread_probe', symbol, prompt: 'Trend?' }),
      ),
    );
    const masters = (a.redis.client as unknown as Cluster).nodes('master');
    expect(masters).toHaveLength(3);
    const perMaster = await Promise.all(
      masters.map(async (node) => (await node.scan('0', 'MATCH', `${a.prefix}ai:last:*`, 'COUNT', 1000))[1]),
    );
    expect(perMaster.filter((keys) => keys.length > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('/ai/call answers on both, and the second instance serves the answer the first one cached', async () => {
    const body = { agent_type: 'regime_probe', symbol: 'BTC/USDT', prompt: 'Analyze the BTC regime' };
    const first = await a.request('POST', '/ai/call', body);
    expect(first.status).toBe(200);
    expect(first.body.metadata).toMatchObject({ ai_called: true, reason: 'called' });
    const second = await b.request('POST', '/ai/call', body);
    expect(second.status).toBe(200);
    expect(second.body.response).toBe(first.body.response);
    expect(second.body.metadata).toMatchObject({
      ai_called: false,
      cache_hit: true,
      reason: 'response_cache',
    });
    expect(deepseek.calls).toHaveLength(1);
  });

  it('batches 10 LOW events sent to both instances into one upstream call', async () => {
    const answers = [];
    for (let i = 1; i <= 10; i++) {
      answers.push(await on(i).request('POST', '/ai/events', lowEvent(i)));
    }
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(answers.map((r) => r.body.metadata.reason)).toEqual(Array(10).fill('batched'));
    const id = answers[0].body.metadata.event.batch_id as string;
    expect(answers.every((r) => r.body.metadata.event.batch_id === id)).toBe(true);
    expect(answers.map((r) => r.body.metadata.event.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await waitFor(
      async () => (await b.request('GET', `/ai/batches/${id}`)).body.status === 'done',
      15_000,
      'the full batch was not answered',
    );
    const view = (await a.request('GET', `/ai/batches/${id}`)).body;
    expect(view.events).toHaveLength(10);
    expect(view.events.every((e: { answer: string }) => e.answer === view.answer.response)).toBe(true);
    expect(deepseek.calls).toHaveLength(1);
    expect(deepseek.calls[0].body.messages.at(-1)?.content).toMatch(/Events \(10\):/);
  });

  it('holds a hard budget under 200 concurrent calls over both instances: overshoot at most one reservation', async () => {
    const body = (i: number) => ({
      agent_type: 'budget_probe',
      prompt: `Distinct question ${String(i).padStart(4, '0')}`,
      max_tokens: 12,
    });
    // One call of the same shape, to learn what a call costs and what it reserves while it runs.
    const probe = b.request('POST', '/ai/call', { ...body(9999), agent_type: 'calibration' });
    let reservationPico = 0n;
    await waitFor(
      async () => {
        const markers = await scanKeys(a.redis, `${a.prefix}budget:{spend}:reservation:*`);
        for (const marker of markers) {
          const value = await a.redis.client.get(marker);
          if (value !== null && /^-\d+$/.test(value)) reservationPico = -BigInt(value);
        }
        return reservationPico > 0n;
      },
      10_000,
      'no reservation was seen while the calibration call ran',
    );
    const oneCall = (await probe).body.metadata.cost_usd as number;
    expect(oneCall).toBeGreaterThan(0);
    const budget = 10 * oneCall;
    const put = await a.request(
      'PUT',
      '/ai-cost/budgets',
      { agents: { budget_probe: { daily_budget_usd: budget } } },
      ADMIN_KEY,
    );
    expect(put.status).toBe(200);
    deepseek.reset();

    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => on(i).request('POST', '/ai/call', body(i))),
    );
    expect(results.filter((r) => r.status !== 200).map((r) => [r.status, r.body])).toEqual([]);
    const called = results.filter((r) => r.body.metadata.reason === 'called');
    const refused = results.filter((r) => r.body.metadata.reason === 'budget_exceeded');
    expect(called.length + refused.length).toBe(200);
    expect(called.length).toBeGreaterThanOrEqual(1);
    // Both instances were held to the one budget: each refused most of its hundred requests.
    for (const instance of [0, 1]) {
      const refusedHere = results.filter(
        (r, i) => i % 2 === instance && r.body.metadata.reason === 'budget_exceeded',
      );
      expect(refusedHere.length).toBeGreaterThanOrEqual(50);
    }
    expect(deepseek.calls).toHaveLength(called.length); // refused calls never reached the upstream

    // The shared counter holds exactly the settled costs, and exceeds the limit by no more than one reservation.
    const { toPico } = await import('../src/common/money.js');
    const limitPico = toPico(budget);
    const calledPico = called.reduce((sum, r) => sum + toPico(r.body.metadata.cost_usd as number), 0n);
    const counter = BigInt(
      (await a.redis.client.get(a.redis.keys.budgetSpend(`day:${today()}`, 'agent:budget_probe'))) ?? '0',
    );
    expect(counter).toBe(calledPico);
    expect(counter).toBeLessThanOrEqual(limitPico + reservationPico);
    // The ledger both instances write agrees.
    await Promise.all([a.app.get(CostLedger).flush(), b.app.get(CostLedger).flush()]);
    const agent = (await b.request('GET', '/ai-cost/agent-breakdown')).body.agents.budget_probe;
    expect(agent.calls).toBe(called.length);
    expect(toPico(agent.cost_usd as number)).toBe(calledPico);
  }, 60_000);

  it('makes one upstream call for 40 identical concurrent calls spread over both instances', async () => {
    const ask = { agent_type: 'coalesce_probe', symbol: 'ETH', prompt: 'Validate long ETH 3600' };
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => on(i).request('POST', '/ai/call', ask)),
    );
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(deepseek.calls).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.response)).size).toBe(1);
    expect(results.filter((r) => r.body.metadata.reason === 'called')).toHaveLength(1);
    // Both instances answered without a call of their own.
    for (const instance of [0, 1]) {
      expect(
        results.filter((r, i) => i % 2 === instance && r.body.metadata.ai_called === false).length,
      ).toBeGreaterThanOrEqual(19);
    }
    expect(await scanKeys(a.redis, `${a.prefix}*:inflight`)).toEqual([]);
  }, 60_000);

  it('sends each budget alert once while both instances run the check', async () => {
    // The global daily budget set below; the agent budget of the budget test may send its own alerts.
    const alerts = () =>
      webhook.received.filter((r: Received) => r.body.type === 'budget_alert' && r.body.scope === 'global');
    const sent = () => webhook.received.map((r: Received) => `${r.body.scope} ${r.body.threshold_percent}`);
    const checkBoth = async () => {
      for (let i = 0; i < 3; i++) {
        await Promise.all([
          a.app.get(BudgetAlertsService).runScheduledCheck(),
          b.app.get(BudgetAlertsService).runScheduledCheck(),
          a.app.get(BudgetAlertsService).check(),
          b.app.get(BudgetAlertsService).check(),
        ]);
      }
    };
    await Promise.all([a.app.get(CostLedger).flush(), b.app.get(CostLedger).flush()]);
    const spent = (await a.request('GET', '/ai-cost/budget-alert')).body.daily_cost_usd as number;
    expect(spent).toBeGreaterThan(0);
    await b.request('PUT', '/ai-cost/budgets', { daily_budget_usd: spent / 0.85 }, ADMIN_KEY); // 85% used
    await checkBoth();
    expect(alerts().map((r) => r.body.threshold_percent)).toEqual([80]);
    expect(alerts()[0].body).toMatchObject({ scope: 'global', period: 'daily', period_id: today() });

    await a.request('PUT', '/ai-cost/budgets', { daily_budget_usd: spent / 1.05 }, ADMIN_KEY); // 105% used
    await checkBoth();
    expect(alerts().map((r) => r.body.threshold_percent)).toEqual([80, 100]);
    expect(new Set(sent()).size).toBe(sent().length); // no alert of any scope was sent twice
  }, 60_000);
});

import { BatchFlusher } from '../src/ai-optimization/events/batch-flusher.service.js';
import { ManualClock } from '../src/common/clock.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';

/**
 * Two tenants on one Bastion: `API_KEYS=alpha:A1,alpha:A2,beta:B`. Keys of one tenant share cached answers,
 * last answers and batches (that is how a fleet saves); the other tenant never receives them, on any door,
 * and never reads the other's batch. The fake upstream quotes each prompt in its answer ("Answer #n to:
 * <prompt>"), so an answer that crossed tenants is visible in the text.
 */

const A1 = 'tenant-alpha-key-0001';
const A2 = 'tenant-alpha-key-0002';
const B = 'tenant-beta-key-0001';
const T0 = Date.parse('2026-11-22T12:00:00Z');

describe('Two tenants never see each other’s prompts or answers', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  const clock = new ManualClock(T0);

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        API_KEYS: `alpha:${A1},alpha:${A2},beta:${B}`,
        ADMIN_API_KEYS: ADMIN_KEY,
      },
      clock,
    });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });
  beforeEach(() => deepseek.reset());

  const call = (key: string, body: Record<string, unknown>) => bastion.request('POST', '/ai/call', body, key);
  const event = (key: string, body: Record<string, unknown>) =>
    bastion.request('POST', '/ai/events', body, key);
  const view = (decision: { body: any }) => ({
    status: 200,
    reason: decision.body?.metadata?.reason,
    response: decision.body?.response ?? null,
  });

  it('/ai/call: alpha’s keys share the response cache; beta’s identical request calls upstream and gets its own answer', async () => {
    const body = {
      agent_type: 'tenant_probe',
      symbol: 'BTC/USDT',
      prompt: 'Alpha and beta ask the very same thing',
      response_type: 'market_analysis',
    };
    const a1 = await call(A1, body);
    const a2 = await call(A2, body);
    const b1 = await call(B, body);
    const b2 = await call(B, body);
    expect([a1.status, a1.body.metadata.reason]).toEqual([200, 'called']);
    expect([a2.status, a2.body.metadata.reason, a2.body.response]).toEqual([
      200,
      'response_cache',
      a1.body.response,
    ]);
    expect([b1.status, b1.body.metadata.reason]).toEqual([200, 'called']);
    expect(b1.body.response).not.toBe(a1.body.response);
    expect([b2.body.metadata.reason, b2.body.response]).toEqual(['response_cache', b1.body.response]);
    expect(deepseek.calls).toHaveLength(2); // one per tenant
  });

  it('/ai/call: a sampled-out call answers with the tenant’s own last answer', async () => {
    // market_regime samples PERIODIC (300 s per agent and symbol): the second call of a tenant is skipped.
    const regime = (prompt: string) => ({ agent_type: 'market_regime', symbol: 'ETH/USDT', prompt });
    const a1 = await call(A1, regime('alpha-only regime question'));
    const a2 = await call(A2, regime('alpha asks again'));
    const b1 = await call(B, regime('beta regime question'));
    const b2 = await call(B, regime('beta asks again'));
    expect([a1.body.metadata.reason, a1.body.response]).toEqual([
      'called',
      expect.stringContaining('alpha-only'),
    ]);
    expect(view(a2)).toEqual({ status: a2.status, reason: 'sampled_out', response: a1.body.response });
    // Beta's first call is its own: alpha's sampling slot does not skip it, alpha's answer is not served.
    expect([b1.status, b1.body.metadata.reason]).toEqual([200, 'called']);
    expect(b1.body.response).toEqual(expect.stringContaining('beta regime question'));
    expect(view(b2)).toEqual({ status: b2.status, reason: 'sampled_out', response: b1.body.response });
    expect(deepseek.calls).toHaveLength(2);
  });

  it('/ai/events: a filtered HIGH event answers with the tenant’s own last answer', async () => {
    const high = (prompt: string) => ({
      agent_type: 'tenant_events',
      prompt,
      event: { symbol: 'SOL', event_type: 'LIQUIDATION', priority: 'HIGH' },
    });
    const a1 = await event(A1, high('alpha-only liquidation view'));
    const a2 = await event(A2, high('alpha liquidation again'));
    const b1 = await event(B, high('beta liquidation view'));
    const b2 = await event(B, high('beta liquidation again'));
    expect([a1.body.metadata.reason]).toEqual(['called']);
    expect(view(a2)).toEqual({ status: a2.status, reason: 'event_filtered', response: a1.body.response });
    expect([b1.status, b1.body.metadata.reason]).toEqual([200, 'called']); // beta's own min_ai_interval
    expect(b1.body.response).toEqual(expect.stringContaining('beta liquidation view'));
    expect(view(b2)).toEqual({ status: b2.status, reason: 'event_filtered', response: b1.body.response });
    expect(deepseek.calls).toHaveLength(2);
  });

  it('/ai/events: LOW events are batched per tenant, with the tenant’s last answer; another tenant’s batch is 404 to a bot key and readable by an admin key', async () => {
    const ev = (priority: 'HIGH' | 'LOW', prompt: string) => ({
      agent_type: 'tenant_batch',
      prompt,
      event: { symbol: 'XRP', event_type: 'PRICE_UPDATE', priority, data: { price: 0.5 } },
    });
    const alphaHigh = await event(A1, ev('HIGH', 'alpha-only xrp view'));
    expect(alphaHigh.body.metadata.reason).toBe('called');

    const aLow = await event(A2, ev('LOW', 'alpha-only quiet xrp tick'));
    const bLow = await event(B, ev('LOW', 'beta quiet xrp tick'));
    expect([aLow.body.metadata.reason, aLow.body.response]).toEqual(['batched', alphaHigh.body.response]);
    // Beta has no last answer of its own yet: none, and certainly not alpha's.
    expect([bLow.status, bLow.body.metadata.reason, bLow.body.response]).toEqual([200, 'batched', null]);
    const alphaBatch: string = aLow.body.metadata.event.batch_id;
    const betaBatch: string = bLow.body.metadata.event.batch_id;
    expect(betaBatch).not.toBe(alphaBatch);

    const read = async (key: string, id: string) => {
      const res = await bastion.request('GET', `/ai/batches/${id}`, undefined, key);
      return {
        status: res.status,
        prompts: (res.body?.events ?? []).map((e: { prompt: string }) => e.prompt),
      };
    };
    expect(await read(A1, alphaBatch)).toEqual({ status: 200, prompts: ['alpha-only quiet xrp tick'] });
    expect(await read(B, betaBatch)).toEqual({ status: 200, prompts: ['beta quiet xrp tick'] });
    expect((await read(B, alphaBatch)).status).toBe(404);
    expect((await read(A2, betaBatch)).status).toBe(404);
    expect(await read(ADMIN_KEY, alphaBatch)).toEqual({
      status: 200,
      prompts: ['alpha-only quiet xrp tick'],
    });
    expect(await read(ADMIN_KEY, betaBatch)).toEqual({ status: 200, prompts: ['beta quiet xrp tick'] });

    // Both batches time out and are answered, each by its own upstream call with its own tenant's events.
    deepseek.reset();
    clock.advance(301_000);
    expect(await bastion.app.get(BatchFlusher).flushDue()).toBe(2);
    const sent = deepseek.calls.map((c) => JSON.stringify(c.body.messages));
    expect(sent).toHaveLength(2);
    expect(sent.filter((m) => m.includes('alpha-only') && m.includes('beta quiet'))).toEqual([]);
    // The batch answer becomes the last answer of its own tenant only.
    const betaAnswer = (await bastion.request('GET', `/ai/batches/${betaBatch}`, undefined, B)).body.answer;
    const bNext = await event(B, ev('LOW', 'beta second tick'));
    expect([bNext.body.metadata.reason, bNext.body.response]).toEqual(['batched', betaAnswer.response]);
  });

  it('/v1: alpha’s keys share the cache; beta’s identical request misses, calls upstream and gets its own answer', async () => {
    const ask = async (key: string) => {
      const res = await bastion.request(
        'POST',
        '/v1/chat/completions',
        { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'The same v1 question for all' }] },
        key,
      );
      return {
        status: res.status,
        cache: res.headers.get('x-bastion-cache'),
        id: res.body?.id,
        content: res.body?.choices?.[0]?.message?.content,
      };
    };
    const a1 = await ask(A1);
    const a2 = await ask(A2);
    const b1 = await ask(B);
    expect([a1.status, a1.cache]).toEqual([200, 'MISS']);
    expect(a2).toEqual({ ...a1, cache: 'HIT' });
    expect([b1.status, b1.cache]).toEqual([200, 'MISS']);
    expect(b1.id).not.toBe(a1.id);
    expect(deepseek.calls).toHaveLength(2);
  });

  it('a bot key reads its own tenant’s figures and budget, never another tenant’s; the admin key reads all', async () => {
    const ask = (key: string, prompt: string) =>
      call(key, { agent_type: 'figures_probe', symbol: 'ETH', prompt, response_type: 'market_analysis' });
    for (const prompt of ['alpha one', 'alpha two', 'alpha three'])
      expect((await ask(A1, prompt)).status).toBe(200);
    expect((await ask(B, 'beta one')).status).toBe(200);
    const budgets = {
      tenants: { alpha: { daily_budget_usd: 7 }, beta: { daily_budget_usd: 3 } },
    };
    expect((await bastion.request('PUT', '/ai-cost/budgets', budgets, ADMIN_KEY)).status).toBe(200);

    // The ledger is written a moment after each answer: read until the four calls are counted.
    const read = async (key: string) => {
      const stats = await bastion.request('GET', '/ai-cost/stats', undefined, key);
      const breakdown = await bastion.request('GET', '/ai-cost/agent-breakdown', undefined, key);
      const budget = await bastion.request('GET', '/ai-cost/budgets', undefined, key);
      return {
        calls: stats.body.overall.total_calls as number,
        probe_calls: (breakdown.body.agents.figures_probe?.calls ?? 0) as number,
        tenants: Object.keys(budget.body.tenants).sort(),
      };
    };
    await waitFor(
      async () => (await read(ADMIN_KEY)).probe_calls === 4,
      5000,
      'the ledger does not count the four calls',
    );
    const [all, alpha, beta] = [await read(ADMIN_KEY), await read(A1), await read(B)];
    expect({ alpha: alpha.probe_calls, beta: beta.probe_calls, all: all.probe_calls }).toEqual({
      alpha: 3,
      beta: 1,
      all: 4,
    });
    expect(alpha.calls + beta.calls).toBe(all.calls); // two tenants: their figures sum to the deployment's
    expect(beta.calls).toBeLessThan(all.calls);
    expect([alpha.tenants, beta.tenants, all.tenants]).toEqual([['alpha'], ['beta'], ['alpha', 'beta']]);
    expect((await bastion.request('GET', '/ai-cost/stats?tenant=alpha', undefined, B)).status).toBe(403);
  });
});

describe('API keys of different lengths', () => {
  const SHORT = 'k-short8';
  const MID = 'tenant-mid-length-key-01';
  const LONG = `long-test-key-${'0123456789'.repeat(5)}`;
  const ADMIN = 'admin-key-of-another-length';
  let bastion: TestApp;

  beforeAll(async () => {
    bastion = await startTestApp({
      env: { API_KEYS: `${SHORT},alpha:${MID},beta:${LONG}`, ADMIN_API_KEYS: ADMIN },
    });
  });
  afterAll(async () => {
    await bastion?.close();
  });

  const statusWith = async (headers: Record<string, string>, method = 'GET', body?: unknown) => {
    const res = await fetch(`${bastion.url}/ai-cost/budgets`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const bearer = (key: string) => statusWith({ authorization: `Bearer ${key}` });

  it('accepts each configured key exactly, by Bearer or X-API-Key, whatever its length', async () => {
    for (const key of [SHORT, MID, LONG, ADMIN]) {
      expect([key.length, await bearer(key)]).toEqual([key.length, 200]);
      expect([key.length, await statusWith({ 'x-api-key': key })]).toEqual([key.length, 200]);
    }
  });

  it('rejects prefixes, extensions, other cases, other lengths and the tenant:key form with 401', async () => {
    const wrong = [
      ...[SHORT, MID, LONG, ADMIN].flatMap((k) => [
        k.slice(0, -1),
        `${k}x`,
        k.toUpperCase(),
        `${k.slice(0, -1)}${k.endsWith('1') ? '2' : '1'}`,
      ]),
      `alpha:${MID}`,
      `beta:${LONG}`,
      'x',
      LONG.repeat(200), // 12,800 characters
      `${SHORT}${MID}`,
    ];
    const statuses = await Promise.all(wrong.map(async (k) => [k.slice(0, 40), await bearer(k)]));
    expect(statuses).toEqual(wrong.map((k) => [k.slice(0, 40), 401]));
    expect(await statusWith({})).toBe(401);
    expect(await statusWith({ authorization: 'Bearer ' })).toBe(401);
  });

  it('keeps admin routes to admin keys: 403 for every bot key, 200 for the admin key', async () => {
    for (const key of [SHORT, MID, LONG]) {
      expect([key.length, await statusWith({ authorization: `Bearer ${key}` }, 'PUT', {})]).toEqual([
        key.length,
        403,
      ]);
    }
    expect(await statusWith({ authorization: `Bearer ${ADMIN}` }, 'PUT', {})).toBe(200);
  });
});

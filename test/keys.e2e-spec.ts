import { toPico } from '../src/common/money.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import {
  headersOf,
  KeyWitness,
  measureCall,
  rateHeaders,
  resetMs,
  type CreatedKey,
} from './support/managed-keys.js';
import { waitFor } from './support/redis-server.js';
import { postSse } from './support/sse-client.js';

/**
 * The acceptance of keys and tenants at run time, on two Bastion instances sharing one Redis (as a deployment
 * with replicas runs): a per-key request limit holds across both (not limit × replicas), a hard per-key budget
 * is overshot by at most one reservation under 100 concurrent calls over both, a deleted or rotated key is
 * refused within a second by the instance that did not change it, usage by tenant adds up to the global
 * figures, and no key's secret comes back after its creation, in any answer or log line.
 */

/**
 * The fake upstream answers after this long: budget reservations come back while the 100 calls still arrive, so
 * the budget is spent and freed again and again (the race a per-instance budget would lose).
 */
const UPSTREAM_MS = 20;

describe('Managed keys on two instances sharing one Redis', () => {
  let deepseek: FakeLlm;
  let a: TestApp;
  let b: TestApp;
  const w = new KeyWitness();

  beforeAll(async () => {
    deepseek = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      latencyMs: UPSTREAM_MS,
    });
    const env = { ...providerEnv({ deepseek }), BUDGET_ENFORCEMENT: 'hard' };
    a = await startTestApp({ env });
    b = await startTestApp({ env, prefix: a.prefix });
  });
  afterAll(async () => {
    await b?.close({ keepKeys: true });
    await a?.close();
    await deepseek?.close();
  });

  const ask = (app: TestApp, key: string, prompt: string, agent = 'key_probe') =>
    w.request(app, 'POST', '/ai/call', { agent_type: agent, prompt, max_tokens: 32 }, key);
  const usage = async (app: TestApp, id: string) => {
    const res = await w.request(app, 'GET', `/admin/keys/${id}/usage`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const both = (i: number) => (i % 2 === 0 ? a : b);

  it('a key with rpm 5 gets exactly 5 successes out of 12 concurrent calls over both instances; the 7 others are 429 with Retry-After and the x-ratelimit headers', async () => {
    const key = await w.create(a, { name: 'five a minute', tenant: 'rpm', rpm: 5 });
    const before = deepseek.calls.length;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => ask(both(i), key.key, `Rate question ${i}`)),
    );
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect([ok.length, limited.length]).toEqual([5, 7]);
    // Each instance got 6 of the 12: five successes in all is one limit for both, not five per instance.
    const perInstance = (app: TestApp) =>
      results.filter((r, i) => both(i) === app && r.status === 200).length;
    expect(perInstance(a) + perInstance(b)).toBe(5);
    expect(ok.map((r) => r.body.metadata.reason)).toEqual(Array(5).fill('called'));
    expect(deepseek.calls.length - before).toBe(5); // a refused call never reaches the upstream

    // Each success says how many are left: 4, 3, 2, 1, 0 (in whatever order they were taken).
    const remaining = ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests')));
    expect(remaining.sort()).toEqual([0, 1, 2, 3, 4]);
    for (const r of ok) {
      const h = rateHeaders(r.headers);
      expect([h.limitRequests, h.retryAfter]).toEqual(['5', null]);
      expect(resetMs(h.resetRequests)).toBeGreaterThan(0);
      expect(resetMs(h.resetRequests)).toBeLessThanOrEqual(60_000);
    }
    for (const r of limited) {
      const h = rateHeaders(r.headers);
      expect([h.limitRequests, h.remainingRequests]).toEqual(['5', '0']);
      // The next request is allowed 60 s / 5 = 12 s after the burst (less the time the 12 took to arrive).
      expect(Number(h.retryAfter)).toBeGreaterThanOrEqual(9);
      expect(Number(h.retryAfter)).toBeLessThanOrEqual(12);
      expect(resetMs(h.resetRequests)).toBeGreaterThan(0);
      expect(resetMs(h.resetRequests)).toBeLessThanOrEqual(60_000);
      // No tokens limit on this key: no -tokens headers.
      expect([h.limitTokens, h.remainingTokens, h.resetTokens]).toEqual([null, null, null]);
      expect(r.body).toMatchObject({ statusCode: 429, code: 'rate_limit_exceeded', limit: 'requests' });
      expect(r.body.message).toMatch(/5 requests per minute .*five a minute/);
    }
  });

  it('a key with a hard daily budget of 10 calls’ worth, hit by 100 concurrent calls over both instances, overshoots it by at most one reservation', async () => {
    const prompt = (i: number) => `Budget question ${String(i).padStart(3, '0')}: is the trend intact?`;
    // One call of the same shape measures a call's reservation (what it holds while it runs) and its cost.
    const calibration = await w.create(a, { name: 'calibration', tenant: 'calibration' });
    const { reservation, cost } = await measureCall(b, deepseek, calibration.id, () =>
      ask(a, calibration.key, prompt(999), 'budget_probe'),
    );
    expect(reservation).toBeGreaterThan(cost);

    const budget = 10 * cost;
    const key = await w.create(b, {
      name: 'ten calls a day',
      tenant: 'budget',
      daily_budget_usd: budget,
    });
    const before = deepseek.calls.length;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => ask(both(i), key.key, prompt(i), 'budget_probe')),
    );
    expect(results.map((r) => r.status)).toEqual(Array(100).fill(200));
    const called = results.filter((r) => r.body.metadata.reason === 'called');
    const refused = results.filter((r) => r.body.metadata.reason === 'budget_exceeded');
    expect(called.length + refused.length).toBe(100);
    // Never fewer calls than the budget holds reservations for, and never so many that it is overrun.
    expect(called.length).toBeGreaterThanOrEqual(Math.floor(budget / reservation));
    expect(called.length).toBeLessThanOrEqual(11);
    expect(deepseek.calls.length - before).toBe(called.length);
    expect(refused[0].body.metadata.message).toMatch(`daily budget of key ${key.id}`);

    // Settled: the key's budget counter holds what its calls cost (the ledger's figure for the key).
    const ledgerCost = async () =>
      (await w.request(a, 'GET', `/ai-cost/stats?key_id=${key.id}`)).body.overall.total_cost_usd as number;
    await b.request('GET', '/ai-cost/stats'); // writes b's ledger batch
    await waitFor(
      async () => toPico((await usage(b, key.id)).daily_spent_usd) === toPico(await ledgerCost()),
      5000,
      'the budget counter of the key never matched its ledger cost',
    );
    const spent: number = (await usage(a, key.id)).daily_spent_usd;
    const calledCost = called.reduce((s, r) => s + (r.body.metadata.cost_usd as number), 0);
    expect(toPico(spent)).toBe(toPico(calledCost));
    const overshoot = spent - budget;
    expect({ spent, budget, reservation, overshootWithinOneReservation: overshoot <= reservation }).toEqual({
      spent,
      budget,
      reservation,
      overshootWithinOneReservation: true,
    });
  });

  it('a deleted key is refused within one second by the instance that did not delete it, at once by the one that did', async () => {
    const key = await w.create(a, { name: 'short-lived', tenant: 'alpha' });
    const probe = (app: TestApp) => w.request(app, 'GET', '/ai-cost/tenants', undefined, key.key);
    // Both instances have just recognised the key (and remember it).
    expect([(await probe(a)).status, (await probe(b)).status]).toEqual([200, 200]);

    const del = await w.request(a, 'DELETE', `/admin/keys/${key.id}`);
    expect(del.status).toBe(204);
    const deletedAt = Date.now();
    const onA = await probe(a);
    expect([onA.status, onA.body.message]).toEqual([401, 'Invalid API key']);
    let refusedAfter = -1;
    while (Date.now() - deletedAt < 3000) {
      const res = await probe(b);
      if (res.status === 401) {
        refusedAfter = Date.now() - deletedAt;
        expect(res.body.message).toBe('Invalid API key');
        break;
      }
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(refusedAfter).toBeGreaterThanOrEqual(0);
    expect(refusedAfter).toBeLessThan(1000);
    expect((await w.request(b, 'GET', `/admin/keys/${key.id}`)).status).toBe(404);
  });

  it('a rotated key’s old secret is refused within one second by the other instance; the new one works on both at once', async () => {
    const old = await w.create(a, { name: 'rotating', tenant: 'alpha' });
    const probe = (app: TestApp, secret: string) =>
      w.request(app, 'GET', '/ai-cost/tenants', undefined, secret);
    expect([(await probe(a, old.key)).status, (await probe(b, old.key)).status]).toEqual([200, 200]);

    const rotated = await w.rotate(a, old.id);
    const rotatedAt = Date.now();
    expect(rotated.id).toBe(old.id);
    expect(rotated.key).not.toBe(old.key);
    expect(rotated.prefix).toBe(rotated.key.slice(0, 8));
    expect(typeof rotated.rotated_at).toBe('string');
    expect((await probe(a, old.key)).status).toBe(401);
    expect([(await probe(a, rotated.key)).status, (await probe(b, rotated.key)).status]).toEqual([200, 200]);
    let refusedAfter = -1;
    while (Date.now() - rotatedAt < 3000) {
      if ((await probe(b, old.key)).status === 401) {
        refusedAfter = Date.now() - rotatedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(refusedAfter).toBeGreaterThanOrEqual(0);
    expect(refusedAfter).toBeLessThan(1000);
    // The new secret is the same key: its calls count as the key's.
    const call = await ask(b, rotated.key, 'after rotation');
    expect(call.status).toBe(200);
    await b.request('GET', '/ai-cost/stats'); // writes b's ledger batch
    const own = await w.request(a, 'GET', `/ai-cost/stats?key_id=${old.id}`, undefined, rotated.key);
    expect([own.status, own.body.overall.total_requests]).toEqual([200, 1]);
  });

  it('a change made on one instance (an admin key made a bot key) applies on the other within one second', async () => {
    const key = await w.create(a, { name: 'demoted', tenant: 'ops', role: 'admin' });
    const probe = () => w.request(b, 'GET', '/admin/keys', undefined, key.key);
    expect((await probe()).status).toBe(200);
    const patched = await w.request(a, 'PATCH', `/admin/keys/${key.id}`, { role: 'bot' });
    const changedAt = Date.now();
    expect([patched.status, patched.body.role]).toEqual([200, 'bot']);
    expect((await w.request(a, 'GET', '/admin/keys', undefined, key.key)).status).toBe(403);
    let refusedAfter = -1;
    while (Date.now() - changedAt < 3000) {
      if ((await probe()).status === 403) {
        refusedAfter = Date.now() - changedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(refusedAfter).toBeGreaterThanOrEqual(0);
    expect(refusedAfter).toBeLessThan(1000);
  });

  it('a key deleted or rotated on one instance while the other changes it stays deleted, its old secret refused', async () => {
    // Each change races a PATCH on the other instance: a PATCH that read the key before the deletion or the
    // rotation must not write it (or its old secret) back afterwards.
    const trials = 8;
    const deleted = await Promise.all(
      Array.from({ length: trials }, (_, i) => w.create(a, { name: `deleted ${i}`, tenant: 'race' })),
    );
    const rotated = await Promise.all(
      Array.from({ length: trials }, (_, i) => w.create(a, { name: `rotated ${i}`, tenant: 'race' })),
    );
    const deletions = await Promise.all(
      deleted.map(async (k) => {
        const [, del] = await Promise.all([
          w.request(b, 'PATCH', `/admin/keys/${k.id}`, { name: `${k.name}, renamed` }),
          w.request(a, 'DELETE', `/admin/keys/${k.id}`),
        ]);
        return del.status;
      }),
    );
    expect(deletions).toEqual(Array(trials).fill(204));
    const rotations = await Promise.all(
      rotated.map(async (k) => {
        const [, fresh] = await Promise.all([
          w.request(b, 'PATCH', `/admin/keys/${k.id}`, { rpm: 100 }),
          w.rotate(a, k.id),
        ]);
        return fresh;
      }),
    );
    await new Promise((r) => setTimeout(r, 1000)); // every instance has had its second to forget
    const status = async (app: TestApp, secret: string) =>
      (await w.request(app, 'GET', '/ai-cost/tenants', undefined, secret)).status;
    const view = async (keys: CreatedKey[]) =>
      Promise.all(
        keys.map(async (k) => ({
          name: k.name,
          onA: await status(a, k.key),
          onB: await status(b, k.key),
        })),
      );
    const records = async () =>
      Promise.all(deleted.map(async (k) => (await w.request(b, 'GET', `/admin/keys/${k.id}`)).status));
    // Compared at once, so a failure shows which of the four went wrong.
    expect({
      deletedSecrets: await view(deleted),
      deletedRecords: await records(),
      rotatedOldSecrets: await view(rotated),
      rotatedNewSecrets: await view(rotations),
    }).toEqual({
      deletedSecrets: deleted.map((k) => ({ name: k.name, onA: 401, onB: 401 })),
      deletedRecords: Array(trials).fill(404),
      rotatedOldSecrets: rotated.map((k) => ({ name: k.name, onA: 401, onB: 401 })),
      rotatedNewSecrets: rotations.map((k) => ({ name: k.name, onA: 200, onB: 200 })),
    });
  });

  it('usage by tenant sums to the global stats, daily figures and agent breakdown; usage by key sums to its tenant', async () => {
    const alpha1 = await w.create(a, { name: 'alpha one', tenant: 'alpha' });
    const alpha2 = await w.create(b, { name: 'alpha two', tenant: 'alpha' });
    const beta = await w.create(a, { name: 'beta', tenant: 'beta' });
    const traffic: [TestApp, string, string, string][] = [
      [a, alpha1.key, 'Alpha asks about BTC', 'sum_probe'],
      [b, alpha1.key, 'Alpha asks about BTC', 'sum_probe'], // a response-cache hit
      [b, alpha2.key, 'Alpha asks about ETH', 'other_probe'],
      [a, beta.key, 'Beta asks about BTC', 'sum_probe'],
      [b, BOT_KEY, 'The environment key asks', 'sum_probe'], // tenant "default"
      [a, ADMIN_KEY, 'The admin key asks', 'other_probe'],
    ];
    for (const [app, key, prompt, agent] of traffic) {
      expect((await ask(app, key, prompt, agent)).status).toBe(200);
    }
    await b.request('GET', '/ai-cost/stats'); // writes b's ledger batch; a's is written by the reads below

    const read = async (path: string) => {
      const res = await w.request(a, 'GET', path);
      expect([path, res.status]).toEqual([path, 200]);
      return res.body;
    };
    const tenants: string[] = (await read('/ai-cost/tenants')).tenants;
    expect(tenants).toEqual(expect.arrayContaining(['alpha', 'beta', 'default', 'rpm', 'budget']));

    const sumOf = (rows: any[], pick: (row: any) => number, money = false): string =>
      money
        ? rows.reduce((s: bigint, r) => s + toPico(pick(r)), 0n).toString()
        : String(rows.reduce((s: number, r) => s + pick(r), 0));
    const overallView = (rows: any[]) => ({
      calls: sumOf(rows, (r) => r.overall.total_calls),
      requests: sumOf(rows, (r) => r.overall.total_requests),
      cost_pico: sumOf(rows, (r) => r.overall.total_cost_usd, true),
      savings_pico: sumOf(rows, (r) => r.overall.estimated_savings_usd, true),
      prompt_tokens: sumOf(rows, (r) => r.overall.total_prompt_tokens),
      completion_tokens: sumOf(rows, (r) => r.overall.total_completion_tokens),
      cache_hits: sumOf(rows, (r) => r.response_cache.hits),
      cache_misses: sumOf(rows, (r) => r.response_cache.misses),
    });
    const global = await read('/ai-cost/stats');
    const perTenant = await Promise.all(tenants.map((t) => read(`/ai-cost/stats?tenant=${t}`)));
    expect(global.overall.total_requests).toBeGreaterThan(100);
    expect(overallView(perTenant)).toEqual(overallView([global]));

    const dailyView = (rows: any[]) => ({
      calls: sumOf(rows, (r) => r.total_calls),
      requests: sumOf(rows, (r) => r.total_requests),
      cost_pico: sumOf(rows, (r) => r.total_cost_usd, true),
    });
    const daily = await read('/ai-cost/daily?days=1');
    const dailyPerTenant = await Promise.all(tenants.map((t) => read(`/ai-cost/daily?days=1&tenant=${t}`)));
    expect(dailyView(dailyPerTenant)).toEqual(dailyView([daily]));

    const breakdown = await read('/ai-cost/agent-breakdown');
    const breakdownPerTenant = await Promise.all(
      tenants.map((t) => read(`/ai-cost/agent-breakdown?tenant=${t}`)),
    );
    const agentView = (rows: any[]) => {
      const names = [...new Set(rows.flatMap((r) => Object.keys(r.agents)))].sort();
      return Object.fromEntries(
        names.map((n) => {
          const present = rows.filter((r) => r.agents[n]).map((r) => r.agents[n]);
          return [
            n,
            {
              calls: sumOf(present, (x) => x.calls),
              requests: sumOf(present, (x) => x.requests),
              cost_pico: sumOf(present, (x) => x.cost_usd, true),
            },
          ];
        }),
      );
    };
    expect(agentView(breakdownPerTenant)).toEqual(agentView([breakdown]));
    expect(Object.keys(breakdown.agents)).toEqual(expect.arrayContaining(['sum_probe', 'other_probe']));

    // Alpha's traffic came from its two managed keys (and its earlier keys): the keys add up to the tenant.
    const alphaKeys = ((await read('/admin/keys')).keys as { id: string; tenant: string }[]).filter(
      (k) => k.tenant === 'alpha',
    );
    const perKey = await Promise.all(alphaKeys.map((k) => read(`/admin/keys/${k.id}/usage`)));
    const alpha = await read('/ai-cost/stats?tenant=alpha');
    expect(overallView(perKey)).toEqual(overallView([alpha]));
    const one = perKey[alphaKeys.findIndex((k) => k.id === alpha1.id)];
    expect([one.overall.total_requests, one.response_cache.hits]).toEqual([2, 1]);
  });

  it('no key’s secret, nor its digest, appears in any answer after its creation, nor in either instance’s logs', async () => {
    const key: CreatedKey = await w.create(a, {
      name: 'watched',
      tenant: 'gamma',
      rpm: 2,
      models: ['deepseek-v4-flash'],
    });
    const streamed = async (app: TestApp) => {
      const read = await postSse(`${app.url}/v1/chat/completions`, key.key, {
        model: 'deepseek-v4-flash',
        messages: [{ role: 'user', content: 'stream it' }],
        stream: true,
      });
      // Everything a client receives: the headers and every event.
      const text = JSON.stringify({ headers: headersOf(read.headers), raw: read.raw });
      w.saw(`POST /v1/chat/completions (stream) → ${read.status}`, text);
      return read.status;
    };
    const send =
      (app: TestApp, method: string, path: string, body?: unknown, as: string = ADMIN_KEY) =>
      async () =>
        (await w.request(app, method, path, body, as)).status;
    const leakCall = (prompt: string, extra: Record<string, unknown> = {}) => ({
      agent_type: 'leak_probe',
      prompt,
      max_tokens: 8,
      ...extra,
    });
    // Everything a key can be looked at through, and the errors it can meet.
    const steps: (() => Promise<number>)[] = [
      send(a, 'GET', '/admin/keys'),
      send(b, 'GET', `/admin/keys/${key.id}`),
      send(a, 'PATCH', `/admin/keys/${key.id}`, { name: 'watched still' }),
      send(b, 'PATCH', `/admin/keys/${key.id}`, { key: key.key }), // 400: not a field
      send(a, 'GET', `/admin/keys/${key.id}/usage`),
      send(b, 'POST', '/ai/call', leakCall('hello'), key.key),
      () => streamed(b),
      send(a, 'POST', '/ai/call', leakCall('again'), key.key), // 429: two requests a minute
      send(b, 'POST', '/ai/call', leakCall('x', { model: 'deepseek-v4-pro' }), key.key), // 403
      send(a, 'GET', `/ai-cost/stats?key_id=${key.id}`, undefined, key.key),
      send(b, 'GET', '/ai-cost/stats?tenant=beta', undefined, key.key), // 403
      send(a, 'GET', '/admin/keys', undefined, key.key), // 403: a bot key
      () => streamed(a), // 429
    ];
    const statuses: number[] = [];
    for (const step of steps) statuses.push(await step());
    expect(statuses).toEqual([200, 200, 200, 400, 200, 200, 200, 429, 403, 200, 403, 403, 429]);
    expect((await w.request(a, 'DELETE', `/admin/keys/${key.id}`)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 600)); // every instance has forgotten it
    expect((await w.request(b, 'GET', '/ai-cost/tenants', undefined, key.key)).status).toBe(401);
    expect((await w.request(a, 'GET', `/admin/keys/${key.id}`)).status).toBe(404);

    expect(w.answerCount).toBeGreaterThan(statuses.length); // and every answer of the tests before
    expect(
      w.leaks([
        { name: 'instance a', text: a.logs.text },
        { name: 'instance b', text: b.logs.text },
      ]),
    ).toEqual([]);
    // The logs did record the keys' lives, by id (so the check above read real log lines).
    expect(a.logs.text).toContain(`API key ${key.id} (watched) created`);
  });
});

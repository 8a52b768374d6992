import { toPico } from '../src/common/money.js';
import { BudgetAlertsService } from '../src/cost-monitoring/alerts/budget-alerts.service.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { measureCall, rateHeaders, resetMs, type CreatedKey } from './support/managed-keys.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/redis-server.js';
import { postSse } from './support/sse-client.js';

/**
 * The contract of keys managed at run time, on one instance: the admin API and its errors, what a key may call
 * (agents, models) and how often (requests and tokens per minute, with OpenAI's headers on every door), the
 * budgets of tenants, budget alerts per key and tenant, figures per tenant and key (and who may read them), and
 * the bounded tenant label of /metrics.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function createKey(app: TestApp, fields: Record<string, unknown>, by = ADMIN_KEY): Promise<CreatedKey> {
  const res = await app.request('POST', '/admin/keys', fields, by);
  if (res.status !== 201)
    throw new Error(`POST /admin/keys answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as CreatedKey;
}

const callBody = (agent: string, prompt: string, extra: Record<string, unknown> = {}) => ({
  agent_type: agent,
  prompt,
  max_tokens: 32,
  ...extra,
});

const eventBody = (agent: string, prompt: string, extra: Record<string, unknown> = {}) => ({
  agent_type: agent,
  prompt,
  max_tokens: 32,
  event: { symbol: 'BTC', event_type: 'PRICE_CHANGE', priority: 'HIGH', data: { change_percent: 3 } },
  ...extra,
});

const v1Body = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'deepseek-v4-flash',
  messages: [{ role: 'user', content }],
  max_tokens: 32,
  ...extra,
});

/** The status of an answer and its message (the messages of a 400 joined). */
async function refusal(answer: Promise<{ status: number; body: any }>): Promise<[number, string]> {
  const res = await answer;
  const message = res.body?.message;
  return [res.status, Array.isArray(message) ? message.join('; ') : String(message)];
}

describe('Managed keys: the admin API', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });

  const admin = (method: string, path: string, body?: unknown) =>
    bastion.request(method, path, body, ADMIN_KEY);

  it('creates a key shown once with its defaults, lists and reads it without the secret, changes it, and deletes it', async () => {
    const created = await admin('POST', '/admin/keys', { name: 'momentum bot 3', tenant: 'alpha' });
    expect(created.status).toBe(201);
    const { key, ...shown } = created.body;
    expect(key).toMatch(/^bst_[A-Za-z0-9_-]{40,}$/);
    expect(shown).toEqual({
      id: expect.stringMatching(UUID),
      name: 'momentum bot 3',
      tenant: 'alpha',
      role: 'bot',
      prefix: key.slice(0, 8),
      rpm: null,
      tpm: null,
      daily_budget_usd: null,
      monthly_budget_usd: null,
      agents: null,
      models: null,
      created_at: expect.any(String),
      rotated_at: null,
    });
    expect(Math.abs(Date.parse(shown.created_at) - Date.now())).toBeLessThan(60_000);
    // The key works at once.
    expect((await bastion.request('POST', '/ai/call', callBody('crud_probe', 'hello'), key)).status).toBe(
      200,
    );

    const listed = await admin('GET', '/admin/keys');
    expect(listed.status).toBe(200);
    expect(listed.body.keys).toContainEqual(shown);
    const read = await admin('GET', `/admin/keys/${shown.id}`);
    expect([read.status, read.body]).toEqual([200, shown]);

    const change = {
      name: 'momentum bot 3b',
      rpm: 600,
      tpm: 90_000,
      daily_budget_usd: 2.5,
      monthly_budget_usd: 40,
      agents: ['crud_probe'],
      models: ['deepseek-v4-flash'],
    };
    const patched = await admin('PATCH', `/admin/keys/${shown.id}`, change);
    expect([patched.status, patched.body]).toEqual([200, { ...shown, ...change }]);
    expect((await admin('GET', `/admin/keys/${shown.id}`)).body).toEqual({ ...shown, ...change });
    // A change applies at once on the instance that made it: the key may no longer call as another agent.
    const other = await bastion.request('POST', '/ai/call', callBody('other_probe', 'hello'), key);
    expect([other.status, other.body.code]).toEqual([403, 'agent_not_allowed']);
    // null lifts a limit again.
    const lifted = await admin('PATCH', `/admin/keys/${shown.id}`, { agents: null, rpm: null });
    expect([lifted.body.agents, lifted.body.rpm, lifted.body.tpm]).toEqual([null, null, 90_000]);
    expect((await bastion.request('POST', '/ai/call', callBody('other_probe', 'hi'), key)).status).toBe(200);

    const deleted = await admin('DELETE', `/admin/keys/${shown.id}`);
    expect([deleted.status, deleted.body]).toEqual([204, '']);
    expect((await admin('GET', `/admin/keys/${shown.id}`)).status).toBe(404);
    expect((await admin('GET', '/admin/keys')).body.keys.map((k: { id: string }) => k.id)).not.toContain(
      shown.id,
    );
    expect((await admin('DELETE', `/admin/keys/${shown.id}`)).status).toBe(404);
    const refused = await bastion.request('POST', '/ai/call', callBody('crud_probe', 'still there?'), key);
    expect([refused.status, refused.body.message]).toEqual([401, 'Invalid API key']);
  });

  it('refuses a bad key with a 400 naming each field at fault and what it must be', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['nothing', {}, /name must be a string \(it is required\)[^]*tenant/],
      ['a bad tenant', { name: 'x', tenant: 'Alpha!' }, /tenant must be lower-case letters, digits, - and _/],
      ['a long tenant', { name: 'x', tenant: 'a'.repeat(33) }, /tenant must be lower-case/],
      ['an empty name', { name: '', tenant: 'alpha' }, /name must be longer than or equal to 1/],
      ['an unknown role', { name: 'x', tenant: 'alpha', role: 'root' }, /role must be bot or admin/],
      [
        'rpm 0',
        { name: 'x', tenant: 'alpha', rpm: 0 },
        /rpm \(requests per minute\) must be an integer from 1/,
      ],
      ['rpm 1.5', { name: 'x', tenant: 'alpha', rpm: 1.5 }, /rpm \(requests per minute\) must be an integer/],
      [
        'tpm as text',
        { name: 'x', tenant: 'alpha', tpm: '100' },
        /tpm \(tokens per minute\) must be an integer/,
      ],
      [
        'a negative budget',
        { name: 'x', tenant: 'alpha', daily_budget_usd: -1 },
        /daily_budget_usd must be a number of USD from 0 to 1000000/,
      ],
      [
        'a budget as text',
        { name: 'x', tenant: 'alpha', monthly_budget_usd: 'lots' },
        /monthly_budget_usd must be a number of USD/,
      ],
      [
        'a bad agent name',
        { name: 'x', tenant: 'alpha', agents: ['Bad-Name'] },
        /agents must be a list of up to 100 distinct lower_snake_case agent names/,
      ],
      [
        'a repeated agent',
        { name: 'x', tenant: 'alpha', agents: ['a', 'a'] },
        /agents must be a list of up to 100 distinct/,
      ],
      ['models not a list', { name: 'x', tenant: 'alpha', models: 'deepseek' }, /models must be a list/],
      [
        'an empty model name',
        { name: 'x', tenant: 'alpha', models: [''] },
        /models must be a list of up to 100/,
      ],
      ['an unknown field', { name: 'x', tenant: 'alpha', secret: 'x' }, /property secret should not exist/],
      ['an id of its own', { name: 'x', tenant: 'alpha', id: 'mine' }, /property id should not exist/],
    ];
    const before = (await admin('GET', '/admin/keys')).body.keys.length;
    // Every case answered, then compared at once: a failure lists every case that is wrong.
    const answers = [];
    for (const [what, body] of cases)
      answers.push([what, ...(await refusal(admin('POST', '/admin/keys', body)))]);
    expect(answers).toEqual(cases.map(([what, , message]) => [what, 400, expect.stringMatching(message)]));
    expect((await admin('GET', '/admin/keys')).body.keys).toHaveLength(before); // nothing was created

    const key = await createKey(bastion, { name: 'patched', tenant: 'alpha' });
    const patches: [string, unknown, RegExp][] = [
      ['nothing', {}, /body .*fewer than 1 propert/],
      ['rpm -5', { rpm: -5 }, /rpm \(requests per minute\) must be an integer from 1/],
      ['a bad tenant', { tenant: 'BETA' }, /tenant must be lower-case/],
      ['the secret', { key: 'bst_mine' }, /property key should not exist/],
      ['the digest', { digest: 'abc' }, /property digest should not exist/],
    ];
    const patched = [];
    for (const [what, body] of patches) {
      patched.push([what, ...(await refusal(admin('PATCH', `/admin/keys/${key.id}`, body)))]);
    }
    expect(patched).toEqual(patches.map(([what, , message]) => [what, 400, expect.stringMatching(message)]));
    const unchanged = await admin('GET', `/admin/keys/${key.id}`);
    expect([unchanged.body.tenant, unchanged.body.rpm]).toEqual(['alpha', null]);
    const notJson = await bastion.request('POST', '/admin/keys', '{"name":', ADMIN_KEY);
    expect(notJson.status).toBe(400);
  });

  it('answers 404 naming the id on every key route for an unknown or malformed id', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-an-id', 'x'.repeat(36)]) {
      const routes: [string, string, unknown?][] = [
        ['GET', `/admin/keys/${id}`],
        ['PATCH', `/admin/keys/${id}`, { name: 'n' }],
        ['POST', `/admin/keys/${id}/rotate`],
        ['DELETE', `/admin/keys/${id}`],
        ['GET', `/admin/keys/${id}/usage`],
      ];
      for (const [method, path, body] of routes) {
        const res = await admin(method, path, body);
        expect([method, path, res.status, res.body.message]).toEqual([method, path, 404, `No API key ${id}`]);
      }
    }
  });

  it('keeps /admin/keys to admin keys: 401 without a key, 403 for environment and managed bot keys, 200 for a managed admin key', async () => {
    const bot = await createKey(bastion, { name: 'a bot', tenant: 'alpha' });
    const adminKey = await createKey(bastion, { name: 'an operator', tenant: 'ops', role: 'admin' });
    expect(adminKey.role).toBe('admin');
    for (const [method, path, body] of [
      ['GET', '/admin/keys'],
      ['POST', '/admin/keys', { name: 'sneaky', tenant: 'alpha' }],
      ['GET', `/admin/keys/${bot.id}`],
      ['PATCH', `/admin/keys/${bot.id}`, { role: 'admin' }],
      ['POST', `/admin/keys/${bot.id}/rotate`],
      ['DELETE', `/admin/keys/${bot.id}`],
      ['GET', `/admin/keys/${bot.id}/usage`],
    ] as [string, string, unknown?][]) {
      expect([path, (await bastion.request(method, path, body, null)).status]).toEqual([path, 401]);
      for (const key of [BOT_KEY, bot.key]) {
        const res = await bastion.request(method, path, body, key);
        expect([path, res.status, res.body.message]).toEqual([
          path,
          403,
          'This route needs an admin API key',
        ]);
      }
    }
    expect((await admin('GET', `/admin/keys/${bot.id}`)).body.role).toBe('bot'); // nothing changed

    // The managed admin key does what an environment admin key does.
    const made = await bastion.request(
      'POST',
      '/admin/keys',
      { name: 'made by ops', tenant: 'beta' },
      adminKey.key,
    );
    expect(made.status).toBe(201);
    expect((await bastion.request('GET', '/admin/keys', undefined, adminKey.key)).status).toBe(200);
    const budgets = await bastion.request(
      'PUT',
      '/ai-cost/budgets',
      { monthly_budget_usd: 500 },
      adminKey.key,
    );
    expect([budgets.status, budgets.body.monthly_budget_usd]).toEqual([200, 500]);
    expect(
      (await bastion.request('DELETE', `/admin/keys/${made.body.id}`, undefined, adminKey.key)).status,
    ).toBe(204);
  });

  it('keeps the keys of the environment working beside managed keys', async () => {
    await createKey(bastion, { name: 'beside', tenant: 'alpha', rpm: 1 });
    const call = await bastion.request(
      'POST',
      '/ai/call',
      callBody('env_probe', 'from the environment'),
      BOT_KEY,
    );
    expect([call.status, call.body.metadata.reason]).toEqual([200, 'called']);
    // No managed limit applies to it: no rate-limit headers, and a second call passes too.
    expect(call.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect((await bastion.request('POST', '/ai/call', callBody('env_probe', 'again'), BOT_KEY)).status).toBe(
      200,
    );
    expect((await admin('GET', '/admin/keys')).status).toBe(200);
    expect((await bastion.request('GET', '/ai-cost/stats', undefined, BOT_KEY)).status).toBe(200);
  });
});

describe('Managed keys: what a key may call, and how often', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });

  it('refuses an agent or a model the key may not use with a 403 naming it and what is allowed, on /ai/call, /ai/events and /v1 (plain and streaming)', async () => {
    const key = await createKey(bastion, {
      name: 'narrow bot',
      tenant: 'alpha',
      agents: ['allowed_agent', 'second_agent'],
      models: ['deepseek-v4-flash'],
    });
    const send = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      bastion.request('POST', path, body, key.key, headers);
    const before = deepseek.calls.length;

    const agentRefusal = {
      status: 403,
      code: 'agent_not_allowed',
      message: expect.stringMatching(
        /narrow bot\) may not call as agent other_agent; it may use: allowed_agent, second_agent/,
      ),
    };
    const modelRefusal = {
      status: 403,
      code: 'model_not_allowed',
      message: expect.stringMatching(/may not use model deepseek-v4-pro; it may use: deepseek-v4-flash/),
    };
    const plain = (res: { status: number; body: any }) => ({
      status: res.status,
      code: res.body.code,
      message: res.body.message,
    });
    const openai = (res: { status: number; body: any }) => ({
      status: res.status,
      code: res.body.error?.code,
      message: res.body.error?.message,
    });

    expect(plain(await send('/ai/call', callBody('other_agent', 'q')))).toEqual(agentRefusal);
    expect((await send('/ai/call', callBody('other_agent', 'q'))).body.param).toBe('agent_type');
    expect(
      plain(await send('/ai/call', callBody('allowed_agent', 'q', { model: 'deepseek-v4-pro' }))),
    ).toEqual(modelRefusal);
    expect(
      (await send('/ai/call', callBody('allowed_agent', 'q', { model: 'deepseek-v4-pro' }))).body.param,
    ).toBe('model');
    expect(plain(await send('/ai/events', eventBody('other_agent', 'q')))).toEqual(agentRefusal);
    expect(
      plain(await send('/ai/events', eventBody('allowed_agent', 'q', { model: 'deepseek-v4-pro' }))),
    ).toEqual(modelRefusal);
    // /v1 without X-Agent-Type calls as openai_compat, which this key may not.
    const v1Default = await send('/v1/chat/completions', v1Body('q'));
    expect(openai(v1Default)).toEqual({
      ...agentRefusal,
      message: expect.stringMatching(/may not call as agent openai_compat; it may use: allowed_agent/),
    });
    expect(v1Default.body.error).toMatchObject({ type: 'invalid_request_error', param: 'agent_type' });
    expect(
      openai(await send('/v1/chat/completions', v1Body('q'), { 'x-agent-type': 'other_agent' })),
    ).toEqual(agentRefusal);
    expect(
      openai(
        await send('/v1/chat/completions', v1Body('q', { model: 'deepseek-v4-pro' }), {
          'x-agent-type': 'allowed_agent',
        }),
      ),
    ).toEqual(modelRefusal);
    const stream = await postSse(
      `${bastion.url}/v1/chat/completions`,
      key.key,
      v1Body('q', { model: 'deepseek-v4-pro', stream: true }),
      { headers: { 'x-agent-type': 'allowed_agent' }, timeoutMs: 5000 },
    );
    expect(stream.status).toBe(403);
    expect(stream.headers.get('content-type')).toMatch(/application\/json/);
    expect(JSON.parse(stream.raw).error).toMatchObject({
      code: 'model_not_allowed',
      message: expect.stringMatching(/deepseek-v4-pro/),
    });
    expect(deepseek.calls.length).toBe(before); // nothing refused reached the upstream

    // What the key may use, it may use on every door.
    expect((await send('/ai/call', callBody('allowed_agent', 'fine'))).status).toBe(200);
    expect((await send('/ai/events', eventBody('second_agent', 'fine'))).status).toBe(200);
    expect(
      (await send('/v1/chat/completions', v1Body('fine'), { 'x-agent-type': 'allowed_agent' })).status,
    ).toBe(200);
  });

  it('takes as many calls as fit in a tokens-per-minute limit (prompt plus max_tokens) and refuses the next with 429 and the -tokens headers', async () => {
    const key = await createKey(bastion, { name: 'token bot', tenant: 'alpha', tpm: 1000 });
    const ask = (i: number) =>
      bastion.request(
        'POST',
        '/ai/call',
        callBody('tpm_probe', `Token question ${i}`, { max_tokens: 300 }),
        key.key,
      );
    const first = await ask(0);
    expect(first.status).toBe(200);
    const h = rateHeaders(first.headers);
    expect([h.limitTokens, h.limitRequests]).toEqual(['1000', null]);
    // What the first call counted: its likely prompt tokens plus its max_tokens.
    const counted = 1000 - Number(h.remainingTokens);
    expect(counted).toBeGreaterThan(300);
    expect(counted).toBeLessThan(334); // so that exactly 3 fit in 1000
    const rest = [];
    for (let i = 1; i < 5; i++) rest.push(await ask(i));
    expect(rest.map((r) => r.status)).toEqual([200, 200, 429, 429]);
    const refused = rest[2];
    const rh = rateHeaders(refused.headers);
    expect(refused.body).toMatchObject({ code: 'rate_limit_exceeded', limit: 'tokens' });
    expect(refused.body.message).toMatch(/1000 tokens per minute .*token bot/);
    expect(rh.limitTokens).toBe('1000');
    expect(Number(rh.remainingTokens)).toBeLessThan(counted);
    expect(resetMs(rh.resetTokens)).toBeGreaterThan(0);
    expect(resetMs(rh.resetTokens)).toBeLessThanOrEqual(60_000);
    expect(Number(rh.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(rh.retryAfter)).toBeLessThanOrEqual(60);
    // A smaller request still fits where a large one does not: the limit counts tokens, not requests.
    expect(Number(rh.remainingTokens)).toBeGreaterThan(counted - 300 + 1);
    const small = await bastion.request(
      'POST',
      '/ai/call',
      callBody('tpm_probe', 'tiny', { max_tokens: 1 }),
      key.key,
    );
    expect(small.status).toBe(200);
  });

  it('does not tell a request larger than the whole tokens-per-minute limit to retry: no wait would let it through', async () => {
    const key = await createKey(bastion, { name: 'small tpm', tenant: 'alpha', tpm: 1000 });
    const res = await bastion.request(
      'POST',
      '/ai/call',
      callBody('tpm_probe', 'A modest question', { max_tokens: 5000 }),
      key.key,
    );
    expect(res.status).toBe(429);
    // The limit is untouched (all 1000 tokens remain), so waiting changes nothing: a Retry-After would have the
    // client wait and fail again, forever. The answer says what to change instead.
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe('1000');
    expect({ retryAfter: res.headers.get('retry-after'), message: res.body.message }).toEqual({
      retryAfter: null,
      message: expect.stringMatching(/max_tokens/),
    });
  });

  describe('429 with Retry-After and the x-ratelimit headers on every door, and the same headers on each success', () => {
    const limits = { rpm: 1, tpm: 100_000 };
    const expectSuccessHeaders = (headers: Headers) => {
      const h = rateHeaders(headers);
      expect([h.limitRequests, h.remainingRequests, h.limitTokens, h.retryAfter]).toEqual([
        '1',
        '0',
        '100000',
        null,
      ]);
      expect(Number(h.remainingTokens)).toBeLessThan(100_000);
      expect(Number(h.remainingTokens)).toBeGreaterThan(99_000);
      expect(resetMs(h.resetRequests)).toBeGreaterThan(50_000);
      expect(resetMs(h.resetRequests)).toBeLessThanOrEqual(60_000);
      expect(resetMs(h.resetTokens)).toBeGreaterThan(0);
    };
    const expectRefusalHeaders = (headers: Headers) => {
      const h = rateHeaders(headers);
      expect([h.limitRequests, h.remainingRequests, h.limitTokens]).toEqual(['1', '0', '100000']);
      // One request a minute: the next one 60 s after the first (less the time since it).
      expect(Number(h.retryAfter)).toBeGreaterThanOrEqual(55);
      expect(Number(h.retryAfter)).toBeLessThanOrEqual(60);
      expect(resetMs(h.resetRequests)).toBeGreaterThan(50_000);
      // The tokens limit was not what refused: it may already be back to its full burst (reset 0ms).
      expect(Number(h.remainingTokens)).toBeGreaterThan(99_000);
      expect(resetMs(h.resetTokens)).toBeGreaterThanOrEqual(0);
    };

    it('/ai/call', async () => {
      const key = await createKey(bastion, { name: 'door call', tenant: 'doors', ...limits });
      const ok = await bastion.request('POST', '/ai/call', callBody('door_probe', 'one'), key.key);
      expect(ok.status).toBe(200);
      expectSuccessHeaders(ok.headers);
      const no = await bastion.request('POST', '/ai/call', callBody('door_probe', 'two'), key.key);
      expect([no.status, no.body.code, no.body.limit]).toEqual([429, 'rate_limit_exceeded', 'requests']);
      expectRefusalHeaders(no.headers);
    });

    it('/ai/events', async () => {
      const key = await createKey(bastion, { name: 'door events', tenant: 'doors', ...limits });
      const ok = await bastion.request('POST', '/ai/events', eventBody('door_events', 'one'), key.key);
      expect([ok.status, ok.body.metadata.reason]).toEqual([200, 'called']);
      expectSuccessHeaders(ok.headers);
      // A LOW event would only be batched: it is refused all the same, since every request counts.
      const low = eventBody('door_events', 'two');
      low.event.priority = 'LOW';
      const no = await bastion.request('POST', '/ai/events', low, key.key);
      expect([no.status, no.body.code]).toEqual([429, 'rate_limit_exceeded']);
      expectRefusalHeaders(no.headers);
    });

    it('/v1/chat/completions, plain', async () => {
      const key = await createKey(bastion, { name: 'door v1', tenant: 'doors', ...limits });
      const ok = await bastion.request('POST', '/v1/chat/completions', v1Body('one'), key.key);
      expect(ok.status).toBe(200);
      expectSuccessHeaders(ok.headers);
      const no = await bastion.request('POST', '/v1/chat/completions', v1Body('two'), key.key);
      expect(no.status).toBe(429);
      expect(no.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
      expectRefusalHeaders(no.headers);
    });

    it('/v1/chat/completions, streaming (the refusal is a plain 429 before any stream)', async () => {
      const key = await createKey(bastion, { name: 'door stream', tenant: 'doors', ...limits });
      const url = `${bastion.url}/v1/chat/completions`;
      const ok = await postSse(url, key.key, v1Body('one', { stream: true }), { timeoutMs: 5000 });
      expect([ok.status, ok.ended, ok.raw.includes('data: [DONE]')]).toEqual([200, true, true]);
      expect(ok.headers.get('content-type')).toMatch(/text\/event-stream/);
      expectSuccessHeaders(ok.headers);
      const no = await postSse(url, key.key, v1Body('two', { stream: true }), { timeoutMs: 5000 });
      expect(no.status).toBe(429);
      expect(no.headers.get('content-type')).toMatch(/application\/json/);
      expect(JSON.parse(no.raw).error).toMatchObject({
        type: 'rate_limit_error',
        code: 'rate_limit_exceeded',
      });
      expectRefusalHeaders(no.headers);
    });
  });
});

describe('Managed keys: tenant budgets, budget alerts per key and tenant', () => {
  let deepseek: FakeLlm;
  let webhook: Awaited<ReturnType<typeof startReceiver>>;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    webhook = await startReceiver();
    bastion = await startTestApp({
      env: { ...providerEnv({ deepseek }), ALERT_WEBHOOK_URL: `${webhook.url}/hook` },
    });
  });
  afterAll(async () => {
    await bastion?.close();
    await webhook?.close();
    await deepseek?.close();
  });

  const admin = (method: string, path: string, body?: unknown) =>
    bastion.request(method, path, body, ADMIN_KEY);
  const ledgerCost = async (query: string): Promise<number> =>
    (await admin('GET', `/ai-cost/daily?days=1&${query}`)).body.total_cost_usd;
  /** Waits until a key's budget counter holds what its calls cost (its last call is settled). */
  const settled = (id: string) =>
    waitFor(
      async () =>
        toPico((await admin('GET', `/admin/keys/${id}/usage`)).body.daily_spent_usd) ===
        toPico(await ledgerCost(`key_id=${id}`)),
      5000,
      `the counter of key ${id} never matched its ledger cost`,
    );

  it('a tenant’s hard daily budget refuses every key of the tenant once its spend plus one reservation would pass it, and no other tenant', async () => {
    const alpha1 = await createKey(bastion, { name: 'alpha one', tenant: 'alpha' });
    const alpha2 = await createKey(bastion, { name: 'alpha two', tenant: 'alpha' });
    const beta = await createKey(bastion, { name: 'beta', tenant: 'beta' });
    const ask = (key: string, i: number) =>
      bastion.request(
        'POST',
        '/ai/call',
        callBody('tenant_budget', `Tenant question ${String(i).padStart(3, '0')}`),
        key,
      );
    const { reservation, cost } = await measureCall(bastion, deepseek, alpha1.id, () => ask(alpha1.key, 999));

    const budget = cost + 3 * reservation;
    const put = await admin('PUT', '/ai-cost/budgets', {
      enforcement: 'hard',
      tenants: { alpha: { daily_budget_usd: budget } },
    });
    expect([put.status, put.body.tenants]).toEqual([
      200,
      { alpha: { daily_budget_usd: budget, monthly_budget_usd: null } },
    ]);
    expect((await admin('GET', '/ai-cost/budgets')).body.tenants.alpha.daily_budget_usd).toBe(budget);

    // Alpha's two keys call in turn, each call settled before the next, until the tenant's budget refuses.
    let refusal: any = null;
    let calls = 0;
    for (let i = 0; i < 30 && refusal === null; i++) {
      const key = i % 2 === 0 ? alpha2 : alpha1;
      const res = await ask(key.key, i);
      expect(res.status).toBe(200);
      if (res.body.metadata.reason === 'budget_exceeded') refusal = res.body;
      else {
        calls++;
        await settled(key.id);
      }
    }
    expect(refusal).not.toBeNull();
    expect(refusal.metadata.message).toMatch(
      `The daily budget of tenant alpha ($${budget}) would be exceeded by this call`,
    );
    const spent = await ledgerCost('tenant=alpha');
    // Refused only when one more reservation would not fit; never past the budget.
    expect(spent).toBeLessThanOrEqual(budget);
    expect(spent + reservation).toBeGreaterThan(budget);
    expect(calls).toBeGreaterThanOrEqual(2);
    // The other key of the tenant is refused as well; beta and the environment's key are not.
    const other = await ask(alpha1.key, 100);
    expect(other.body.metadata.reason).toBe('budget_exceeded');
    expect((await ask(beta.key, 101)).body.metadata.reason).toBe('called');
    expect((await ask(BOT_KEY, 102)).body.metadata.reason).toBe('called');

    // Lifting the tenant's budget lets alpha call again.
    await admin('PUT', '/ai-cost/budgets', { tenants: { alpha: null } });
    expect((await admin('GET', '/ai-cost/budgets')).body.tenants).toEqual({});
    expect((await ask(alpha1.key, 103)).body.metadata.reason).toBe('called');
  });

  it('a key’s own daily and monthly budgets refuse its calls under hard enforcement, on /ai/call and /v1 alike', async () => {
    expect((await admin('PUT', '/ai-cost/budgets', { enforcement: 'hard' })).status).toBe(200);
    const key = await createKey(bastion, { name: 'broke bot', tenant: 'delta', daily_budget_usd: 0 });
    const mate = await createKey(bastion, { name: 'delta mate', tenant: 'delta' });
    const call = (k: CreatedKey, prompt: string) =>
      bastion.request('POST', '/ai/call', callBody('key_budget', prompt), k.key);
    const before = deepseek.calls.length;

    const daily = await call(key, 'one');
    expect([daily.status, daily.body.metadata.reason]).toEqual([200, 'budget_exceeded']);
    expect(daily.body.metadata.message).toMatch(`daily budget of key ${key.id} ($0) would be exceeded`);
    const v1 = await bastion.request('POST', '/v1/chat/completions', v1Body('one'), key.key);
    expect([v1.status, v1.body.error?.code, v1.headers.get('x-should-retry')]).toEqual([
      429,
      'budget_exceeded',
      'false',
    ]);
    expect(deepseek.calls.length).toBe(before);
    // The key's budget is its own: another key of its tenant calls.
    expect((await call(mate, 'mate')).body.metadata.reason).toBe('called');

    await admin('PATCH', `/admin/keys/${key.id}`, { daily_budget_usd: null, monthly_budget_usd: 0 });
    const monthly = await call(key, 'two');
    expect(monthly.body.metadata.message).toMatch(`monthly budget of key ${key.id} ($0) would be exceeded`);
    await admin('PATCH', `/admin/keys/${key.id}`, { monthly_budget_usd: null });
    expect((await call(key, 'three')).body.metadata.reason).toBe('called');
  });

  it('refuses a bad tenant budget with a 400 naming it', async () => {
    const cases: [unknown, RegExp][] = [
      [
        { tenants: { 'Not A Tenant': { daily_budget_usd: 1 } } },
        /tenants\.Not A Tenant: tenants are lower-case/,
      ],
      [
        { tenants: { alpha: { daily_budget_usd: -1 } } },
        /tenants\.alpha\.daily_budget_usd must be a number between 0/,
      ],
      [
        { tenants: { alpha: { weekly_budget_usd: 1 } } },
        /tenants\.alpha\.weekly_budget_usd is not a budget field/,
      ],
      [{ tenants: { alpha: 5 } }, /tenants\.alpha must be an object or null/],
      [{ tenants: 'alpha' }, /tenants must be an object/],
    ];
    for (const [body, message] of cases) {
      const res = await admin('PUT', '/ai-cost/budgets', body);
      const text = Array.isArray(res.body.message) ? res.body.message.join('; ') : res.body.message;
      expect([JSON.stringify(body), res.status, text]).toEqual([
        JSON.stringify(body),
        400,
        expect.stringMatching(message),
      ]);
    }
  });

  it('sends a budget alert per key and per tenant, once per threshold crossed', async () => {
    await admin('PUT', '/ai-cost/budgets', { enforcement: 'soft' }); // calls go on past a budget
    const key = await createKey(bastion, { name: 'alerting bot', tenant: 'gamma' });
    const other = await createKey(bastion, { name: 'gamma two', tenant: 'gamma' });
    let n = 0;
    const spend = async (k: CreatedKey) => {
      const res = await bastion.request(
        'POST',
        '/ai/call',
        callBody('alert_probe', `Alert question ${++n}`),
        k.key,
      );
      expect(res.body.metadata.reason).toBe('called');
      return res.body.metadata.cost_usd as number;
    };
    const first = await spend(key);
    const both = first + (await spend(other));
    // The key has used 85% of its daily budget; its tenant 85% of the tenant's monthly one.
    expect((await admin('PATCH', `/admin/keys/${key.id}`, { daily_budget_usd: first / 0.85 })).status).toBe(
      200,
    );
    expect(
      (await admin('PUT', '/ai-cost/budgets', { tenants: { gamma: { monthly_budget_usd: both / 0.85 } } }))
        .status,
    ).toBe(200);
    const alerts = bastion.app.get(BudgetAlertsService);
    const checkTwice = async () => [...(await alerts.check()), ...(await alerts.check())];

    const sent = await checkTwice();
    const view = (a: { scope: string; period: string; threshold_percent: number }) =>
      `${a.scope} ${a.period} ${a.threshold_percent}`;
    expect(sent.map(view).sort()).toEqual([`key:${key.id} daily 80`, 'tenant:gamma monthly 80'].sort());
    expect(webhook.received.map((r) => view(r.body)).sort()).toEqual(sent.map(view).sort());
    const keyAlert = webhook.received.find((r) => r.body.scope === `key:${key.id}`)?.body;
    expect(keyAlert).toMatchObject({ type: 'budget_alert', period: 'daily', threshold_percent: 80 });
    expect(keyAlert.message).toMatch(`key ${key.id} spent $`);
    const tenantAlert = webhook.received.find((r) => r.body.scope === 'tenant:gamma')?.body;
    expect(tenantAlert.message).toMatch(/^tenant gamma spent \$0\.\d+ of the monthly budget/);

    // Past 100%: one more alert each, and none again however often the check runs.
    while ((await ledgerCost(`key_id=${key.id}`)) < first / 0.85) await spend(key);
    while ((await ledgerCost('tenant=gamma')) < both / 0.85) await spend(other);
    const more = await checkTwice();
    expect(more.map(view).sort()).toEqual([`key:${key.id} daily 100`, 'tenant:gamma monthly 100'].sort());
    expect(await checkTwice()).toEqual([]);
    expect(webhook.received).toHaveLength(4);
    const listed = (await admin('GET', '/ai-cost/alerts')).body.alerts.map(view);
    expect(listed.sort()).toEqual([...sent, ...more].map(view).sort());
  });
});

describe('Managed keys: figures per tenant and per key, and who may read them', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let alpha: CreatedKey;
  let alphaToo: CreatedKey;
  let beta: CreatedKey;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
    alpha = await createKey(bastion, { name: 'alpha', tenant: 'alpha' });
    alphaToo = await createKey(bastion, { name: 'alpha too', tenant: 'alpha' });
    beta = await createKey(bastion, { name: 'beta', tenant: 'beta' });
    for (const [key, agent, prompt] of [
      [alpha.key, 'alpha_agent', 'alpha one'],
      [alpha.key, 'alpha_agent', 'alpha two'],
      [alphaToo.key, 'shared_agent', 'alpha three'],
      [beta.key, 'beta_agent', 'beta one'],
      [beta.key, 'shared_agent', 'beta two'],
      [beta.key, 'shared_agent', 'beta three'],
    ]) {
      const res = await bastion.request('POST', '/ai/call', callBody(agent, prompt), key);
      if (res.status !== 200) throw new Error(`setup call answered ${res.status}`);
    }
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });

  const get = async (path: string, key: string) => {
    const res = await bastion.request('GET', path, undefined, key);
    return { status: res.status, body: res.body };
  };

  it('filters stats, daily figures and the agent breakdown by ?tenant= and ?key_id=', async () => {
    const requests = async (query: string) => ({
      stats: (await get(`/ai-cost/stats?${query}`, ADMIN_KEY)).body.overall.total_requests,
      daily: (await get(`/ai-cost/daily?days=1&${query}`, ADMIN_KEY)).body.total_requests,
      agents: Object.keys((await get(`/ai-cost/agent-breakdown?${query}`, ADMIN_KEY)).body.agents).sort(),
    });
    expect(await requests('tenant=alpha')).toEqual({
      stats: 3,
      daily: 3,
      agents: ['alpha_agent', 'shared_agent'],
    });
    expect(await requests('tenant=beta')).toEqual({
      stats: 3,
      daily: 3,
      agents: ['beta_agent', 'shared_agent'],
    });
    expect(await requests(`key_id=${alpha.id}`)).toEqual({ stats: 2, daily: 2, agents: ['alpha_agent'] });
    expect(await requests(`key_id=${alphaToo.id}`)).toEqual({ stats: 1, daily: 1, agents: ['shared_agent'] });
    expect(await requests('tenant=nobody')).toEqual({ stats: 0, daily: 0, agents: [] });
    const all = (await get('/ai-cost/stats', ADMIN_KEY)).body.overall;
    expect(all.total_requests).toBe(6);
    // The breakdown of one tenant counts only its own calls of a shared agent.
    const shared = (await get('/ai-cost/agent-breakdown?tenant=beta', ADMIN_KEY)).body.agents.shared_agent;
    expect([shared.requests, shared.calls]).toEqual([2, 2]);
  });

  it('lets a bot key read its own tenant and key, answers 403 for another tenant or key, and lets admin keys read any', async () => {
    const routes = ['/ai-cost/stats', '/ai-cost/daily', '/ai-cost/agent-breakdown'];
    for (const route of routes) {
      const as = async (key: string, query: string) => (await get(`${route}?${query}`, key)).status;
      expect([route, await as(alpha.key, 'tenant=alpha'), await as(alpha.key, `key_id=${alpha.id}`)]).toEqual(
        [route, 200, 200],
      );
      const other = await get(`${route}?tenant=beta`, alpha.key);
      expect([route, other.status, other.body.message]).toEqual([
        route,
        403,
        "A bot key reads its own tenant's figures only",
      ]);
      const otherKey = await get(`${route}?key_id=${alphaToo.id}`, alpha.key);
      expect([route, otherKey.status, otherKey.body.message]).toEqual([
        route,
        403,
        "A bot key reads its own key's figures only",
      ]);
      // The environment's bot key (tenant "default") reads "default" only, and has no key id of its own.
      expect([route, await as(BOT_KEY, 'tenant=default'), await as(BOT_KEY, 'tenant=alpha')]).toEqual([
        route,
        200,
        403,
      ]);
      expect([route, await as(BOT_KEY, `key_id=${alpha.id}`)]).toEqual([route, 403]);
      expect([route, await as(ADMIN_KEY, 'tenant=beta'), await as(ADMIN_KEY, `key_id=${beta.id}`)]).toEqual([
        route,
        200,
        200,
      ]);
    }
    expect((await get('/ai-cost/tenants', ADMIN_KEY)).body.tenants).toEqual(['alpha', 'beta']);
    expect((await get('/ai-cost/tenants', alpha.key)).body.tenants).toEqual(['alpha']);
    expect((await get('/ai-cost/tenants', beta.key)).body.tenants).toEqual(['beta']);
    expect((await get('/ai-cost/tenants', BOT_KEY)).body.tenants).toEqual([]); // "default" made no request
  });

  it('answers 400 for a malformed ?tenant= or ?key_id=, or both at once', async () => {
    const cases: [string, RegExp][] = [
      ['tenant=Alpha!', /tenant must be lower-case letters, digits, - and _/],
      ['key_id=nope', /key_id must be the id of a managed key/],
      [`tenant=alpha&key_id=${alpha.id}`, /Give tenant or key_id, not both/],
    ];
    for (const route of ['/ai-cost/stats', '/ai-cost/daily', '/ai-cost/agent-breakdown']) {
      for (const [query, message] of cases) {
        const res = await get(`${route}?${query}`, ADMIN_KEY);
        const text = Array.isArray(res.body.message) ? res.body.message.join('; ') : res.body.message;
        expect([route, query, res.status, text]).toEqual([route, query, 400, expect.stringMatching(message)]);
      }
    }
  });

  it('GET /admin/keys/:id/usage agrees with ?key_id= and with the key’s budget counters', async () => {
    const usage = (await get(`/admin/keys/${beta.id}/usage`, ADMIN_KEY)).body;
    const stats = (await get(`/ai-cost/stats?key_id=${beta.id}`, ADMIN_KEY)).body;
    expect(usage.key).toEqual((await get(`/admin/keys/${beta.id}`, ADMIN_KEY)).body);
    expect(usage.overall).toEqual(stats.overall);
    expect(usage.response_cache).toEqual(stats.response_cache);
    expect(usage.overall.total_requests).toBe(3);
    await waitFor(
      async () =>
        toPico((await get(`/admin/keys/${beta.id}/usage`, ADMIN_KEY)).body.daily_spent_usd) ===
        toPico(stats.overall.total_cost_usd),
      5000,
      'the daily counter of the key never matched its ledger cost',
    );
    const settledUsage = (await get(`/admin/keys/${beta.id}/usage`, ADMIN_KEY)).body;
    expect(toPico(settledUsage.monthly_spent_usd)).toBe(toPico(stats.overall.total_cost_usd));
  });
});

describe('Managed keys: the tenant label of /metrics stays bounded', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: { ...providerEnv({ deepseek }), METRICS_MAX_TENANTS: '2' } });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });

  it('gives the first METRICS_MAX_TENANTS tenants a label value of their own and counts the rest as "other"', async () => {
    const tenants = ['t-one', 't-two', 't-three', 't-four'];
    for (const tenant of tenants) {
      const key = await createKey(bastion, { name: tenant, tenant });
      const res = await bastion.request(
        'POST',
        '/ai/call',
        callBody('metrics_probe', `from ${tenant}`),
        key.key,
      );
      expect(res.status).toBe(200);
    }
    const text = (await bastion.request('GET', '/metrics', undefined, null)).body as string;
    const series = (metric: string) =>
      Object.fromEntries(
        text
          .split('\n')
          .filter((l) => l.startsWith(`${metric}{`) && l.includes('agent="metrics_probe"'))
          .map((l) => [/tenant="([^"]*)"/.exec(l)?.[1], Number(l.split(' ').pop())]),
      );
    const requests = series('bastion_requests_total');
    expect(requests).toEqual({ 't-one': 1, 't-two': 1, other: 2 });
    const cost = series('bastion_cost_usd_total');
    expect(Object.keys(cost).sort()).toEqual(['other', 't-one', 't-two']);
    expect(cost.other).toBeGreaterThan(cost['t-one']);
    expect(text).not.toMatch(/tenant="t-(three|four)"/);
  });

  it('refuses to start with a METRICS_MAX_TENANTS that is not a whole number from 0 to 1000', async () => {
    for (const value of ['-1', 'many', '1001']) {
      await expect(startTestApp({ env: { METRICS_MAX_TENANTS: value } })).rejects.toThrow(
        /METRICS_MAX_TENANTS/,
      );
    }
  });
});

import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

describe('Auth and input validation', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
  });

  const valid = { agent_type: 'regime_probe', prompt: 'Analyze BTC' };

  it('needs a key: none → 401, wrong → 401, bearer or X-API-Key → 200', async () => {
    expect((await bastion.request('POST', '/ai/call', valid, null)).status).toBe(401);
    expect((await bastion.request('POST', '/ai/call', valid, 'not-a-key')).status).toBe(401);
    expect(
      (await bastion.request('GET', '/ai-cost/stats', undefined, null, { 'x-api-key': BOT_KEY })).status,
    ).toBe(200);
    expect((await bastion.request('GET', '/ai-cost/stats', undefined, BOT_KEY)).status).toBe(200);
  });

  it('keeps health, docs open', async () => {
    expect((await bastion.request('GET', '/health/live', undefined, null)).status).toBe(200);
    expect((await bastion.request('GET', '/health/ready', undefined, null)).status).toBe(200);
    expect((await bastion.request('GET', '/docs/json', undefined, null)).status).toBe(200);
  });

  it('refuses a bot key on an admin route with 403 and accepts an admin key', async () => {
    const change = { daily_budget_usd: 3 };
    const bot = await bastion.request('PUT', '/ai-cost/budgets', change, BOT_KEY);
    expect(bot.status).toBe(403);
    expect(bot.body.message).toMatch(/admin/);
    const admin = await bastion.request('PUT', '/ai-cost/budgets', change, ADMIN_KEY);
    expect(admin.status).toBe(200);
    expect(admin.body.daily_budget_usd).toBe(3);
    expect((await bastion.request('GET', '/ai-cost/budgets')).body.daily_budget_usd).toBe(3);
  });

  it.each([
    ['a wrong type', { ...valid, max_tokens: 'many' }, /max_tokens must be an integer/],
    ['an unknown field', { ...valid, temprature: 0.2 }, /property temprature should not exist/],
    ['a missing field', { agent_type: 'regime_probe' }, /prompt must be a string/],
    ['a negative max_tokens', { ...valid, max_tokens: -5 }, /max_tokens must not be less than 1/],
    ['a temperature out of range', { ...valid, temperature: 7 }, /temperature must not be greater than 2/],
    ['a bad agent_type', { ...valid, agent_type: '../admin' }, /agent_type must be lower_snake_case/],
    ['a bad symbol', { ...valid, symbol: 'BTC/../../x' }, /symbol must look like/],
    [
      'non-numeric sampling features',
      { ...valid, sampling_features: { price: 'high' } },
      /sampling_features must be an object of finite numbers/,
    ],
    ['a context that is not an object', { ...valid, context: [1, 2] }, /context must be a JSON object/],
  ])('rejects %s with a 400 naming the problem', async (_name, body, message) => {
    const res = await bastion.request('POST', '/ai/call', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('Bad Request');
    expect(JSON.stringify(res.body.message)).toMatch(message);
  });

  it('rejects an unknown model with a 400 listing the known ones', async () => {
    const res = await bastion.request('POST', '/ai/call', { ...valid, model: 'gpt-9-ultra' });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(
      /model "gpt-9-ultra" is not configured; known models: .*deepseek-v4-flash/,
    );
  });

  it('answers malformed and oversized bodies with a 4xx, never a 5xx', async () => {
    const cases: [string, string | undefined, Record<string, string>][] = [
      ['{"agent_type": "x", ', undefined, { 'content-type': 'application/json' }],
      ['[]', undefined, { 'content-type': 'application/json' }],
      ['null', undefined, { 'content-type': 'application/json' }],
      ['"just a string"', undefined, { 'content-type': 'application/json' }],
      ['agent_type=x', undefined, { 'content-type': 'application/x-www-form-urlencoded' }],
      ['', undefined, { 'content-type': 'application/json' }],
    ];
    for (const [raw, , headers] of cases) {
      const res = await bastion.request('POST', '/ai/call', raw, BOT_KEY, headers);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(typeof res.body.message === 'string' || Array.isArray(res.body.message)).toBe(true);
    }
    const huge = JSON.stringify({ ...valid, prompt: 'x'.repeat(1_200_000) });
    const tooBig = await bastion.request('POST', '/ai/call', huge);
    expect(tooBig.status).toBe(413);
    const longPrompt = await bastion.request('POST', '/ai/call', { ...valid, prompt: 'y'.repeat(150_000) });
    expect(longPrompt.status).toBe(400);
    expect(JSON.stringify(longPrompt.body.message)).toMatch(
      /prompt must be shorter than or equal to 100000 characters/,
    );
    const badQuery = await bastion.request('GET', '/ai-cost/budget-alert?daily_budget=-1');
    expect(badQuery.status).toBe(400);
    expect(JSON.stringify(badQuery.body.message)).toMatch(/daily_budget must not be less than 0/);
    const badDate = await bastion.request('GET', '/ai-cost/daily?date=yesterday');
    expect(badDate.status).toBe(400);
    expect(deepseek.calls).toHaveLength(0);
  });

  it('never logs API keys or upstream keys', async () => {
    await bastion.request('POST', '/ai/call', valid);
    await bastion.request('POST', '/ai/call', valid, 'wrong-key-attempt');
    expect(bastion.logs.lines.length).toBeGreaterThan(0);
    expect(bastion.logs.text).not.toContain(BOT_KEY);
    expect(bastion.logs.text).not.toContain(ADMIN_KEY);
    expect(bastion.logs.text).not.toContain(DEEPSEEK_TEST_KEY);
  });
});

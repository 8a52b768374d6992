import { calcPrice } from '@pydantic/genai-prices';
import { ManualClock } from '../src/common/clock.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, OPENAI_TEST_KEY, providerEnv } from './support/fake-env.js';

const NOW = Date.parse('2026-11-22T12:00:00Z'); // off-peak for DeepSeek; fixed so prices are reproducible
const LONG_SYSTEM_PROMPT = `You are a crypto market analyst. ${'Follow the institutional format strictly. '.repeat(60)}`;

const expectedCost = (
  model: string,
  providerId: string,
  usage: { prompt_tokens: number; cached_prompt_tokens: number; completion_tokens: number },
): number => {
  const priced = calcPrice(
    {
      input_tokens: usage.prompt_tokens,
      cache_read_tokens: usage.cached_prompt_tokens,
      output_tokens: usage.completion_tokens,
    },
    model,
    { providerId, timestamp: new Date(NOW) },
  );
  if (!priced) throw new Error(`genai-prices has no price for ${model}`);
  return priced.total_price;
};

describe('AI gateway /ai/call against a DeepSeek-shaped upstream', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  const clock = new ManualClock(NOW);

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }), clock });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
  });
  beforeEach(() => deepseek.reset());

  const call = (body: Record<string, unknown>) =>
    bastion.request('POST', '/ai/call', { agent_type: 'regime_probe', symbol: 'BTC/USDT', ...body });

  it('answers a second identical request from the cache, saving what the first one cost', async () => {
    const body = {
      prompt: 'Analyze current BTC market regime',
      context: { price: 45000.5 },
      response_type: 'market_analysis',
    };
    const first = await call(body);
    expect(first.status).toBe(200);
    expect(first.body.metadata).toMatchObject({
      ai_called: true,
      cache_hit: false,
      reason: 'called',
      provider: 'deepseek',
      model: 'deepseek-v4-flash',
    });
    expect(first.body.response).toMatch(/^Answer #1/);
    const second = await call({ ...body, context: { price: 45000.5 } });
    expect(second.body.response).toBe(first.body.response);
    expect(second.body.metadata).toMatchObject({
      ai_called: false,
      cache_hit: true,
      reason: 'response_cache',
      cost_usd: 0,
    });
    expect(second.body.metadata.saved_usd).toBe(first.body.metadata.cost_usd);
    expect(first.body.metadata.cost_usd).toBeGreaterThan(0);
    expect(deepseek.calls).toHaveLength(1);
  });

  it('bypasses the cache with cache:false', async () => {
    const body = { prompt: 'Fresh view please', cache: false };
    await call(body);
    const again = await call(body);
    expect(again.body.metadata.reason).toBe('called');
    expect(deepseek.calls).toHaveLength(2);
  });

  it('makes exactly one upstream call for 20 concurrent identical requests', async () => {
    const slow = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY, latencyMs: 1000 });
    const app = await startTestApp({ env: providerEnv({ deepseek: slow }), clock });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          app.request('POST', '/ai/call', {
            agent_type: 'signal_probe',
            prompt: 'Validate long BTC 97000',
            symbol: 'BTC',
          }),
        ),
      );
      expect(slow.calls).toHaveLength(1);
      expect(results.every((r) => r.status === 200 && r.body.response === results[0].body.response)).toBe(
        true,
      );
      const reasons = results.map((r) => r.body.metadata.reason).sort();
      expect(reasons.filter((r) => r === 'called')).toHaveLength(1);
      expect(reasons.filter((r) => r === 'coalesced')).toHaveLength(19);
      const stats = (await app.request('GET', '/ai-cost/stats')).body;
      expect(stats.overall.total_calls).toBe(1);
      expect(stats.overall.total_requests).toBe(20);
    } finally {
      await app.close();
      await slow.close();
    }
  });

  it('prices DeepSeek usage exactly, cache-hit tokens at the cache rate', async () => {
    const first = await call({
      system_prompt: LONG_SYSTEM_PROMPT,
      prompt: 'What is the BTC regime now?',
      cache: false,
    });
    const m1 = first.body.metadata;
    expect(m1.cached_prompt_tokens).toBe(0);
    expect(Math.abs(m1.cost_usd - expectedCost('deepseek-v4-flash', 'deepseek', m1))).toBeLessThan(1e-9);

    const second = await call({ system_prompt: LONG_SYSTEM_PROMPT, prompt: 'And for ETH?', cache: false });
    const m2 = second.body.metadata;
    expect(m2.cached_prompt_tokens).toBeGreaterThan(0);
    expect(m2.cached_prompt_tokens % 64).toBe(0);
    expect(Math.abs(m2.cost_usd - expectedCost('deepseek-v4-flash', 'deepseek', m2))).toBeLessThan(1e-9);
    // The same usage with no cache hits would have cost more.
    const uncached = expectedCost('deepseek-v4-flash', 'deepseek', { ...m2, cached_prompt_tokens: 0 });
    expect(m2.cost_usd).toBeLessThan(uncached);
    const raw = deepseek.calls[1].body.messages;
    expect(raw[0]).toEqual({ role: 'system', content: LONG_SYSTEM_PROMPT }); // byte-identical static prefix first

    const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
    expect(stats.prompt_cache.cached_tokens).toBeGreaterThanOrEqual(m2.cached_prompt_tokens);
    expect(stats.prompt_cache.savings_usd).toBeGreaterThan(0);
  });
});

describe('AI gateway pricing of OpenAI usage and the stats that reconcile', () => {
  let openai: FakeLlm;
  let bastion: TestApp;
  const clock = new ManualClock(NOW);

  beforeAll(async () => {
    openai = await startFakeLlm({ personality: 'openai', apiKey: OPENAI_TEST_KEY });
    bastion = await startTestApp({
      env: { ...providerEnv({ openai }), AI_DEFAULT_MODEL: 'gpt-4o-mini' },
      clock,
    });
  });
  afterAll(async () => {
    await bastion.close();
    await openai.close();
  });

  it('prices OpenAI usage with cached_tokens exactly and the stats add up to the calls', async () => {
    const agents = ['regime_probe', 'signal_probe', 'anomaly_probe'];
    const costs: number[] = [];
    const longPrompt = `Static instructions. ${'Use the fixed answer format. '.repeat(200)}`;
    for (let i = 0; i < 6; i++) {
      const res = await bastion.request('POST', '/ai/call', {
        agent_type: agents[i % 3],
        system_prompt: longPrompt,
        prompt: `Question number ${i}`,
        symbol: 'ETH',
      });
      expect(res.status).toBe(200);
      const m = res.body.metadata;
      expect(Math.abs(m.cost_usd - expectedCost('gpt-4o-mini', 'openai', m))).toBeLessThan(1e-9);
      costs.push(m.cost_usd);
    }
    expect(openai.calls.at(-1)?.body.model).toBe('gpt-4o-mini');
    // The OpenAI fake caches >= 1024-token prefixes in 128-token steps: later calls carry cached tokens.
    const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
    expect(stats.prompt_cache.cached_tokens % 128).toBe(0);
    expect(stats.prompt_cache.cached_tokens).toBeGreaterThan(0);
    const total = costs.reduce((a, b) => a + b, 0);
    expect(stats.overall.total_calls).toBe(6);
    expect(stats.overall.total_calls).toBe(openai.completedCalls());
    expect(Math.abs(stats.overall.total_cost_usd - total)).toBeLessThan(1e-9);

    const breakdown = (await bastion.request('GET', '/ai-cost/agent-breakdown')).body;
    const agentSum = Object.values(
      breakdown.agents as Record<string, { cost_usd: number; calls: number }>,
    ).reduce((s, a) => s + a.cost_usd, 0);
    expect(Math.abs(agentSum - stats.overall.total_cost_usd)).toBeLessThan(1e-12);
    expect(breakdown.agents.regime_probe.calls).toBe(2);

    const daily = (await bastion.request('GET', '/ai-cost/daily')).body;
    expect(daily.date).toBe('2026-11-22');
    expect(daily.total_calls).toBe(6);
    expect(daily.total_cost_usd).toBe(stats.overall.total_cost_usd);

    const alert = (
      await bastion.request('GET', '/ai-cost/budget-alert?daily_budget=5.0&monthly_budget=150.0')
    ).body;
    expect(alert.daily_budget).toBe(5);
    expect(alert.monthly_budget).toBe(150);
    expect(Math.abs(alert.daily_usage_percent - (total / 5) * 100)).toBeLessThan(1e-6);
    expect(Math.abs(alert.monthly_usage_percent - (total / 150) * 100)).toBeLessThan(1e-6);
    expect(alert.status).toBe('ok');
  });
});

describe('Hard budgets under concurrency', () => {
  it('60 concurrent distinct calls spend no more than the budget plus one call', async () => {
    const deepseek = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      latencyMs: 30,
    });
    const bastion = await startTestApp({ env: { ...providerEnv({ deepseek }), BUDGET_ENFORCEMENT: 'hard' } });
    try {
      const body = (i: number) => ({
        agent_type: 'budget_probe',
        prompt: `Distinct question ${String(i).padStart(3, '0')}`,
        max_tokens: 12,
      });
      const probe = await bastion.request('POST', '/ai/call', { ...body(999), agent_type: 'calibration' });
      const oneCall = probe.body.metadata.cost_usd as number;
      expect(oneCall).toBeGreaterThan(0);
      const budget = 5 * oneCall;
      const put = await bastion.request(
        'PUT',
        '/ai-cost/budgets',
        { agents: { budget_probe: { daily_budget_usd: budget } } },
        ADMIN_KEY,
      );
      expect(put.status).toBe(200);
      deepseek.reset();

      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => bastion.request('POST', '/ai/call', body(i))),
      );
      const called = results.filter((r) => r.body.metadata.reason === 'called');
      const refused = results.filter((r) => r.body.metadata.reason === 'budget_exceeded');
      expect(called.length + refused.length).toBe(60);
      expect(called.length).toBeGreaterThanOrEqual(1);
      expect(deepseek.calls).toHaveLength(called.length); // refused calls never reached the upstream
      const spent = called.reduce((s, r) => s + (r.body.metadata.cost_usd as number), 0);
      expect(spent).toBeLessThanOrEqual(budget + oneCall * 1.5);
      const agentStats = (await bastion.request('GET', '/ai-cost/agent-breakdown')).body.agents.budget_probe;
      expect(agentStats.calls).toBe(called.length);
      expect(refused[0].body.metadata.message).toMatch(/budget/);
    } finally {
      await bastion.close();
      await deepseek.close();
    }
  });
});

describe('Upstream failures: retries, fallbacks and clear errors', () => {
  it('retries a 429 honouring Retry-After and answers', async () => {
    const deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    const bastion = await startTestApp({ env: providerEnv({ deepseek }) });
    try {
      deepseek.inject({ kind: 'status', status: 429, retryAfterSeconds: 1, times: 1 });
      const started = Date.now();
      const res = await bastion.request('POST', '/ai/call', {
        agent_type: 'regime_probe',
        prompt: 'retry me',
      });
      expect(res.status).toBe(200);
      expect(res.body.metadata.reason).toBe('called');
      expect(deepseek.calls).toHaveLength(2);
      expect(deepseek.calls[1].at - deepseek.calls[0].at).toBeGreaterThanOrEqual(900);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      await bastion.close();
      await deepseek.close();
    }
  });

  it('answers with the fallback model when the primary keeps failing, and records only the fallback call', async () => {
    const deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    const vllm = await startFakeLlm({ personality: 'vllm' });
    const bastion = await startTestApp({ env: providerEnv({ deepseek, vllm }) });
    try {
      deepseek.inject({ kind: 'status', status: 500 });
      const res = await bastion.request('POST', '/ai/call', {
        agent_type: 'regime_probe',
        prompt: 'fallback please',
      });
      expect(res.status).toBe(200);
      expect(res.body.metadata).toMatchObject({
        reason: 'called',
        model: 'bastion-model',
        provider: 'vllm',
        fallback_from: 'deepseek-v4-flash',
      });
      expect(res.body.metadata.cost_usd).toBeNull(); // self-hosted: unpriced, never $0
      expect(deepseek.calls.length).toBeGreaterThanOrEqual(2);
      expect(vllm.calls).toHaveLength(1);
      expect(vllm.calls[0].body.model).toBe('Qwen/Qwen2.5-Coder-32B-Instruct-AWQ');
      const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
      expect(stats.overall.total_calls).toBe(1);
      expect(stats.overall.unpriced_calls).toBe(1);
      expect(stats.overall.total_cost_usd).toBe(0);
    } finally {
      await bastion.close();
      await deepseek.close();
      await vllm.close();
    }
  });

  it('gives a clear 502/503/504 and records no spend when there is no fallback', async () => {
    const openai = await startFakeLlm({ personality: 'openai', apiKey: OPENAI_TEST_KEY });
    const bastion = await startTestApp({
      env: {
        ...providerEnv({ openai }),
        AI_DEFAULT_MODEL: 'gpt-4o-mini',
        BUDGET_ENFORCEMENT: 'hard',
        DAILY_BUDGET_USD: '1',
      },
    });
    try {
      openai.inject({ kind: 'status', status: 503, retryAfterMs: 10 });
      const down = await bastion.request('POST', '/ai/call', {
        agent_type: 'regime_probe',
        prompt: 'anyone there?',
      });
      expect([502, 503]).toContain(down.status);
      expect(down.body).toMatchObject({ code: 'provider_unavailable', reason: 'provider_unavailable' });
      expect(down.body.message).toMatch(/gpt-4o-mini: 503/);
      openai.clearFaults();

      openai.inject({ kind: 'hang' });
      const hung = await bastion.request('POST', '/ai/call', {
        agent_type: 'regime_probe',
        prompt: 'hang forever',
      });
      expect(hung.status).toBe(504);
      expect(hung.body.message).toMatch(/timed out/);
      openai.clearFaults();

      openai.inject({ kind: 'malformed' });
      const garbled = await bastion.request('POST', '/ai/call', {
        agent_type: 'regime_probe',
        prompt: 'garbled',
      });
      expect(garbled.status).toBe(502);
      expect(garbled.body.message).toMatch(/malformed|JSON/i);
      openai.clearFaults();

      const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
      expect(stats.overall.total_calls).toBe(0);
      expect(stats.overall.total_cost_usd).toBe(0);
      // The reservations were given back: a full budget is still available.
      const ok = await bastion.request('POST', '/ai/call', {
        agent_type: 'regime_probe',
        prompt: 'now it works',
      });
      expect(ok.body.metadata.reason).toBe('called');
      const spend = await bastion.redis.client.get(
        bastion.redis.keys.budgetSpend('day:' + new Date().toISOString().slice(0, 10), 'global'),
      );
      const { toPico } = await import('../src/common/money.js');
      expect(BigInt(spend ?? '0')).toBe(toPico(ok.body.metadata.cost_usd as number));
    } finally {
      await bastion.close();
      await openai.close();
    }
  });
});

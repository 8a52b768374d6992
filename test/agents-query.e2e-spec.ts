import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

describe('POST /bastion/query', () => {
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

  const ask = (body: Record<string, unknown>) => bastion.request('POST', '/bastion/query', body);

  it('sends a byte-identical first message so the provider prefix cache hits from the second query on', async () => {
    const first = await ask({ query: 'Should I long BTC at $97,000 with $50K?' });
    expect(first.status).toBe(200);
    expect(first.body.context).toMatchObject({
      symbols: ['BTC'],
      capital_usd: 50_000,
      direction: 'long',
      price_levels: [97_000],
    });
    expect(first.body.metadata).toMatchObject({
      ai_enhanced: true,
      reason: 'called',
      cached_prompt_tokens: 0,
    });
    expect(first.body.latency).toEqual(
      expect.objectContaining({ total_ms: expect.any(Number), ai_ms: expect.any(Number) }),
    );
    expect(Array.isArray(first.body.data_sources)).toBe(true);
    const second = await ask({
      query: 'Is it time to short ethereum with 10x leverage?',
      user_context: { capital_usd: 20_000, risk_tolerance: 'low' },
    });
    expect(second.body.context).toMatchObject({
      symbols: ['ETH'],
      leverage: 10,
      capital_usd: 20_000,
      risk_tolerance: 'low',
    });
    expect(second.body.metadata.cached_prompt_tokens).toBeGreaterThan(0);
    const third = await ask({ query: 'scalp SOL with $2,500' });
    expect(third.body.metadata.cached_prompt_tokens).toBeGreaterThan(0);
    const firstMessages = deepseek.calls.map((c) => JSON.stringify(c.body.messages[0]));
    expect(firstMessages).toHaveLength(3);
    expect(new Set(firstMessages).size).toBe(1);
    expect(deepseek.calls[1].body.messages[1].content).toContain('"leverage":10'); // dynamic data goes later
  });

  it('streams several SSE chunks and ends with the metadata', async () => {
    const res = await fetch(`${bastion.url}/bastion/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test-bot-key-0001' },
      body: JSON.stringify({ query: 'What is the long-term outlook for bitcoin?', stream: true }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const parsed = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')) as { type: string });
    expect(parsed.filter((p) => p.type === 'chunk').length).toBeGreaterThanOrEqual(1);
    expect(parsed.at(-1)).toMatchObject({ type: 'metadata', context: { timeframe: 'long-term' } });
  });

  it('answers with a flagged deterministic brief when the model fails', async () => {
    deepseek.inject({ kind: 'status', status: 500 });
    const res = await ask({ query: 'Buy ETH with 50,000 USDT for a swing trade, conservative' });
    deepseek.clearFaults();
    expect(res.status).toBe(200);
    expect(res.body.metadata).toMatchObject({ ai_enhanced: false, fallback: 'deterministic_brief' });
    expect(res.body.response).toMatch(/KEY STRUCTURAL LEVELS[\s\S]*RISK SHIELD[\s\S]*VERDICT/);
    expect(res.body.response).toMatch(/at most 1% of \$50000/);
  });

  it('rejects an empty query or a negative capital with a 400 naming the problem', async () => {
    const empty = await ask({ query: '' });
    expect(empty.status).toBe(400);
    expect(JSON.stringify(empty.body.message)).toMatch(/query must not be empty/);
    const negative = await ask({ query: 'long BTC', user_context: { capital_usd: -5 } });
    expect(negative.status).toBe(400);
    expect(JSON.stringify(negative.body.message)).toMatch(
      /user_context.capital_usd must be a positive number/,
    );
  });
});

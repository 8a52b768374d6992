import { PromptStore } from '../src/ai-optimization/prompt-store.js';
import {
  QUERY_PROMPT_NAME,
  QUERY_SECTIONS,
  QUERY_SYSTEM_PROMPT,
} from '../src/agents/bastion-query/query.prompt.js';
import { startFakeCoinglass, type FakeCoinglass } from './fakes/coinglass.js';
import { startFakeFearGreed, type FakeFearGreed } from './fakes/fear-greed.js';
import { startFakeHelsinki, type FakeHelsinki } from './fakes/helsinki.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

/** The SSE frames of one streamed query: the parsed JSON events and whether it ended with [DONE]. */
async function streamQuery(
  url: string,
  body: Record<string, unknown>,
): Promise<{ contentType: string | null; events: any[]; done: boolean }> {
  const res = await fetch(`${url}/bastion/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${BOT_KEY}` },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const frames = (await res.text()).split('\n\n').filter(Boolean);
  const done = frames.at(-1) === 'data: [DONE]';
  const events = frames
    .filter((f) => f !== 'data: [DONE]')
    .map((f) => {
      expect(f.startsWith('data: ')).toBe(true);
      return JSON.parse(f.slice('data: '.length));
    });
  return { contentType: res.headers.get('content-type'), events, done };
}

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

  it('sends a byte-identical first message, so the provider prefix cache hits from the second query on', async () => {
    const first = await ask({ query: 'Should I long BTC at $97,000 with $50K?' });
    expect(first.status).toBe(200);
    expect(first.body.context).toEqual({
      symbols: ['BTC'],
      direction: 'long',
      capital_usd: 50_000,
      timeframe: null,
      trade_type: null,
      leverage: null,
      risk_tolerance: null,
      price_levels: [97_000],
    });
    expect(first.body.response).toMatch(/^Answer #1 to: Should I long BTC/);
    expect(first.body.metadata).toMatchObject({
      ai_enhanced: true,
      fallback: null,
      reason: 'called',
      cache_hit: false,
      model: 'deepseek-v4-flash',
      cached_prompt_tokens: 0,
      prompt_name: QUERY_PROMPT_NAME,
      prompt_version: PromptStore.versionOf(QUERY_SYSTEM_PROMPT),
    });
    expect(first.body.metadata.cost_usd).toBeGreaterThan(0);
    expect(first.body.metadata.prompt_tokens).toBeGreaterThan(0);
    expect(first.body.latency).toEqual({
      total_ms: expect.any(Number),
      market_data_ms: expect.any(Number),
      ai_ms: expect.any(Number),
    });
    // Market sources are unconfigured in tests; Fear & Greed points at a closed port: reported, not fatal.
    expect(first.body.data_sources).toEqual([]);
    expect(first.body.market_context).toMatchObject({ symbol: 'BTC/USDT', price: null, data: {} });
    expect(first.body.market_context.errors.fear_greed).toEqual({
      reason: 'network',
      message: expect.stringMatching(/^fear_greed .* unreachable/),
    });

    const second = await ask({
      query: 'Is it time to short ethereum with 10x leverage?',
      user_context: { capital_usd: 20_000, risk_tolerance: 'low' },
    });
    expect(second.status).toBe(200);
    expect(second.body.context).toMatchObject({
      symbols: ['ETH'],
      direction: 'short',
      leverage: 10,
      trade_type: 'leverage',
      capital_usd: 20_000,
      risk_tolerance: 'low',
    });
    expect(second.body.metadata.cached_prompt_tokens).toBeGreaterThan(0);

    const third = await ask({ query: 'scalp SOL with $2,500', user_context: { timeframe: 'day' } });
    expect(third.body.context).toMatchObject({ symbols: ['SOL'], capital_usd: 2_500, timeframe: 'day' });
    expect(third.body.metadata.cached_prompt_tokens).toBeGreaterThan(0);

    expect(deepseek.calls).toHaveLength(3);
    const firstMessages = deepseek.calls.map((c) => JSON.stringify(c.body.messages[0]));
    expect(new Set(firstMessages).size).toBe(1);
    expect(deepseek.calls[0].body.messages[0]).toEqual({ role: 'system', content: QUERY_SYSTEM_PROMPT });
    // Everything dynamic travels after the static prompt.
    const user = deepseek.calls[1].body.messages[1];
    expect(user.role).toBe('user');
    expect(user.content).toMatch(/^Is it time to short ethereum with 10x leverage\?\n\nContext \(JSON\):\n/);
    expect(user.content).toContain('"leverage":10');
    expect(user.content).toContain('"symbol":"ETH/USDT"');
    expect(user.content).toContain('"unavailable_sources":["fear_greed"]');
    // The template is versioned in Redis under ai:prompt:{name}:{version}.
    const stored = await bastion.redis.client.get(
      bastion.redis.keys.prompt(QUERY_PROMPT_NAME, PromptStore.versionOf(QUERY_SYSTEM_PROMPT)),
    );
    expect(stored).toBe(QUERY_SYSTEM_PROMPT);
  });

  it('answers a repeated question from the response cache without calling the provider', async () => {
    const before = deepseek.calls.length;
    const again = await ask({ query: 'Should I long BTC at $97,000 with $50K?' });
    expect(again.status).toBe(200);
    expect(again.body.metadata).toMatchObject({
      ai_enhanced: true,
      reason: 'response_cache',
      cache_hit: true,
    });
    expect(again.body.response).toMatch(/^Answer #1 to: Should I long BTC/);
    expect(deepseek.calls).toHaveLength(before);
  });

  it('streams several SSE chunks and ends with the metadata and [DONE]', async () => {
    const { contentType, events, done } = await streamQuery(bastion.url, {
      query: 'What is the long-term outlook for bitcoin?',
    });
    expect(contentType).toMatch(/^text\/event-stream/);
    expect(done).toBe(true);
    const chunks = events.filter((e) => e.type === 'chunk');
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(events.slice(0, chunks.length).every((e) => e.type === 'chunk')).toBe(true);
    expect(chunks.map((c) => c.content).join('')).toMatch(
      /^Answer #\d+ to: What is the long-term outlook for bi/,
    );
    const last = events.at(-1);
    expect(last).toMatchObject({
      type: 'metadata',
      context: { symbols: ['BTC'], timeframe: 'long-term', direction: null },
      metadata: { ai_enhanced: true, reason: 'called' },
      data_sources: [],
    });
    expect(last.metadata.cached_prompt_tokens).toBeGreaterThan(0);
    expect(last.latency.total_ms).toEqual(expect.any(Number));
    expect(last).not.toHaveProperty('response');
  });

  it('answers a bad streamed query with a plain JSON 400, not an event stream', async () => {
    const res = await ask({ query: '   ', stream: true });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('answers with a flagged deterministic brief in the same sections when the model fails', async () => {
    deepseek.inject({ kind: 'status', status: 500 });
    let res;
    try {
      res = await ask({ query: 'Buy ETH with 50,000 USDT for a swing trade, conservative, 3x leverage' });
    } finally {
      deepseek.clearFaults();
    }
    expect(res.status).toBe(200);
    expect(res.body.metadata).toMatchObject({
      ai_enhanced: false,
      fallback: 'deterministic_brief',
      reason: 'provider_unavailable',
      model: null,
      cost_usd: 0,
    });
    expect(res.body.metadata.message).toMatch(/500/);
    const text: string = res.body.response;
    const positions = Object.values(QUERY_SECTIONS).map((heading) => text.indexOf(heading));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // Sizing from the same numbers: 1% of $50,000 = $500 at a typical 4% swing stop → a $12,500 position,
    // within capital × 3x; liquidation at 3x (~32.8%) is beyond the stop.
    expect(text).toContain('Risk at most 1% of $50,000 = $500 per trade.');
    expect(text).toContain('Stop 4% away (a typical swing stop) → position size $12,500, margin $4,166.67.');
    expect(text).toContain('At 3x, liquidation is ~32.83% away, beyond the stop.');
    expect(text).toMatch(/WAIT FOR CONFIRMATION on ETH\. Confidence: \d+%/);
    expect(res.body.context).toMatchObject({ capital_usd: 50_000, risk_tolerance: 'low', leverage: 3 });
  });

  it('stands aside in the brief when the leverage would liquidate before the stop', async () => {
    deepseek.inject({ kind: 'status', status: 500 });
    let res;
    try {
      res = await ask({ query: 'long SOL 50x with $1,000, swing' });
    } finally {
      deepseek.clearFaults();
    }
    expect(res.body.metadata.ai_enhanced).toBe(false);
    expect(res.body.response).toContain(
      'At 50x, liquidation (~1.5%) comes before the stop: use at most 16x.',
    );
    expect(res.body.response).toMatch(/STAND ASIDE on SOL\. Confidence: 20%/);
  });

  it.each([
    ['an empty query', { query: '' }, /query must not be empty/],
    ['a blank query', { query: '   ' }, /query must not be empty/],
    ['a query over 2000 characters', { query: 'x'.repeat(2001) }, /query must be at most 2000 characters/],
    ['a missing query', {}, /query must be a string/],
    [
      'a negative capital',
      { query: 'long BTC', user_context: { capital_usd: -5 } },
      /user_context.capital_usd must be a positive number/,
    ],
    [
      'an absurd leverage',
      { query: 'long BTC', user_context: { leverage: 500 } },
      /user_context.leverage must be between 1 and 200/,
    ],
    [
      'an unknown risk tolerance',
      { query: 'long BTC', user_context: { risk_tolerance: 'wild' } },
      /user_context.risk_tolerance must be one of low, medium, high/,
    ],
    [
      'an unknown timeframe',
      { query: 'long BTC', user_context: { timeframe: '1h' } },
      /user_context.timeframe must be one of/,
    ],
    [
      'an unknown context field',
      { query: 'long BTC', user_context: { wallet: 'x' } },
      /user_context.property wallet should not exist/,
    ],
    ['a non-boolean stream', { query: 'long BTC', stream: 'yes' }, /stream must be a boolean/],
    [
      'a negative capital in the text',
      { query: 'long BTC with -$5,000' },
      /capital must be a positive amount of USD, got -5000/,
    ],
    [
      'an absurd leverage in the text',
      { query: 'long BTC with 500x leverage' },
      /leverage must be between 1x and 200x, got 500x/,
    ],
  ])('rejects %s with a 400 naming the problem', async (_label, body, message) => {
    const before = deepseek.calls.length;
    const res = await ask(body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.message)).toMatch(message);
    expect(deepseek.calls).toHaveLength(before);
  });
});

describe('POST /bastion/query without any provider configured', () => {
  let bastion: TestApp;
  beforeAll(async () => {
    bastion = await startTestApp();
  });
  afterAll(async () => {
    await bastion.close();
  });

  it('still answers, with the deterministic brief', async () => {
    const res = await bastion.request('POST', '/bastion/query', { query: 'short BTC below 90k, day trade' });
    expect(res.status).toBe(200);
    expect(res.body.metadata).toMatchObject({
      ai_enhanced: false,
      fallback: 'deterministic_brief',
      reason: 'provider_unavailable',
    });
    expect(res.body.response).toContain('- Levels you named: $90,000.');
    expect(res.body.response).toContain('Risk at most 2% of your capital per trade.');
  });
});

describe('POST /bastion/query with live market data', () => {
  const CG_KEY = 'cg-test-key-abcdef123456';
  let deepseek: FakeLlm;
  let helsinki: FakeHelsinki;
  let fng: FakeFearGreed;
  let coinglass: FakeCoinglass;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    helsinki = await startFakeHelsinki();
    fng = await startFakeFearGreed();
    coinglass = await startFakeCoinglass({ apiKey: CG_KEY });
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        HELSINKI_VM_URL: helsinki.url,
        FEAR_GREED_URL: `${fng.url}/fng/`,
        COINGLASS_API_KEY: CG_KEY,
        COINGLASS_BASE_URL: coinglass.url,
      },
    });
  });
  afterAll(async () => {
    await bastion.close();
    await Promise.all([deepseek.close(), helsinki.close(), fng.close(), coinglass.close()]);
  });

  it('gives the model the normalised market data after the static prompt', async () => {
    const res = await bastion.request('POST', '/bastion/query', { query: 'long BTC with $10k for a swing' });
    expect(res.status).toBe(200);
    expect(res.body.data_sources).toEqual(['coinglass', 'fear_greed', 'helsinki']);
    const market = res.body.market_context;
    expect(market).toMatchObject({ symbol: 'BTC/USDT', price: 97_123.5, disabled_sources: ['whale_alert'] });
    // Normalised only: the vendor payload stays out of the answer and out of the prompt.
    expect(market.data.helsinki).not.toHaveProperty('raw');
    expect(market.data.helsinki.liquidation_levels).toEqual({
      long: [95_000, 94_250.5, 93_000],
      short: [99_000, 100_500],
    });
    expect(market.data.coinglass).not.toHaveProperty('partial_errors');
    const [system, user] = deepseek.calls[0].body.messages;
    expect(system.content).toBe(QUERY_SYSTEM_PROMPT);
    expect(user.content).toContain('"price":97123.5');
    expect(user.content).toContain('"long_short_ratio":0.63');
    expect(user.content).not.toContain('"raw"');
  });

  it('builds the brief from the same levels when the model fails', async () => {
    deepseek.inject({ kind: 'status', status: 500 });
    let res;
    try {
      // Another wording of the same trade: the first answer is in the response cache.
      res = await bastion.request('POST', '/bastion/query', {
        query: 'Swing long on bitcoin using $10,000?',
      });
    } finally {
      deepseek.clearFaults();
    }
    expect(res.body.metadata).toMatchObject({ ai_enhanced: false, fallback: 'deterministic_brief' });
    const text: string = res.body.response;
    expect(text).toContain('- Last price of BTC: $97,123.5.');
    expect(text).toContain('- Resistance above: $99,000, $100,500.');
    expect(text).toContain('- Support below: $95,000, $94,250.5, $93,000.');
    expect(text).toContain('- Test: $99,000. Break: a 4h close above it.');
    expect(text).toContain('- Invalidation: $95,000.');
    // 2% (medium, the default) of $10,000 = $200 over a 4.04% stop (99,000 → 95,000).
    expect(text).toContain('Risk at most 2% of $10,000 = $200 per trade.');
    expect(text).toContain('Stop 4.04% away (entry to invalidation) → position size $4,950.');
    expect(text).toMatch(/- The data leans (bullish|bearish|neutral): .*long\/short ratio 0\.63/);
  });
});

/**
 * Hostile input, each case of issue 14's first paragraph that is about input: limits checked before any
 * per-element work, 400s naming the field instead of 500s, 415 for bodies that are not JSON. The real app,
 * real Redis, a fake DeepSeek.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const iso = (msAgo = 0): string => new Date(Date.now() - msAgo).toISOString();

describe('Hostile input: limits first, 400s naming the field, never a 5xx', () => {
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

  const send = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    bastion.request(method, path, body, ADMIN_KEY, headers);
  /** The error message of either shape (Bastion's `message`, OpenAI's `error.message`), as one string. */
  const messageOf = (body: { message?: unknown; error?: { message?: unknown } }): string => {
    const message = body.message ?? body.error?.message;
    return Array.isArray(message) ? message.join('; ') : String(message);
  };

  /** The answer, and the longest the event loop was held while the request was served. */
  async function measured(method: string, path: string, body: string) {
    const histogram = monitorEventLoopDelay({ resolution: 2 });
    await sleep(5);
    histogram.enable();
    const started = performance.now();
    const res = await send(method, path, body);
    const wallMs = performance.now() - started;
    await sleep(5);
    histogram.disable();
    return { ...res, wallMs, loopMs: histogram.max / 1e6 };
  }

  it('answers a 450 KB telemetry body of 150,000 empty events at once with 413, the event loop never held 100 ms', async () => {
    const body = JSON.stringify({ user_id: 1, events: Array(150_000).fill({}) });
    expect(body.length).toBeGreaterThan(450_000);
    const res = await measured('POST', '/bots/bot-1/telemetry', body);
    expect(res.status).toBe(413);
    expect(res.body.message).toBe('events: an array of more than 10000 items; no route accepts that many');
    expect(res.loopMs).toBeLessThan(100);
    expect(res.wallMs).toBeLessThan(1000);
  });

  it('refuses 10,000 empty events (under the parser limit) by their count, without validating each', async () => {
    const res = await measured(
      'POST',
      '/bots/bot-1/telemetry',
      JSON.stringify({ user_id: 1, events: Array(10_000).fill({}) }),
    );
    expect(res.status).toBe(400);
    expect(res.body.message).toEqual(['events must contain at most 1000 events']);
    expect(res.loopMs).toBeLessThan(100);
    // The largest batch a bot may send is stored within the same bound.
    const events = Array.from({ length: 1000 }, (_, i) => ({
      type: 'order',
      timestamp: iso(i),
      latency_ms: 90,
    }));
    const full = await measured('POST', '/bots/bot-1/telemetry', JSON.stringify({ user_id: 1, events }));
    expect(full.status).toBe(200);
    expect(full.body.accepted).toBe(1000);
    expect(full.loopMs).toBeLessThan(100);
  });

  it.each([
    ['/ai/call', 'POST', (deep: string) => `{"agent_type":"probe","prompt":"x","context":{"a":${deep}}}`],
    ['/v1/chat/completions', 'POST', (deep: string) => `{"model":"deepseek-v4-flash","messages":${deep}}`],
    ['/bots/bot-1/telemetry', 'POST', (deep: string) => `{"user_id":1,"events":${deep}}`],
    ['/agents/settings/market_regime', 'PATCH', (deep: string) => `{"thresholds":${deep}}`],
    ['/ai-cost/budgets', 'PUT', (deep: string) => `{"agents":{"a":${deep}}}`],
  ])('refuses JSON nested 3,000 deep on %s with a 400 naming the depth', async (path, method, body) => {
    const res = await send(method, path, body(nested(3000)));
    expect(res.status).toBe(400);
    expect(messageOf(res.body)).toMatch(/nested deeper than 64 levels/);
  });

  it.each([
    [
      '/ai/call',
      { agent_type: 'probe', prompt: 'x', max_tokens: 1e308 },
      /max_tokens must not be greater than 65536/,
    ],
    [
      '/ai/events',
      {
        agent_type: 'probe',
        prompt: 'x',
        max_tokens: 1e308,
        event: { symbol: 'BTC', event_type: 'PRICE_CHANGE', priority: 'HIGH' },
      },
      /max_tokens must not be greater than 65536/,
    ],
    [
      '/v1/chat/completions',
      { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }], max_tokens: 1e308 },
      /max_tokens must be a positive integer/,
    ],
    [
      '/v1/chat/completions',
      { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }], temperature: 1e308 },
      /temperature must be a number between 0 and 2/,
    ],
    [
      '/bots/bot-1/telemetry',
      { user_id: 1, events: [{ type: 'trade', timestamp: iso(), pnl: 1e308 }] },
      /events\.0\.pnl must be between/,
    ],
    [
      '/bots/bot-1/telemetry',
      { user_id: 1e308, events: [{ type: 'heartbeat', timestamp: iso() }] },
      /user_id must be/,
    ],
    [
      '/agents/anomaly-detector/detect',
      { user_id: 1e308, bot_id: 'bot-1', timeframe_minutes: 60 },
      /user_id must be at most 9007199254740991/,
    ],
    [
      '/agents/signal-validator/validate',
      { symbol: 'BTC', side: 'long', entry_price: 1e308 },
      /entry_price must be at most 1000000000000000/,
    ],
    [
      '/agents/portfolio-optimizer/optimize',
      { user_id: 1, risk_level: 'moderate', positions: [{ symbol: 'BTC', value_usd: 1e308 }] },
      /value_usd must be at most/,
    ],
  ])('refuses an overflowing number on %s with a 400 naming the field', async (path, body, message) => {
    const res = await send('POST', path, body);
    expect(res.status).toBe(400);
    expect(messageOf(res.body)).toMatch(message);
  });

  it('refuses an overflowing budget, so a hard budget never turns every call into a 500', async () => {
    const res = await send('PUT', '/ai-cost/budgets', { daily_budget_usd: 1e308, enforcement: 'hard' });
    expect(res.status).toBe(400);
    expect(messageOf(res.body)).toMatch(/daily_budget_usd must not be greater than 1000000000/);
    const agent = await send('PUT', '/ai-cost/budgets', { agents: { probe: { monthly_budget_usd: 1e308 } } });
    expect(agent.status).toBe(400);
    expect(messageOf(agent.body)).toMatch(/agents\.probe\.monthly_budget_usd must be a number between 0 and/);
    const query = await send('GET', '/ai-cost/budget-alert?daily_budget=1e308', undefined);
    expect(query.status).toBe(400);
    expect(messageOf(query.body)).toMatch(/daily_budget must not be greater than 1000000000/);
    const call = await send('POST', '/ai/call', {
      agent_type: 'probe',
      prompt: 'still answered?',
      cache: false,
    });
    expect(call.status).toBe(200);
  });

  it.each([
    [
      '/bots/bot-1/telemetry',
      { user_id: 1, events: [[]] },
      /events\.0 must be an object with a type and a timestamp/,
    ],
    [
      '/agents/portfolio-optimizer/optimize',
      { user_id: 1, risk_level: 'moderate', positions: [[]] },
      /positions\.0 must be an object \{symbol, value_usd\}/,
    ],
    [
      '/agents/signal-validator/validate',
      { symbol: 'BTC', side: 'long', entry_price: 1, open_positions: [[]] },
      /open_positions\.0 must be an object \{symbol, side\}/,
    ],
    [
      '/agents/signal-validator/validate',
      { symbol: 'BTC', side: 'long', entry_price: 1, recent_exits: [null] },
      /recent_exits\.0 must be an object \{symbol, timestamp\}/,
    ],
    ['/bastion/query', { query: 'BTC?', user_context: [[]] }, /user_context must be an object/],
    [
      '/agents/portfolio-optimizer/optimize',
      { user_id: 1, risk_level: 'moderate', positions: [{ symbol: 'BTC', value_usd: 1 }], candles: [[]] },
      /candles must be an object of symbol → OHLCV rows/,
    ],
  ])(
    'refuses a non-object where an object belongs on %s, naming the element',
    async (path, body, message) => {
      const res = await send('POST', path, body);
      expect(res.status).toBe(400);
      expect(messageOf(res.body)).toMatch(message);
    },
  );

  it.each([
    ['/bastion/query', { query: 'BTC?', user_context: null }, /user_context must be an object/],
    [
      '/agents/market-regime/analyze',
      { symbol: 'BTC', timeframe: '1h', include_ai: null },
      /include_ai must be a boolean value/,
    ],
    [
      '/agents/signal-validator/validate',
      { symbol: 'BTC', side: 'long', entry_price: 1, timeframe: null },
      /timeframe must be one of/,
    ],
    [
      '/agents/anomaly-detector/detect',
      { user_id: 1, bot_id: 'bot-1', timeframe_minutes: 60, equity_usd: null },
      /equity_usd must be a finite number/,
    ],
    ['/bots/bot-1/telemetry', { user_id: 1, events: null }, /events must be an array/],
    ['/ai/call', { agent_type: 'probe', prompt: 'x', context: null }, /context must be a JSON object/],
  ])('refuses null where a value belongs on %s, naming the field', async (path, body, message) => {
    const res = await send('POST', path, body);
    expect(res.status).toBe(400);
    expect(messageOf(res.body)).toMatch(message);
  });

  it('refuses prototype keys with a 400 naming the field, and changes no prototype', async () => {
    const cases: [string, string, unknown, RegExp, Record<string, string>?][] = [
      [
        'PUT',
        '/ai-cost/budgets',
        '{"agents":{"constructor":{"daily_budget_usd":1}}}',
        /agents\.constructor: the key/,
      ],
      ['PUT', '/ai-cost/budgets', { agents: { hasOwnProperty: null } }, /agents\.hasOwnProperty: the key/],
      [
        'PATCH',
        '/agents/settings',
        '{"constructor":{"prototype":{"polluted":true}}}',
        /constructor: the key/,
      ],
      ['PATCH', '/agents/settings', '{"__proto__":{"polluted":true}}', /__proto__: the key/],
      ['PATCH', '/agents/settings', { toString: {} }, /toString: the key "toString" is not accepted/],
      [
        'PATCH',
        '/agents/settings/market_regime',
        { thresholds: { valueOf: 1 } },
        /thresholds\.valueOf: the key "valueOf" is not accepted/,
      ],
      [
        'PATCH',
        '/agents/settings/signal_validator',
        { critical_rules: ['toString'] },
        /critical_rules\.0 must be one of .*got "toString"/,
      ],
      [
        'POST',
        '/ai-cost/sampling-strategy',
        { agent_type: 'constructor', strategy: 'ALWAYS' },
        /agent_type must be a lower_snake_case string \(and not constructor or prototype\)/,
      ],
      [
        'POST',
        '/ai-cost/sampling-strategy',
        { agent_type: 'market_regime', strategy: 'PERIODIC', hasOwnProperty: 5 },
        /hasOwnProperty: the key "hasOwnProperty" is not accepted/,
      ],
      ['POST', '/ai-cost/event-thresholds', { valueOf: 1 }, /valueOf: the key "valueOf" is not accepted/],
      [
        'POST',
        '/agents/market-regime/analyze',
        { symbol: 'BTC', timeframe: '1h', toString: 1 },
        /toString: the key "toString" is not accepted/,
      ],
      [
        'POST',
        '/ai/call',
        { agent_type: 'probe', prompt: 'x', sampling_features: { constructor: 1 } },
        /sampling_features\.constructor: the key/,
      ],
      [
        'GET',
        '/ai-cost/sampling-strategy?agent_type=constructor',
        undefined,
        /agent_type must be lower_snake_case/,
      ],
      ['POST', '/ai/call', { agent_type: 'constructor', prompt: 'x' }, /agent_type must be lower_snake_case/],
      [
        'POST',
        '/ai/call',
        '{"agent_type":"probe","prompt":"x","context":{"__proto__":{"x":1}}}',
        /context\.__proto__/,
      ],
      [
        'POST',
        '/v1/chat/completions',
        { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] },
        /X-Agent-Type must be lower_snake_case/,
        { 'x-agent-type': 'constructor' },
      ],
    ];
    for (const [method, path, body, message, headers] of cases) {
      const res = await send(method, path, body, headers);
      expect(`${method} ${path} ${JSON.stringify(body)} → ${res.status} ${messageOf(res.body)}`).toMatch(
        new RegExp(`→ 400 .*${message.source}`),
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object as unknown as Record<string, unknown>).daily_budget_usd).toBeUndefined();
    const budgets = await send('GET', '/ai-cost/budgets', undefined);
    expect(Object.keys(budgets.body.agents)).toEqual([]);
  });

  it.each([
    ['POST', '/ai/call'],
    ['POST', '/ai/events'],
    ['POST', '/v1/chat/completions'],
    ['POST', '/bots/bot-1/telemetry'],
    ['PUT', '/ai-cost/budgets'],
    ['PATCH', '/agents/settings'],
    ['POST', '/ai-cost/event-thresholds'],
  ])('answers a text/plain body on %s %s with 415 saying to send JSON', async (method, path) => {
    const res = await send(method, path, '{"agent_type":"probe","prompt":"x"}', {
      'content-type': 'text/plain',
    });
    expect(res.status).toBe(415);
    expect(messageOf(res.body)).toMatch(
      /Content-Type "text\/plain" is not accepted: send the body as JSON with Content-Type: application\/json/,
    );
  });

  it('answers form-encoded bodies with 415 and a body that is not an object with 400', async () => {
    const form = await send('POST', '/ai/call', 'agent_type=probe&prompt=x', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(415);
    for (const raw of ['[]', '[{"agent_type":"probe","prompt":"x"}]', '"text"', 'null', '42']) {
      const res = await send('POST', '/ai/call', raw);
      expect(res.status).toBe(400);
      expect(res.body.message).toBe('body must be a JSON object');
    }
  });

  it('refuses a portfolio too large to optimise quickly before fetching any candle', async () => {
    const positions = Array.from({ length: 20 }, (_, i) => ({ symbol: `A${i}X`, value_usd: 100 }));
    const res = await send('POST', '/agents/portfolio-optimizer/optimize', {
      user_id: 1,
      risk_level: 'aggressive',
      positions,
      lookback_bars: 2000,
    });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/20 assets × 2000 bars is more than 10000 candles/);
    const rows = Array.from({ length: 5001 }, (_, i) => [i * 3_600_000, 1, 1, 1, 1, 1]);
    const given = await send('POST', '/agents/portfolio-optimizer/optimize', {
      user_id: 1,
      risk_level: 'aggressive',
      positions: [
        { symbol: 'BTC', value_usd: 1 },
        { symbol: 'ETH', value_usd: 1 },
      ],
      candles: { BTC: rows, ETH: rows },
    });
    expect(given.status).toBe(400);
    expect(messageOf(given.body)).toMatch(/candles may hold at most 10000 rows in all, got 10002/);
  });

  it('still serves callers after all of this', async () => {
    const res = await bastion.request('POST', '/ai/call', { agent_type: 'probe', prompt: 'alive?' }, BOT_KEY);
    expect(res.status).toBe(200);
    expect((await bastion.request('GET', '/health/ready', undefined, null)).status).toBe(200);
  });
});

import OpenAI, { RateLimitError } from 'openai';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';

const SYSTEM = `You are a trading assistant. ${'Answer in the fixed format. '.repeat(40)}`;

const OTHER_TENANT_KEY = 'test-beta-tenant-key-0001';

describe('OpenAI-compatible door with the official openai SDK', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let client: OpenAI;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY, chunkDelayMs: 40 });
    bastion = await startTestApp({
      env: { ...providerEnv({ deepseek }), API_KEYS: `${BOT_KEY},beta:${OTHER_TENANT_KEY}` },
    });
    client = new OpenAI({ apiKey: BOT_KEY, baseURL: `${bastion.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
  });
  beforeEach(() => deepseek.reset());

  const ask = (content: string) => ({
    model: 'deepseek-v4-flash',
    messages: [
      { role: 'system' as const, content: SYSTEM },
      { role: 'user' as const, content },
    ],
  });

  it('lists the configured models', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(
      expect.arrayContaining(['deepseek-v4-flash', 'deepseek-v4-pro']),
    );
  });

  it('answers a completion with the upstream usage and serves the repeat from the cache', async () => {
    const first = await client.chat.completions.create(ask('Is BTC trending?')).withResponse();
    expect(first.data.choices[0].message.content).toMatch(/^Answer #1 to: Is BTC trending/);
    expect(first.data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(first.response.headers.get('x-bastion-cache')).toBe('MISS');
    expect(Number(first.response.headers.get('x-bastion-cost-usd'))).toBeGreaterThan(0);
    expect(Number(first.response.headers.get('x-bastion-overhead-ms'))).toBeGreaterThanOrEqual(0);
    const again = await client.chat.completions.create(ask('Is BTC trending?')).withResponse();
    expect(again.response.headers.get('x-bastion-cache')).toBe('HIT');
    expect(again.data).toEqual(first.data);
    expect(deepseek.calls).toHaveLength(1);
    const bypass = await client.chat.completions
      .create(ask('Is BTC trending?'), { headers: { 'X-Cache': 'no-store' } })
      .withResponse();
    expect(bypass.response.headers.get('x-bastion-cache')).toBe('BYPASS');
    expect(deepseek.calls).toHaveLength(2);
  });

  it('streams chunk by chunk, records the exact cost with cached tokens, and replays the repeat from the cache', async () => {
    await client.chat.completions.create(ask('warm the prefix cache')); // so the stream earns cache-hit tokens
    const before = (await bastion.request('GET', '/ai-cost/stats')).body.overall;
    const stream = await client.chat.completions.create({
      ...ask('Stream me a long answer about ETH'),
      stream: true,
    });
    let chunks = 0;
    let text = '';
    let completedAtFirstChunk = -1;
    for await (const chunk of stream) {
      if (chunks === 0) completedAtFirstChunk = deepseek.completedCalls();
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      expect(chunk.usage ?? null).toBeNull(); // the client did not ask for usage
    }
    expect(chunks).toBeGreaterThan(3);
    expect(completedAtFirstChunk).toBe(1); // only the warm-up had finished when the first chunk arrived
    expect(text).toMatch(/^Answer #2 to: Stream me a long answer/);
    expect(deepseek.calls.at(-1)?.body.stream_options).toEqual({ include_usage: true });

    const after = (await bastion.request('GET', '/ai-cost/stats')).body.overall;
    expect(after.total_calls - before.total_calls).toBe(1);
    expect(after.total_cost_usd).toBeGreaterThan(before.total_cost_usd);
    expect(after.total_cached_prompt_tokens - before.total_cached_prompt_tokens).toBeGreaterThan(0);

    const replay = await client.chat.completions.create({
      ...ask('Stream me a long answer about ETH'),
      stream: true,
      stream_options: { include_usage: true },
    });
    let replayed = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of replay) {
      replayed += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(replayed).toBe(text);
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    expect(deepseek.calls).toHaveLength(2);
  });

  it('makes one upstream call for 20 concurrent identical streams and every client gets the whole answer', async () => {
    const texts = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const s = await client.chat.completions.create({ ...ask('concurrent stream please'), stream: true });
        let t = '';
        for await (const chunk of s) t += chunk.choices[0]?.delta?.content ?? '';
        return t;
      }),
    );
    expect(deepseek.calls).toHaveLength(1);
    expect(new Set(texts).size).toBe(1);
    expect(texts[0]).toMatch(/^Answer #1 to: concurrent stream please/);
  });

  it('passes tools and response_format through unchanged', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'w',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    await client.chat.completions.create({
      ...ask('weather in Helsinki?'),
      tools,
      tool_choice: 'auto',
      seed: 7,
      stop: ['END'],
    });
    await client.chat.completions.create({ ...ask('json please'), response_format: { type: 'json_object' } });
    expect(deepseek.calls[0].body).toMatchObject({ tools, tool_choice: 'auto', seed: 7, stop: ['END'] });
    expect(deepseek.calls[1].body.response_format).toEqual({ type: 'json_object' });
  });

  it('aborts the upstream request within a second when the client goes away', async () => {
    const slow = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      chunkDelayMs: 300,
      reply: () => 'x'.repeat(400),
    });
    const app = await startTestApp({ env: providerEnv({ deepseek: slow }) });
    try {
      const c = new OpenAI({ apiKey: BOT_KEY, baseURL: `${app.url}/v1`, maxRetries: 0 });
      const controller = new AbortController();
      const s = await c.chat.completions.create(
        { ...ask('long story'), stream: true },
        { signal: controller.signal },
      );
      const iterator = s[Symbol.asyncIterator]();
      await iterator.next();
      controller.abort();
      const abortedAt = Date.now();
      await waitFor(
        () => Promise.resolve(slow.calls[0]?.aborted === true),
        1000,
        'upstream not aborted within 1 s',
      );
      expect(Date.now() - abortedAt).toBeLessThan(1000);
    } finally {
      await app.close();
      await slow.close();
    }
  });

  it('answers a call refused by a hard budget with a 429 budget_exceeded the SDK raises', async () => {
    await bastion.request(
      'PUT',
      '/ai-cost/budgets',
      { enforcement: 'hard', agents: { broke_bot: { daily_budget_usd: 0 } } },
      ADMIN_KEY,
    );
    try {
      await client.chat.completions.create(ask('one more?'), { headers: { 'X-Agent-Type': 'broke_bot' } });
      throw new Error('expected a RateLimitError');
    } catch (err) {
      expect(err).toBeInstanceOf(RateLimitError);
      expect((err as RateLimitError).code).toBe('budget_exceeded');
      expect((err as RateLimitError).status).toBe(429);
    }
    await expect(
      client.chat.completions.create(
        { ...ask('stream?'), stream: true },
        { headers: { 'X-Agent-Type': 'broke_bot' } },
      ),
    ).rejects.toMatchObject({
      status: 429,
      code: 'budget_exceeded',
    });
    expect(deepseek.calls).toHaveLength(0);
    await bastion.request('PUT', '/ai-cost/budgets', { enforcement: 'soft' }, ADMIN_KEY);
  });

  it('keeps caches apart per tenant and answers bad requests in the OpenAI error shape', async () => {
    await expect(
      client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [] }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create({ ...ask('x'), model: 'gpt-9' })).rejects.toMatchObject({
      status: 400,
    });
    const res = await fetch(`${bastion.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${BOT_KEY}`,
        'x-cache': 'sometimes',
      },
      body: JSON.stringify(ask('x')),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/X-Cache must be/);
    const other = new OpenAI({ apiKey: OTHER_TENANT_KEY, baseURL: `${bastion.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create(ask('tenant question'));
    const elsewhere = await other.chat.completions.create(ask('tenant question')).withResponse();
    expect(elsewhere.response.headers.get('x-bastion-cache')).toBe('MISS');
    // Keys of one tenant share: the admin key of the default tenant gets the bot key's answer.
    const admin = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${bastion.url}/v1`, maxRetries: 0 });
    const shared = await admin.chat.completions.create(ask('tenant question')).withResponse();
    expect(shared.response.headers.get('x-bastion-cache')).toBe('HIT');
  });
});

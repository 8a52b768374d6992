import OpenAI, { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { countPromptTokens, countTokens, startFakeLlm } from './llm-upstream.js';
import type { FakeLlm, Personality } from './llm-upstream.js';

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function obj(value: unknown): Obj {
  if (!isObj(value)) throw new Error(`expected an object, got ${JSON.stringify(value)}`);
  return value;
}

function arr(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error(`expected an array, got ${JSON.stringify(value)}`);
  return value as unknown[];
}

const LONG_SYSTEM = 'You are a careful crypto trading assistant. '.repeat(50); // 2200 chars => 550 tokens
const HUGE_SYSTEM = 'Market context: BTC funding, open interest, liquidations. '.repeat(100); // 5700 chars

async function post(fake: FakeLlm, body: unknown, init: { headers?: Record<string, string> } = {}) {
  const res = await fetch(`${fake.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { res, text };
}

async function postJson(fake: FakeLlm, body: unknown, init: { headers?: Record<string, string> } = {}) {
  const { res, text } = await post(fake, body, init);
  return { res, json: obj(JSON.parse(text)) };
}

function client(fake: FakeLlm): OpenAI {
  return new OpenAI({ apiKey: 'sk-test-key', baseURL: fake.baseURL, maxRetries: 0, logLevel: 'off' });
}

async function waitFor(predicate: () => boolean, timeoutMs = 1000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const MODEL: Record<Personality, string> = {
  deepseek: 'deepseek-v4-flash',
  openai: 'gpt-4.1-mini',
  vllm: 'Qwen/Qwen3-8B',
};

describe('fake LLM upstream', () => {
  const fakes: Partial<Record<Personality, FakeLlm>> = {};
  const fake = (p: Personality): FakeLlm => {
    const f = fakes[p];
    if (!f) throw new Error(`fake ${p} not started`);
    return f;
  };

  beforeAll(async () => {
    for (const p of ['deepseek', 'openai', 'vllm'] as const)
      fakes[p] = await startFakeLlm({ personality: p });
  });
  afterAll(async () => {
    await Promise.all(Object.values(fakes).map((f) => f.close()));
  });
  beforeEach(() => {
    for (const f of Object.values(fakes)) f.reset();
  });

  describe('tokenizer', () => {
    it('counts ceil(len/4) and 4 tokens per message', () => {
      expect(countTokens('')).toBe(0);
      expect(countTokens('abcde')).toBe(2);
      expect(countPromptTokens([{ content: 'abcd' }, { content: { a: 1 } }])).toBe(4 + 1 + 4 + 2);
    });
  });

  describe('non-streaming usage shapes', () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is the BTC funding rate doing today?' },
    ];
    const prompt =
      4 + countTokens('You are terse.') + 4 + countTokens('What is the BTC funding rate doing today?');

    it('deepseek: UUID id, fingerprint, hit/miss usage', async () => {
      const f = fake('deepseek');
      const { res, json } = await postJson(f, { model: MODEL.deepseek, messages });
      expect(res.status).toBe(200);
      expect(json.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(json.system_fingerprint).toBe('fp_8802369eaa_prod0623_fp8_kvcache');
      expect(json.object).toBe('chat.completion');
      const choice = obj(arr(json.choices)[0]);
      const content = obj(choice.message).content;
      expect(content).toBe('Answer #1 to: What is the BTC funding rate doing today');
      expect(choice.finish_reason).toBe('stop');
      const completion = countTokens(String(content));
      expect(json.usage).toEqual({
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: { cached_tokens: 0 },
        prompt_cache_hit_tokens: 0,
        prompt_cache_miss_tokens: prompt,
      });
      expect(f.calls).toHaveLength(1);
      expect(f.calls[0].path).toBe('/chat/completions');
      expect(f.completedCalls()).toBe(1);
    });

    it('deepseek also serves /v1/chat/completions and /models', async () => {
      const f = fake('deepseek');
      const res = await fetch(`${f.url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ model: MODEL.deepseek, messages }),
      });
      expect(res.status).toBe(200);
      const models = obj(await (await fetch(`${f.url}/models`)).json());
      expect(arr(models.data).map((m) => obj(m).id)).toContain('deepseek-v4-flash');
    });

    it('openai: chatcmpl id, refusal/annotations, service_tier, detailed usage', async () => {
      const f = fake('openai');
      const { res, json } = await postJson(f, { model: MODEL.openai, messages });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toMatch(/^req_/);
      expect(json.id).toMatch(/^chatcmpl-/);
      expect(json.service_tier).toBe('default');
      const message = obj(obj(arr(json.choices)[0]).message);
      expect(message.refusal).toBeNull();
      expect(message.annotations).toEqual([]);
      const usage = obj(json.usage);
      expect(usage.prompt_tokens).toBe(prompt);
      expect(usage.prompt_tokens_details).toEqual({ cached_tokens: 0, audio_tokens: 0 });
      expect(usage.completion_tokens_details).toEqual({
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      });
      expect(usage.prompt_cache_hit_tokens).toBeUndefined();
    });

    it('vllm: null prompt_tokens_details, stop_reason, null fingerprint, /health', async () => {
      const f = fake('vllm');
      const { json } = await postJson(f, { model: MODEL.vllm, messages });
      expect(json.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
      expect(json.system_fingerprint).toBeNull();
      const choice = obj(arr(json.choices)[0]);
      expect(choice.stop_reason).toBeNull();
      expect(Object.keys(choice)).toContain('stop_reason');
      const usage = obj(json.usage);
      expect(Object.keys(usage)).toEqual([
        'prompt_tokens',
        'total_tokens',
        'completion_tokens',
        'prompt_tokens_details',
      ]);
      expect(usage.prompt_tokens_details).toBeNull();
      // identical repeat: still null without --enable-prompt-tokens-details
      const again = await postJson(f, { model: MODEL.vllm, messages });
      expect(obj(again.json.usage).prompt_tokens_details).toBeNull();

      const health = await fetch(`${f.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('');
    });

    it('vllm with prompt tokens details reports 16-token block hits only when > 0', async () => {
      const f = await startFakeLlm({ personality: 'vllm', vllmPromptTokensDetails: true });
      try {
        const body = {
          model: MODEL.vllm,
          messages: [
            { role: 'system', content: LONG_SYSTEM },
            { role: 'user', content: 'q1' },
          ],
        };
        const first = await postJson(f, body);
        expect(obj(first.json.usage).prompt_tokens_details).toBeNull();
        const second = await postJson(f, body);
        const usage = obj(second.json.usage);
        const cached = obj(usage.prompt_tokens_details).cached_tokens;
        expect(cached).toBe(Math.floor(Number(usage.prompt_tokens) / 16) * 16);
      } finally {
        await f.close();
      }
    });

    it('respects max_tokens with finish_reason length', async () => {
      const f = fake('openai');
      const { json } = await postJson(f, { model: MODEL.openai, messages, max_tokens: 3 });
      const choice = obj(arr(json.choices)[0]);
      expect(choice.finish_reason).toBe('length');
      expect(obj(choice.message).content).toHaveLength(12);
      expect(obj(json.usage).completion_tokens).toBe(3);
    });

    it('records response_format and tools unchanged', async () => {
      const f = fake('deepseek');
      const tools = [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ];
      const responseFormat = { type: 'json_object' };
      const { json } = await postJson(f, {
        model: MODEL.deepseek,
        messages: [{ role: 'user', content: 'Reply in json please' }],
        response_format: responseFormat,
        tools,
      });
      expect(f.calls[0].body.tools).toEqual(tools);
      expect(f.calls[0].body.response_format).toEqual(responseFormat);
      const content = obj(obj(arr(json.choices)[0]).message).content;
      expect(obj(JSON.parse(String(content))).answer).toMatch(/^Answer #1 to: /);

      const weather = await postJson(f, {
        model: MODEL.deepseek,
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        tools,
      });
      const choice = obj(arr(weather.json.choices)[0]);
      expect(choice.finish_reason).toBe('tool_calls');
      const call = obj(arr(obj(choice.message).tool_calls)[0]);
      expect(obj(call.function)).toEqual({ name: 'get_weather', arguments: '{"city":"auto"}' });
    });
  });

  describe('simulated prefix cache', () => {
    it('deepseek: repeated long system prompt hits in 64-token units', async () => {
      const f = fake('deepseek');
      const ask = (q: string) =>
        postJson(f, {
          model: MODEL.deepseek,
          messages: [
            { role: 'system', content: LONG_SYSTEM },
            { role: 'user', content: q },
          ],
        });
      const first = obj((await ask('Should I go long on ETH right now?')).json.usage);
      expect(first.prompt_cache_hit_tokens).toBe(0);
      const second = obj((await ask('And what about SOL?')).json.usage);
      const hit = Number(second.prompt_cache_hit_tokens);
      const systemTokens = 4 + countTokens(LONG_SYSTEM);
      expect(hit).toBe(Math.floor(systemTokens / 64) * 64);
      expect(hit).toBeGreaterThan(0);
      expect(hit % 64).toBe(0);
      expect(hit + Number(second.prompt_cache_miss_tokens)).toBe(second.prompt_tokens);
      expect(obj(second.prompt_tokens_details).cached_tokens).toBe(hit);

      f.reset();
      const afterReset = obj((await ask('And what about SOL?')).json.usage);
      expect(afterReset.prompt_cache_hit_tokens).toBe(0);
    });

    it('openai: no caching below 1024 tokens, 128-token increments above', async () => {
      const f = fake('openai');
      const short = {
        model: MODEL.openai,
        messages: [
          { role: 'system', content: LONG_SYSTEM },
          { role: 'user', content: 'q' },
        ],
      };
      await postJson(f, short);
      const shortAgain = obj((await postJson(f, short)).json.usage);
      expect(obj(shortAgain.prompt_tokens_details).cached_tokens).toBe(0);

      const ask = (q: string) =>
        postJson(f, {
          model: MODEL.openai,
          messages: [
            { role: 'system', content: HUGE_SYSTEM },
            { role: 'user', content: q },
          ],
        });
      const first = obj((await ask('first question')).json.usage);
      expect(obj(first.prompt_tokens_details).cached_tokens).toBe(0);
      const second = obj((await ask('second question')).json.usage);
      const cached = Number(obj(second.prompt_tokens_details).cached_tokens);
      expect(Number(second.prompt_tokens)).toBeGreaterThanOrEqual(1024);
      expect(cached).toBe(Math.floor((4 + countTokens(HUGE_SYSTEM)) / 128) * 128);
      expect(cached).toBeGreaterThanOrEqual(1024);
      expect(cached % 128).toBe(0);
    });
  });

  describe('streaming through the OpenAI SDK', () => {
    async function stream(p: Personality, streamOptions?: { include_usage?: boolean }) {
      const chunks: ChatCompletionChunk[] = [];
      const s = await client(fake(p)).chat.completions.create({
        model: MODEL[p],
        messages: [{ role: 'user', content: 'Give me a detailed long-form market summary for today' }],
        stream: true,
        ...(streamOptions ? { stream_options: streamOptions } : {}),
      });
      for await (const chunk of s) chunks.push(chunk);
      const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
      const withUsage = chunks.filter((c) => c.usage);
      return { chunks, text, withUsage, usage: withUsage.at(-1)?.usage ?? null };
    }

    it.each(['deepseek', 'openai', 'vllm'] as const)('%s with include_usage', async (p) => {
      const { chunks, text, withUsage, usage } = await stream(p, { include_usage: true });
      expect(text).toBe('Answer #1 to: Give me a detailed long-form market summ');
      expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThanOrEqual(3);
      expect(chunks[0].choices[0].delta.role).toBe('assistant');
      expect(withUsage).toHaveLength(1);
      expect(usage?.completion_tokens).toBe(countTokens(text));
      expect(usage?.total_tokens).toBe(Number(usage?.prompt_tokens) + Number(usage?.completion_tokens));
      const last = chunks.at(-1);
      if (p === 'deepseek') {
        // usage rides on the finish chunk
        expect(last?.choices).toHaveLength(1);
        expect(last?.choices[0].finish_reason).toBe('stop');
        expect(last?.usage).toMatchObject({ prompt_cache_hit_tokens: 0 });
      } else {
        expect(last?.choices).toEqual([]);
        expect(chunks.at(-2)?.choices[0].finish_reason).toBe('stop');
      }
      if (p === 'vllm') expect(usage?.prompt_tokens_details).toBeUndefined();
      expect(fake(p).completedCalls()).toBe(1);
    });

    it.each(['deepseek', 'openai', 'vllm'] as const)('%s without include_usage has no usage', async (p) => {
      const { withUsage, text } = await stream(p);
      expect(withUsage).toHaveLength(0);
      expect(text.length).toBeGreaterThan(24);
    });

    it('vllm defaults include_usage to true when stream_options is sent', async () => {
      const { usage } = await stream('vllm', {});
      expect(usage).not.toBeNull();
    });

    it('deepseek sends a keep-alive comment and usage null on earlier chunks', async () => {
      const f = await startFakeLlm({ personality: 'deepseek', latencyMs: 20, chunkDelayMs: 1 });
      try {
        const { text } = await post(f, {
          model: MODEL.deepseek,
          messages: [{ role: 'user', content: 'hello there, how are the markets?' }],
          stream: true,
        });
        expect(text.startsWith(': keep-alive\n\n')).toBe(true);
        const data = text
          .split('\n\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6));
        expect(data.at(-1)).toBe('[DONE]');
        const parsed = data.slice(0, -1).map((d) => obj(JSON.parse(d)));
        expect(parsed.every((c) => c.usage === null)).toBe(true);
        expect(obj(arr(parsed[0].choices)[0]).delta).toEqual({ role: 'assistant', content: '' });
      } finally {
        await f.close();
      }
    });

    it('deepseek non-stream with latency sends a blank line before the JSON (SDK still parses it)', async () => {
      const f = await startFakeLlm({ personality: 'deepseek', latencyMs: 20 });
      try {
        const { text } = await post(f, {
          model: MODEL.deepseek,
          messages: [{ role: 'user', content: 'hi' }],
        });
        expect(text.startsWith('\n{')).toBe(true);
        const completion = await client(f).chat.completions.create({
          model: MODEL.deepseek,
          messages: [{ role: 'user', content: 'hi' }],
        });
        expect(completion.choices[0].message.content).toBe('Answer #2 to: hi');
        expect(f.completedCalls()).toBe(2);
      } finally {
        await f.close();
      }
    });

    it('stream-error fault: SDK throws after some chunks', async () => {
      const f = fake('openai');
      f.inject({ kind: 'stream-error', afterChunks: 2, times: 1 });
      const received: ChatCompletionChunk[] = [];
      const s = await client(f).chat.completions.create({
        model: MODEL.openai,
        messages: [{ role: 'user', content: 'stream then fail' }],
        stream: true,
      });
      await expect(
        (async () => {
          for await (const chunk of s) received.push(chunk);
        })(),
      ).rejects.toBeInstanceOf(APIError);
      expect(received).toHaveLength(2);
      expect(f.calls[0].status).toBe(200);
      expect(f.completedCalls()).toBe(0);
    });
  });

  describe('faults and errors', () => {
    const body = (p: Personality) => ({
      model: MODEL[p],
      messages: [{ role: 'user' as const, content: 'hi' }],
    });

    it('429 with retry-after headers, then recovers after `times`', async () => {
      const f = fake('openai');
      f.inject({ kind: 'status', status: 429, retryAfterSeconds: 2, retryAfterMs: 5, times: 1 });
      const { res, json } = await postJson(f, body('openai'));
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.headers.get('retry-after-ms')).toBe('5');
      expect(obj(json.error)).toMatchObject({ code: 'rate_limit_exceeded', param: null });
      const ok = await postJson(f, body('openai'));
      expect(ok.res.status).toBe(200);
      expect(f.calls.map((c) => c.status)).toEqual([429, 200]);
    });

    it('status faults surface as typed SDK errors', async () => {
      const f = fake('deepseek');
      f.inject({ kind: 'status', status: 500 });
      const err: unknown = await client(f)
        .chat.completions.create(body('deepseek'))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      f.clearFaults();
      await expect(client(f).chat.completions.create(body('deepseek'))).resolves.toBeDefined();
    });

    it('vllm error bodies use an integer code', async () => {
      const f = fake('vllm');
      f.inject({ kind: 'status', status: 400, times: 1 });
      const { res, json } = await postJson(f, body('vllm'));
      expect(res.status).toBe(400);
      expect(json).toEqual({
        error: { message: 'Bad Request', type: 'BadRequestError', param: null, code: 400 },
      });
    });

    it('hang + client abort is recorded as aborted', async () => {
      const f = fake('deepseek');
      f.inject({ kind: 'hang', times: 1 });
      const controller = new AbortController();
      const pending = fetch(`${f.baseURL}/chat/completions`, {
        method: 'POST',
        body: JSON.stringify(body('deepseek')),
        signal: controller.signal,
      }).catch((e: unknown) => e);
      await waitFor(() => f.calls.length === 1);
      expect(f.calls[0].aborted).toBe(false);
      controller.abort();
      expect(obj(await pending).name).toBe('AbortError');
      await waitFor(() => f.calls[0].aborted);
      expect(f.calls[0].status).toBe(0);
    });

    it('client abort mid-stream is recorded as aborted', async () => {
      const f = await startFakeLlm({ personality: 'openai', chunkDelayMs: 20 });
      try {
        const controller = new AbortController();
        const s = await client(f).chat.completions.create(
          { ...body('openai'), stream: true },
          { signal: controller.signal },
        );
        const consume = (async () => {
          for await (const _chunk of s) controller.abort();
        })().catch((e: unknown) => e);
        await consume;
        await waitFor(() => f.calls[0]?.aborted === true);
        expect(f.completedCalls()).toBe(0);
      } finally {
        await f.close();
      }
    });

    it('malformed 200 body is not JSON', async () => {
      const f = fake('openai');
      f.inject({ kind: 'malformed', times: 2 });
      const { res, text } = await post(f, body('openai'));
      expect(res.status).toBe(200);
      expect(() => JSON.parse(text) as unknown).toThrow();
      await expect(client(f).chat.completions.create(body('openai'))).rejects.toThrow();
    });

    it('vllm refuses prompt + max_tokens beyond --max-model-len with its 400', async () => {
      const f = await startFakeLlm({ personality: 'vllm', maxModelLen: 8192 });
      try {
        const content = 'x'.repeat(4 * 7000); // 7,000 tokens, + 4 for the message
        const fits = await postJson(f, {
          model: MODEL.vllm,
          messages: [{ role: 'user', content }],
          max_tokens: 1188,
        });
        expect(fits.res.status).toBe(200);
        const over = await postJson(f, {
          model: MODEL.vllm,
          messages: [{ role: 'user', content }],
          max_tokens: 1189,
        });
        expect(over.res.status).toBe(400);
        expect(obj(over.json.error)).toMatchObject({ type: 'BadRequestError', code: 400 });
        expect(obj(over.json.error).message).toMatch(/maximum context length is 8192 tokens/);
        const models = obj(await (await fetch(`${f.baseURL}/models`)).json());
        expect(obj(arr(models.data)[0]).max_model_len).toBe(8192);
        expect(f.completedCalls()).toBe(1);
      } finally {
        await f.close();
      }
    });

    it('vllm 401 is a bare {"error":"Unauthorized"}; /health stays open', async () => {
      const f = await startFakeLlm({ personality: 'vllm', apiKey: 'secret' });
      try {
        const { res, json } = await postJson(f, body('vllm'));
        expect(res.status).toBe(401);
        expect(json).toEqual({ error: 'Unauthorized' });
        expect((await fetch(`${f.url}/health`)).status).toBe(200);
        const ok = await postJson(f, body('vllm'), { headers: { authorization: 'Bearer secret' } });
        expect(ok.res.status).toBe(200);
      } finally {
        await f.close();
      }
    });

    it('deepseek 401 uses the nested authentication_error body', async () => {
      const f = await startFakeLlm({ personality: 'deepseek', apiKey: 'sk-good' });
      try {
        const { res, json } = await postJson(f, body('deepseek'), {
          headers: { authorization: 'Bearer sk-wrong-abcd' },
        });
        expect(res.status).toBe(401);
        expect(json).toEqual({
          error: {
            message: 'Authentication Fails, Your api key: ****abcd is invalid',
            type: 'authentication_error',
            param: null,
            code: 'invalid_request_error',
          },
        });
      } finally {
        await f.close();
      }
    });

    it.each([
      ['deepseek', 400, 'Model Not Exist'],
      ['openai', 404, 'model_not_found'],
      ['vllm', 404, 'NotFoundError'],
    ] as const)('%s unknown model → %i', async (p, status, marker) => {
      const f = await startFakeLlm({ personality: p, models: [MODEL[p]] });
      try {
        const { res, text } = await post(f, { model: 'nope', messages: [{ role: 'user', content: 'x' }] });
        expect(res.status).toBe(status);
        expect(text).toContain(marker);
      } finally {
        await f.close();
      }
    });

    it.each(['deepseek', 'openai', 'vllm'] as const)('%s invalid JSON → 400 and recorded', async (p) => {
      const f = fake(p);
      const { res, json } = await postJson(f, '{"model": ');
      expect(res.status).toBe(400);
      expect(isObj(json.error)).toBe(true);
      if (p === 'vllm') expect(obj(json.error).code).toBe(400);
      expect(f.calls).toHaveLength(1);
      expect(f.calls[0].status).toBe(400);
    });
  });
  describe('integrity faults: what a gateway must not pass on, cache or price', () => {
    const body = (p: Personality, extra: Record<string, unknown> = {}) => ({
      model: MODEL[p],
      messages: [{ role: 'user' as const, content: 'hi there' }],
      ...extra,
    });
    const AUTH = 'Bearer fake-upstream-key-for-echo-0001';

    /** The `data:` payloads of an SSE text, in order. */
    const dataLines = (text: string): string[] =>
      text
        .split('\n\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6));

    /** Reads a body until `done(text)` holds or it ends; `stalled` when no byte came for `quietMs`. */
    async function readUntil(
      res: Response,
      done: (text: string) => boolean,
      quietMs: number,
    ): Promise<{ text: string; stalled: boolean }> {
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = '';
      for (;;) {
        if (done(text)) return { text, stalled: false };
        let timer: NodeJS.Timeout | undefined;
        const next = await Promise.race([
          reader.read(),
          new Promise<'quiet'>((r) => (timer = setTimeout(() => r('quiet'), quietMs))),
        ]).finally(() => clearTimeout(timer));
        if (next === 'quiet') {
          void reader.cancel().catch(() => undefined);
          return { text, stalled: true };
        }
        if (next.done) return { text, stalled: false };
        text += decoder.decode(next.value, { stream: true });
      }
    }

    it.each(['deepseek', 'openai', 'vllm'] as const)(
      '%s auth-echo: a 401 whose message quotes the Authorization header it got',
      async (p) => {
        const f = fake(p);
        f.inject({ kind: 'auth-echo', times: 1 });
        const { res, text } = await post(f, body(p), { headers: { authorization: AUTH } });
        expect(res.status).toBe(401);
        expect(text).toContain(`Authorization: ${AUTH}`);
        const json = obj(JSON.parse(text));
        if (p === 'vllm') expect(typeof json.error).toBe('string');
        else expect(obj(json.error).message).toEqual(expect.stringContaining(AUTH));
        expect(f.calls[0].status).toBe(401);
        expect(f.completedCalls()).toBe(0);
        // `times: 1`: the next request is answered normally.
        expect((await post(f, body(p), { headers: { authorization: AUTH } })).res.status).toBe(200);
      },
    );

    it('auth-echo reaches an SDK caller as an AuthenticationError carrying the key', async () => {
      const f = fake('openai');
      f.inject({ kind: 'auth-echo' });
      const err: unknown = await client(f)
        .chat.completions.create(body('openai'))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((err as Error).message).toContain('Bearer sk-test-key');
    });

    it.each([false, true])(
      'html: a 200 text/html page (stream: %s) that no parser accepts',
      async (stream) => {
        const f = fake('openai');
        f.inject({ kind: 'html', times: 1 });
        const { res, text } = await post(f, body('openai', { stream }));
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(text).toMatch(/^<!DOCTYPE html>/);
        expect(() => JSON.parse(text) as unknown).toThrow();
        expect(dataLines(text)).toEqual([]);
        expect(f.calls[0].status).toBe(200);
        expect(f.completedCalls()).toBe(0);
      },
    );

    it('html: the SDK takes the page for a completion (plain) and for an empty stream', async () => {
      // Why a gateway must check a 200 itself: the SDK neither throws nor yields a chunk.
      const f = fake('deepseek');
      f.inject({ kind: 'html', times: 2 });
      const plain: unknown = await client(f).chat.completions.create(body('deepseek'));
      expect(typeof plain).toBe('string');
      const s = await client(f).chat.completions.create({ ...body('deepseek'), stream: true });
      const chunks: ChatCompletionChunk[] = [];
      for await (const chunk of s) chunks.push(chunk);
      expect(chunks).toEqual([]);
    });

    it('truncated-json: a 200 JSON completion cut in half, fully transferred', async () => {
      const f = fake('deepseek');
      f.inject({ kind: 'truncated-json', times: 1 });
      const { res, text } = await post(f, body('deepseek'));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
      expect(text.startsWith('{"id":"')).toBe(true);
      expect(() => JSON.parse(text) as unknown).toThrow();
      const whole = await postJson(f, body('deepseek'));
      expect(JSON.stringify(whole.json).length).toBeGreaterThan(text.length);
      expect(f.completedCalls()).toBe(1); // only the second, whole answer
      await expect(
        (async () => {
          f.inject({ kind: 'truncated-json', times: 1 });
          return client(f).chat.completions.create(body('deepseek'));
        })(),
      ).rejects.toThrow();
    });

    it('empty-choices: a 200 completion with choices [] (usage kept); a stream of choice-less chunks', async () => {
      const f = fake('openai');
      f.inject({ kind: 'empty-choices', times: 2 });
      const { res, json } = await postJson(f, body('openai'));
      expect(res.status).toBe(200);
      expect(json.object).toBe('chat.completion');
      expect(json.choices).toEqual([]);
      expect(obj(json.usage).prompt_tokens).toBeGreaterThan(0);

      const streamed = await post(
        f,
        body('openai', { stream: true, stream_options: { include_usage: true } }),
      );
      expect(streamed.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const data = dataLines(streamed.text);
      expect(data.at(-1)).toBe('[DONE]');
      const chunks = data.slice(0, -1).map((d) => obj(JSON.parse(d)));
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.every((c) => Array.isArray(c.choices) && c.choices.length === 0)).toBe(true);
      expect(chunks.some((c) => isObj(c.usage))).toBe(true);
      expect(f.completedCalls()).toBe(0);
    });

    it.each(['deepseek', 'openai', 'vllm'] as const)(
      '%s no-content-stream: the role chunk then [DONE], no content, no finish reason',
      async (p) => {
        const f = fake(p);
        f.inject({ kind: 'no-content-stream', times: 2 });
        const { res, text } = await post(f, body(p, { stream: true }));
        expect(res.status).toBe(200);
        const data = dataLines(text);
        expect(data).toHaveLength(2);
        expect(data[1]).toBe('[DONE]');
        const choice = obj(arr(obj(JSON.parse(data[0])).choices)[0]);
        expect(obj(choice.delta)).toMatchObject({ role: 'assistant', content: '' });
        expect(choice.finish_reason).toBeNull();

        const plain = await postJson(f, body(p));
        const plainChoice = obj(arr(plain.json.choices)[0]);
        expect(obj(plainChoice.message).content).toBeNull();
        expect(plainChoice.finish_reason).toBeNull();
        expect(f.completedCalls()).toBe(0);
      },
    );

    it('no-content-stream: the SDK ends the stream quietly with no text and no finish reason', async () => {
      const f = fake('vllm');
      f.inject({ kind: 'no-content-stream', times: 1 });
      const s = await client(f).chat.completions.create({ ...body('vllm'), stream: true });
      const chunks: ChatCompletionChunk[] = [];
      for await (const chunk of s) chunks.push(chunk);
      expect(chunks).toHaveLength(1);
      expect(chunks[0].choices[0].delta.content ?? '').toBe('');
      expect(chunks[0].choices[0].finish_reason).toBeNull();
    });

    it.each([true, false])(
      'stall-after-headers (stream: %s): status and headers arrive, then no byte until the client aborts',
      async (stream) => {
        const f = fake('deepseek');
        f.inject({ kind: 'stall-after-headers', times: 1 });
        const controller = new AbortController();
        const res = await fetch(`${f.baseURL}/chat/completions`, {
          method: 'POST',
          body: JSON.stringify(body('deepseek', { stream })),
          signal: controller.signal,
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(
          stream ? /^text\/event-stream/ : /^application\/json/,
        );
        const { text, stalled } = await readUntil(res, () => false, 300);
        expect(stalled).toBe(true);
        expect(text).toBe('');
        expect(f.calls[0].status).toBe(200);
        expect(f.calls[0].aborted).toBe(false);
        controller.abort();
        await waitFor(() => f.calls[0].aborted);
        expect(f.completedCalls()).toBe(0);
      },
    );

    it('stall-after-chunks: the first N events arrive, then silence without [DONE] until the client aborts', async () => {
      const f = fake('openai');
      f.inject({ kind: 'stall-after-chunks', afterChunks: 2, times: 1 });
      const controller = new AbortController();
      const res = await fetch(`${f.baseURL}/chat/completions`, {
        method: 'POST',
        body: JSON.stringify(body('openai', { stream: true })),
        signal: controller.signal,
      });
      expect(res.status).toBe(200);
      const { text, stalled } = await readUntil(res, () => false, 300);
      expect(stalled).toBe(true);
      const data = dataLines(text);
      expect(data).toHaveLength(2);
      expect(data).not.toContain('[DONE]');
      expect(obj(arr(obj(JSON.parse(data[1])).choices)[0]).delta).toEqual({ content: 'Answer #' });
      controller.abort();
      await waitFor(() => f.calls[0].aborted);
      expect(f.completedCalls()).toBe(0);
      // The fault was for one request: the next stream runs to [DONE].
      const next = await post(f, body('openai', { stream: true }));
      expect(dataLines(next.text).at(-1)).toBe('[DONE]');
      expect(f.completedCalls()).toBe(1);
    });

    it('a stalled stream ends when the server closes', async () => {
      const f = await startFakeLlm({ personality: 'vllm' });
      f.inject({ kind: 'stall-after-chunks', afterChunks: 1 });
      const res = await fetch(`${f.baseURL}/chat/completions`, {
        method: 'POST',
        body: JSON.stringify(body('vllm', { stream: true })),
      });
      const reading = readUntil(res, () => false, 5000).catch((e: unknown) => e);
      await waitFor(() => f.calls.length === 1 && f.calls[0].status === 200);
      const closedAt = Date.now();
      await f.close();
      await reading;
      expect(Date.now() - closedAt).toBeLessThan(1000);
    });
  });
});

import OpenAI from 'openai';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

/**
 * `bastion_overhead_seconds` (Bastion's own time per gateway request) counts the requests of both doors:
 * /ai/call and the OpenAI-compatible /v1/chat/completions, plain and streamed.
 */
describe('bastion_overhead_seconds in GET /metrics', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let client: OpenAI;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY, chunkDelayMs: 40 });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
    client = new OpenAI({ apiKey: BOT_KEY, baseURL: `${bastion.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
  });

  /** The histogram's count, as a Prometheus scraper reads it. */
  async function overheadCount(): Promise<number> {
    const res = await fetch(`${bastion.url}/metrics`);
    expect(res.status).toBe(200);
    const line = (await res.text()).split('\n').find((l) => l.startsWith('bastion_overhead_seconds_count '));
    expect(line).toBeDefined();
    return Number(line?.split(' ')[1]);
  }

  const ask = (content: string) => ({
    model: 'deepseek-v4-flash',
    messages: [{ role: 'user' as const, content }],
  });

  async function readStream(content: string): Promise<string> {
    const stream = await client.chat.completions.create({ ...ask(content), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return text;
  }

  it('grows by one for an /ai/call request, called or answered from the cache', async () => {
    const body = { agent_type: 'overhead_probe', symbol: 'BTC', prompt: 'Is BTC trending?' };
    const before = await overheadCount();
    const called = await bastion.request('POST', '/ai/call', body);
    expect(called.status).toBe(200);
    expect(called.body.metadata.reason).toBe('called');
    expect(await overheadCount()).toBe(before + 1);
    const hit = await bastion.request('POST', '/ai/call', body);
    expect(hit.body.metadata.reason).toBe('response_cache');
    expect(await overheadCount()).toBe(before + 2);
  });

  it('grows by one for a plain /v1/chat/completions request', async () => {
    const before = await overheadCount();
    const answer = await client.chat.completions.create(ask('Plain question about ETH')).withResponse();
    expect(answer.response.headers.get('x-bastion-cache')).toBe('MISS');
    expect(await overheadCount()).toBe(before + 1);
  });

  it('grows by one for a streamed /v1/chat/completions request, and by one for its replay from the cache', async () => {
    const before = await overheadCount();
    const text = await readStream('Stream me an answer about SOL');
    expect(text).toMatch(/^Answer #\d+ to: Stream me an answer about SOL/);
    expect(await overheadCount()).toBe(before + 1);
    expect(await readStream('Stream me an answer about SOL')).toBe(text);
    expect(await overheadCount()).toBe(before + 2);
  });

  it('grows by one for each of several identical streams that share one upstream call', async () => {
    const calls = deepseek.calls.length;
    const before = await overheadCount();
    const texts = await Promise.all(Array.from({ length: 5 }, () => readStream('Shared stream about BNB')));
    expect(new Set(texts).size).toBe(1);
    expect(deepseek.calls.length - calls).toBe(1);
    expect(await overheadCount()).toBe(before + 5);
  });
});

import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { type Books, ledgerView, readBooks } from './support/books.js';
import { lowEvent } from './support/events.js';
import { DEEPSEEK_TEST_KEY, providerEnv, VLLM_TEST_KEY } from './support/fake-env.js';
import { postSse } from './support/sse-client.js';
import { waitFor } from './support/redis-server.js';

/**
 * models.context-window.yaml gives each model its context window; the self-hosted vLLM model has 8,192
 * tokens. A request whose prompt plus max_tokens cannot fit is refused before any spend with 400 and OpenAI's
 * code `context_length_exceeded`, on every door — instead of a reservation, an upstream 400 and a retry.
 */

const WINDOW_MODELS = 'test/fixtures/models.context-window.yaml';
// About 31,500 characters: 5,000 to 8,000 tokens by any tokenizer; with 4,000 output tokens past 8,192.
const BIG_PROMPT = 'Market context line with numbers 97000 and 2.4 percent. '.repeat(560);
const TOO_MUCH = { prompt: BIG_PROMPT, max_tokens: 4000 };

describe('The context-window guard refuses what cannot fit, before any spend', () => {
  let vllm: FakeLlm;
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let before: Books;

  beforeAll(async () => {
    // The vLLM server itself refuses what does not fit (with its own 400): Bastion must not even ask it.
    vllm = await startFakeLlm({
      personality: 'vllm',
      apiKey: VLLM_TEST_KEY,
      models: ['Qwen/Qwen2.5-Coder-32B-Instruct-AWQ'],
      maxModelLen: 8192,
    });
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({
      env: { ...providerEnv({ vllm, deepseek }), MODELS_CONFIG_PATH: WINDOW_MODELS },
    });
  });
  afterAll(async () => {
    await bastion?.close();
    await vllm?.close();
    await deepseek?.close();
  });
  beforeEach(async () => {
    vllm.reset();
    deepseek.reset();
    before = await readBooks(bastion, [vllm, deepseek]);
  });

  /** Nothing reached an upstream and nothing was reserved, spent or counted. */
  async function expectNothingSpent(): Promise<void> {
    expect(vllm.calls.length + deepseek.calls.length).toBe(0);
    const after = await readBooks(bastion, [vllm, deepseek]);
    expect(ledgerView(after, before)).toEqual({
      statuses: [200, 200],
      ledger_calls: 0,
      ledger_cost_pico: '0',
      budget_daily_pico: '0',
    });
  }

  const refusal = (status: number, body: any) => ({
    status,
    code: body?.code ?? body?.error?.code,
    mentionsTheWindow: /8,?192/.test(JSON.stringify(body)),
  });
  const REFUSED = { status: 400, code: 'context_length_exceeded', mentionsTheWindow: true };

  it.each([
    ['a prompt that fills the window', TOO_MUCH],
    ['max_tokens alone beyond it', { prompt: 'Short question', max_tokens: 9000 }],
  ])('/ai/call: %s → 400 context_length_exceeded', async (_label, size) => {
    const res = await bastion.request('POST', '/ai/call', {
      agent_type: 'window_probe',
      model: 'bastion-model',
      ...size,
    });
    expect(refusal(res.status, res.body)).toEqual(REFUSED);
    await expectNothingSpent();
  });

  it.each(['CRITICAL', 'LOW'])(
    '/ai/events: a %s event that cannot fit → 400, not answered, not queued',
    async (priority) => {
      const res = await bastion.request('POST', '/ai/events', {
        agent_type: 'window_probe',
        model: 'bastion-model',
        ...TOO_MUCH,
        event: { symbol: 'BTC', event_type: 'PRICE_CHANGE', priority },
      });
      expect(refusal(res.status, res.body)).toEqual(REFUSED);
      await expectNothingSpent();
    },
  );

  it.each([false, true])(
    '/v1 (stream: %s): 400 in OpenAI’s shape with code context_length_exceeded',
    async (stream) => {
      const read = await postSse(
        `${bastion.url}/v1/chat/completions`,
        BOT_KEY,
        {
          model: 'bastion-model',
          messages: [{ role: 'user', content: BIG_PROMPT }],
          max_tokens: 4000,
          ...(stream ? { stream: true } : {}),
        },
        { timeoutMs: 10_000 },
      );
      let body: any = null;
      try {
        body = JSON.parse(read.raw);
      } catch {
        // not JSON: the refusal is missing
      }
      expect(refusal(read.status, body)).toEqual(REFUSED);
      expect(body?.error?.type).toBe('invalid_request_error');
      await expectNothingSpent();
    },
  );

  it('lets through what fits: the same model with a short prompt, the same prompt on a model with a larger window', async () => {
    const small = await bastion.request('POST', '/ai/call', {
      agent_type: 'window_probe',
      model: 'bastion-model',
      prompt: 'Short question',
      max_tokens: 512,
    });
    expect([small.status, small.body.metadata?.reason, small.body.metadata?.model]).toEqual([
      200,
      'called',
      'bastion-model',
    ]);
    const large = await bastion.request('POST', '/ai/call', {
      agent_type: 'window_probe',
      model: 'deepseek-v4-flash',
      ...TOO_MUCH,
    });
    expect([large.status, large.body.metadata?.reason, large.body.metadata?.model]).toEqual([
      200,
      'called',
      'deepseek-v4-flash',
    ]);
    expect([vllm.completedCalls(), deepseek.completedCalls()]).toEqual([1, 1]);
  });

  it("answers a LOW batch whose events' inputs together exceed the window, their inputs cut to fit", async () => {
    // Ten events of 5,000 characters of inputs each: about 12,500 tokens together, over the 8,192 of the
    // self-hosted model (which refuses what does not fit). Refused as a whole, the batch would be retried forever.
    const levels = (i: number) => ({ levels: `${i}:${'4'.repeat(5_000)}` });
    let batchId = '';
    for (let i = 1; i <= 10; i++) {
      const queued = await bastion.request('POST', '/ai/events', {
        ...lowEvent(i, 'window_batch'),
        model: 'bastion-model',
        prompt: 'Levels: anything to do?',
        context: levels(i),
      });
      expect([queued.status, queued.body.metadata?.reason]).toEqual([200, 'batched']);
      batchId = queued.body.metadata.event.batch_id;
    }
    const batch = async () => (await bastion.request('GET', `/ai/batches/${batchId}`)).body;
    await waitFor(async () => (await batch()).status === 'done', 5000, 'the batch was not answered');
    expect([vllm.completedCalls(), deepseek.completedCalls()]).toEqual([1, 0]);

    const sent = String(vllm.calls[0].body.messages.at(-1)?.content);
    const lines = sent.split('\n').slice(1, 11);
    expect(lines).toHaveLength(10);
    lines.forEach((line, i) =>
      expect(line).toMatch(
        new RegExp(
          `^${i + 1}\\. \\S+ BTC/USDT PRICE_UPDATE \\{"change_percent":0\\.1,"price":${97001 + i}\\} \\| ` +
            `inputs \\{"levels":"${i + 1}:4+… \\(cut to \\d+ of 50\\d\\d characters: the batch is too large for the model\\)$`,
        ),
      ),
    );
    // Nothing the callers sent is lost: each event keeps its whole context and gets the batch's answer.
    const view = await batch();
    expect(view.events.map((e: { context: unknown }) => e.context)).toEqual(
      Array.from({ length: 10 }, (_, i) => levels(i + 1)),
    );
    expect(view.events.every((e: { answer: string }) => e.answer === view.answer.response)).toBe(true);
  });
});

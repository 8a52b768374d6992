import { BudgetAlertsService } from '../src/cost-monitoring/alerts/budget-alerts.service.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, OPENAI_TEST_KEY, providerEnv } from './support/fake-env.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/redis-server.js';
import { postSse } from './support/sse-client.js';

/**
 * An upstream 401 that quotes the Authorization header it received (some providers do) must not carry the
 * provider key anywhere Bastion writes to: response bodies, SSE chunks, stored batches, alerts and their
 * deliveries, log lines. Every configured secret is looked for, not only the one the upstream echoed.
 */

const TELEGRAM_TOKEN = '987654321:secrets-test-telegram-token';
const SLACK_SECRET = 'secrets-test-slack-path-0001';

const SECRETS: Record<string, string> = {
  'bot key': BOT_KEY,
  'admin key': ADMIN_KEY,
  'DeepSeek key': DEEPSEEK_TEST_KEY,
  'OpenAI key': OPENAI_TEST_KEY,
  'Telegram token': TELEGRAM_TOKEN,
  'Slack webhook path': SLACK_SECRET,
};

/** Which secrets a text contains (by name): [] is the only good answer. */
const leaked = (text: string): string[] =>
  Object.entries(SECRETS)
    .filter(([, secret]) => text.includes(secret))
    .map(([name]) => name);

interface Raw {
  status: number;
  text: string;
  json: any;
}

describe('Secrets never leave: an upstream 401 that quotes the Authorization header', () => {
  let deepseek: FakeLlm;
  let openai: FakeLlm;
  let channels: Awaited<ReturnType<typeof startReceiver>>;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    openai = await startFakeLlm({ personality: 'openai', apiKey: OPENAI_TEST_KEY });
    // The webhook takes alerts; Slack and Telegram fail, so their failures are recorded too.
    channels = await startReceiver((path) => (path.startsWith('/hook') ? 200 : 500));
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek, openai }),
        ALERT_WEBHOOK_URL: `${channels.url}/hook`,
        SLACK_WEBHOOK_URL: `${channels.url}/services/T0000/B0000/${SLACK_SECRET}`,
        TELEGRAM_API_URL: channels.url,
        TELEGRAM_BOT_TOKEN: TELEGRAM_TOKEN,
        TELEGRAM_CHAT_ID: '42',
      },
    });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
    await openai?.close();
    await channels?.close();
  });

  /** A request whose raw answer text is kept (the assertions look for secrets in the bytes sent). */
  async function raw(method: string, path: string, body?: unknown, key: string = BOT_KEY): Promise<Raw> {
    const res = await fetch(`${bastion.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, text, json };
  }

  const echo = () => {
    deepseek.inject({ kind: 'auth-echo' });
    openai.inject({ kind: 'auth-echo' });
  };

  it('sends alerts and records their failed deliveries without a secret', async () => {
    // Spend something first (the upstreams still answer), then cross 80% of a budget.
    const spent = await raw('POST', '/ai/call', { agent_type: 'secret_probe', prompt: 'a first question' });
    expect(spent.status).toBe(200);
    const put = await raw(
      'PUT',
      '/ai-cost/budgets',
      { daily_budget_usd: spent.json.metadata.cost_usd / 0.85 },
      ADMIN_KEY,
    );
    expect(put.status).toBe(200);
    const alerts = await bastion.app.get(BudgetAlertsService).check();
    expect(alerts.length).toBeGreaterThan(0);

    const listed = await raw('GET', '/ai-cost/alerts');
    expect(listed.status).toBe(200);
    const deliveries = listed.json.alerts[0].deliveries.map((d: { channel: string; ok: boolean }) => [
      d.channel,
      d.ok,
    ]);
    expect(deliveries).toEqual(
      expect.arrayContaining([
        ['webhook', true],
        ['slack', false],
        ['telegram', false],
      ]),
    );
    expect(leaked(listed.text)).toEqual([]);
    const sent = channels.received.map((r) => JSON.stringify(r.body)).join('\n');
    expect(sent.length).toBeGreaterThan(0);
    expect(leaked(sent)).toEqual([]);
  });

  it('/ai/call: the 401 is summarised (provider, status), the key is not in the answer', async () => {
    echo();
    const res = await raw('POST', '/ai/call', { agent_type: 'secret_probe', prompt: 'who am I?' });
    expect(deepseek.calls.at(-1)?.status).toBe(401); // the upstream did quote the key
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).not.toBe(500);
    expect(res.text).toMatch(/deepseek/i);
    expect(res.text).toMatch(/401/);
    expect(leaked(res.text)).toEqual([]);
  });

  it('/ai/events: a CRITICAL event answered by a failing upstream carries no key', async () => {
    echo();
    const res = await raw('POST', '/ai/events', {
      agent_type: 'secret_probe',
      prompt: 'liquidation cascade?',
      event: { symbol: 'BTC', event_type: 'LIQUIDATION', priority: 'CRITICAL' },
    });
    expect(res.status).not.toBe(500);
    expect(res.text).toMatch(/401/);
    expect(leaked(res.text)).toEqual([]);
  });

  it.each([
    ['deepseek-v4-flash', false],
    ['deepseek-v4-flash', true],
    ['gpt-4.1-mini', false],
    ['gpt-4.1-mini', true],
  ] as const)('/v1 %s (stream: %s): no key in the error body or any SSE chunk', async (model, stream) => {
    echo();
    const body = {
      model,
      messages: [{ role: 'user', content: `tell me the key (${model}, ${stream})` }],
      ...(stream ? { stream: true } : {}),
    };
    const read = await postSse(`${bastion.url}/v1/chat/completions`, BOT_KEY, body, { timeoutMs: 15_000 });
    expect(read.timedOut).toBe(false);
    expect(read.status).not.toBe(500);
    expect(read.raw).toMatch(/401/);
    expect(leaked(read.raw)).toEqual([]);
  });

  it('a batch whose flush failed keeps a last_error without the key', async () => {
    echo();
    let batchId = '';
    for (let i = 1; i <= 10; i++) {
      // The tenth event fills the batch (batch_size 10): it is flushed at once, and fails.
      const res = await raw('POST', '/ai/events', {
        agent_type: 'secret_batch',
        prompt: `quiet tick ${i}`,
        event: { symbol: 'ETH', event_type: 'PRICE_UPDATE', priority: 'LOW', data: { price: 3000 + i } },
      });
      expect([res.status, res.json?.metadata?.reason]).toEqual([200, 'batched']);
      batchId = res.json.metadata.event.batch_id;
    }
    let view: Raw = { status: 0, text: '', json: null };
    await waitFor(
      async () => {
        view = await raw('GET', `/ai/batches/${batchId}`);
        return typeof view.json?.last_error === 'string';
      },
      10_000,
      'the batch recorded no failed flush',
    );
    expect(view.json.status).not.toBe('done');
    expect(view.json.last_error).toMatch(/401/);
    expect(leaked(view.text)).toEqual([]);
    // The admin view of the same batch is no different.
    expect(leaked((await raw('GET', `/ai/batches/${batchId}`, undefined, ADMIN_KEY)).text)).toEqual([]);
  });

  it('logged every one of those failures without a secret', () => {
    expect(bastion.logs.lines.length).toBeGreaterThan(0);
    expect(bastion.logs.text).toMatch(/401/); // the failures were logged
    const lines = bastion.logs.lines.filter((line) => leaked(line).length > 0);
    expect(lines.map((line) => ({ leaked: leaked(line), line: line.slice(0, 300) }))).toEqual([]);
  });
});

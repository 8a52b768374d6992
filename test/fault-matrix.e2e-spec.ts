import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { expectedLedgerView, ledgerView, settledBooks } from './support/books.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { FaultyRedis } from './support/faulty-redis.js';
import { waitFor } from './support/redis-server.js';
import { errorEvents, postSse, streamedText } from './support/sse-client.js';

/**
 * Redis killed, slowed (DEBUG SLEEP past the client's 2 s command timeout) and restarted, under every door:
 * /ai/call for each agent with a sampling strategy, /ai/events at each priority, /v1 plain and streaming, and
 * the read routes. The policy: money-saving reads fail open (the call is answered, 200), a hard budget fails
 * closed, a LOW event that cannot be queued is answered fresh, reads that need Redis answer 503
 * `store_unavailable`, nothing answers 500; and once Redis is back the ledger, the upstream's calls and the
 * budget counters agree to the picodollar, the calls made during the outage included.
 */

/** Each agent with a sampling strategy in config/agents.yaml, with the fields its strategy reads. */
const AGENT_CALLS = [
  {
    // PERIODIC (300 s per agent and symbol)
    agent_type: 'market_regime',
    symbol: 'BTC/USDT',
    prompt: 'Which regime is BTC in right now?',
    response_type: 'regime_analysis',
    max_tokens: 64,
  },
  {
    // CHANGE_BASED (0.15 relative change of any sampling feature)
    agent_type: 'signal_validator',
    symbol: 'ETH/USDT',
    prompt: 'Is this ETH long signal sound?',
    response_type: 'signal_validation',
    sampling_features: { price: 3000, rsi: 55 },
    max_tokens: 64,
  },
  {
    // THRESHOLD 0.7 on the request's score
    agent_type: 'anomaly_detector',
    symbol: 'SOL/USDT',
    prompt: 'Explain the latency anomaly of bot 7',
    response_type: 'anomaly_explanation',
    score: 0.9,
    max_tokens: 64,
  },
  {
    // PERIODIC (3600 s)
    agent_type: 'portfolio_optimizer',
    symbol: 'BTC/USDT',
    prompt: 'Should the portfolio rebalance?',
    response_type: 'portfolio_insights',
    max_tokens: 64,
  },
];

/** How long the books may take to agree once Redis is back: reconnection backoff plus the retry of queued writes. */
const AFTER_OUTAGE_MS = 10_000;

/** Tests that wait out a Redis fault and then for the books; a failing one still ends with its own message. */
const SLOW_TEST_MS = 45_000;

const PRIORITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;
type Priority = (typeof PRIORITIES)[number];
const EVENT_SYMBOL: Record<Priority, string> = { CRITICAL: 'BTC', HIGH: 'ETH', MEDIUM: 'SOL', LOW: 'XRP' };

const eventBody = (priority: Priority) => ({
  agent_type: 'matrix_events',
  prompt: `A ${priority} event on ${EVENT_SYMBOL[priority]}: what now?`,
  max_tokens: 64,
  event: {
    symbol: EVENT_SYMBOL[priority],
    event_type: 'PRICE_CHANGE',
    priority,
    data: { price: 100, change_percent: 0.1 },
  },
});

const v1Body = (content: string, stream = false) => ({
  model: 'deepseek-v4-flash',
  messages: [{ role: 'user', content }],
  max_tokens: 64,
  ...(stream ? { stream: true } : {}),
});

/** The read routes of cost monitoring; each needs Redis for its figures. */
const READ_ROUTES = [
  '/ai-cost/stats',
  '/ai-cost/daily',
  '/ai-cost/agent-breakdown',
  '/ai-cost/event-stats',
  '/ai-cost/budget-alert',
  '/ai-cost/budgets',
  '/ai-cost/alerts',
];

interface Seen {
  what: string;
  status: number;
  code?: unknown;
}

/** Every door exercised once, with what each answered (the assertions per phase are made on these). */
interface Round {
  agents: { agent: string; status: number; body: any }[];
  events: { priority: Priority; status: number; body: any }[];
  v1: { status: number; cache: string | null; body: any };
  v1Stream: {
    status: number;
    cache: string | null;
    text: string;
    errors: number;
    ended: boolean;
    raw: string;
  };
  /** `at`: when the answer arrived (ms). */
  reads: { route: string; status: number; body: any; at: number }[];
}

describe('Fault matrix: Redis killed, slowed and restarted under every door', () => {
  let redis: FaultyRedis;
  let deepseek: FakeLlm;
  let bastion: TestApp;
  const seen: Seen[] = [];

  beforeAll(async () => {
    redis = await FaultyRedis.start();
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        REDIS_URL: redis.url,
        DAILY_BUDGET_USD: '5',
        BUDGET_ENFORCEMENT: 'soft',
      },
    });
  });
  afterAll(async () => {
    await bastion?.close({ keepKeys: true });
    await deepseek?.close();
    await redis?.dispose();
  });

  const note = (what: string, status: number, body: any): void => {
    seen.push({ what, status, code: body?.code ?? body?.error?.code });
  };

  const ready = async (): Promise<number> =>
    (await bastion.request('GET', '/health/ready', undefined, null)).status;

  /** Sends every door once, all at the same time (so they all meet the same fault). */
  async function round(tag: string): Promise<Round> {
    const agentP = AGENT_CALLS.map(async (body) => {
      const res = await bastion.request('POST', '/ai/call', body);
      note(`${tag} /ai/call ${body.agent_type}`, res.status, res.body);
      return { agent: body.agent_type, status: res.status, body: res.body };
    });
    const eventP = PRIORITIES.map(async (priority) => {
      const res = await bastion.request('POST', '/ai/events', eventBody(priority));
      note(`${tag} /ai/events ${priority}`, res.status, res.body);
      return { priority, status: res.status, body: res.body };
    });
    const v1P = (async () => {
      const res = await bastion.request('POST', '/v1/chat/completions', v1Body('A plain v1 question'));
      note(`${tag} /v1 plain`, res.status, res.body);
      return { status: res.status, cache: res.headers.get('x-bastion-cache'), body: res.body };
    })();
    const v1StreamP = (async () => {
      const read = await postSse(
        `${bastion.url}/v1/chat/completions`,
        BOT_KEY,
        v1Body('A streamed v1 question', true),
        { timeoutMs: 15_000 },
      );
      note(`${tag} /v1 stream`, read.status, null);
      return {
        status: read.status,
        cache: read.headers.get('x-bastion-cache'),
        text: streamedText(read),
        errors: errorEvents(read).length,
        ended: read.ended && read.events.some((e) => e.data === '[DONE]'),
        raw: read.raw.slice(0, 500),
      };
    })();
    const readsP = READ_ROUTES.map(async (route) => {
      const res = await bastion.request('GET', route);
      note(`${tag} GET ${route}`, res.status, res.body);
      return { route, status: res.status, body: res.body, at: Date.now() };
    });
    const [agents, events, v1, v1Stream, reads] = await Promise.all([
      Promise.all(agentP),
      Promise.all(eventP),
      v1P,
      v1StreamP,
      Promise.all(readsP),
    ]);
    return { agents, events, v1, v1Stream, reads };
  }

  const ANSWER = /^Answer #\d+ to: /;

  /** One comparable picture of a round: a failed assertion shows every door at once. */
  function picture(r: Round) {
    return {
      agents: Object.fromEntries(
        r.agents.map((a) => [
          a.agent,
          {
            status: a.status,
            reason: a.body?.metadata?.reason,
            answered: ANSWER.test(a.body?.response ?? ''),
          },
        ]),
      ),
      events: Object.fromEntries(
        r.events.map((e) => [
          e.priority,
          {
            status: e.status,
            reason: e.body?.metadata?.reason,
            degraded: e.body?.metadata?.degraded,
            answered: ANSWER.test(e.body?.response ?? ''),
          },
        ]),
      ),
      v1: {
        status: r.v1.status,
        cache: r.v1.cache,
        answered: ANSWER.test(r.v1.body?.choices?.[0]?.message?.content ?? ''),
      },
      v1Stream: {
        status: r.v1Stream.status,
        cache: r.v1Stream.cache,
        errors: r.v1Stream.errors,
        ended: r.v1Stream.ended,
        answered: ANSWER.test(r.v1Stream.text),
      },
      reads: Object.fromEntries(r.reads.map((x) => [x.route, { status: x.status, code: x.body?.code }])),
    };
  }

  const called = { status: 200, reason: 'called', answered: true };

  /** What fail-open means for every door while Redis cannot answer. */
  const failOpen = {
    agents: Object.fromEntries(AGENT_CALLS.map((a) => [a.agent_type, called])),
    events: {
      CRITICAL: { ...called, degraded: undefined },
      HIGH: { ...called, degraded: undefined },
      MEDIUM: { ...called, degraded: undefined },
      // It could not be queued: answered fresh instead, never lost, never a 5xx.
      LOW: { ...called, degraded: 'event_store_unavailable' },
    },
    v1: { status: 200, cache: 'MISS', answered: true },
    v1Stream: { status: 200, cache: 'MISS', errors: 0, ended: true, answered: true },
    reads: Object.fromEntries(
      READ_ROUTES.map((route) => [route, { status: 503, code: 'store_unavailable' }]),
    ),
  };

  it('with Redis up: every door answers, the read routes too (the baseline)', async () => {
    const r = await round('up');
    expect(picture(r)).toEqual({
      ...failOpen,
      events: {
        ...failOpen.events,
        // Queued for its batch, answered at once with the last answer (none yet).
        LOW: { status: 200, reason: 'batched', degraded: undefined, answered: false },
      },
      reads: Object.fromEntries(READ_ROUTES.map((route) => [route, { status: 200, code: undefined }])),
    });
    const books = await settledBooks(bastion, [deepseek]);
    expect(ledgerView(books)).toEqual(expectedLedgerView(books));
    expect(books.upstreamCalls).toBe(4 + 3 + 2); // four agents, three priorities (LOW waits), two v1
  });

  it('killed: calls fail open (answered, 200), a LOW event is answered fresh, reads answer 503', async () => {
    const before = deepseek.completedCalls();
    await redis.kill();
    await waitFor(async () => (await ready()) === 503, 5000, 'readiness did not turn 503');
    const r = await round('killed');
    expect(picture(r)).toEqual(failOpen);
    // Each answer above came from the upstream: the repeats of the baseline were not served from Redis.
    expect(deepseek.completedCalls() - before).toBe(4 + 4 + 2);
  });

  it(
    'restarted: the cache, sampling and event interval hold again, and the books agree, outage calls included',
    async () => {
      await redis.start();
      await waitFor(async () => (await ready()) === 200, 10_000, 'not ready within 10 s of the restart');
      const books = await settledBooks(bastion, [deepseek], AFTER_OUTAGE_MS);
      expect(ledgerView(books)).toEqual(expectedLedgerView(books));
      expect(books.upstreamCalls).toBe(9 + 10);

      const calls = deepseek.completedCalls();
      const r = await round('restarted');
      const saved = (reason: unknown) => ({ status: 200, reason, answered: true });
      expect(picture(r)).toEqual({
        // The baseline's answers are back in force: the response cache (or the sampler) saves the call again.
        agents: Object.fromEntries(
          AGENT_CALLS.map((a) => [
            a.agent_type,
            saved(expect.stringMatching(/^(response_cache|sampled_out)$/)),
          ]),
        ),
        events: {
          CRITICAL: { ...called, degraded: undefined }, // always fresh
          HIGH: { ...saved('event_filtered'), degraded: undefined },
          MEDIUM: { ...saved('event_filtered'), degraded: undefined },
          // Queued again; the last answer it carries depends on what the outage could store.
          LOW: { status: 200, reason: 'batched', degraded: undefined, answered: expect.any(Boolean) },
        },
        v1: { status: 200, cache: 'HIT', answered: true },
        v1Stream: { status: 200, cache: 'HIT', errors: 0, ended: true, answered: true },
        reads: Object.fromEntries(READ_ROUTES.map((route) => [route, { status: 200, code: undefined }])),
      });
      expect(deepseek.completedCalls() - calls).toBe(1); // the CRITICAL event only
    },
    SLOW_TEST_MS,
  );

  it(
    'slowed past the command timeout: calls fail open, reads answer 503, and the books agree once it answers again',
    async () => {
      const before = deepseek.completedCalls();
      // 6 s: the requests below reach Redis within the first second, so each command times out (2 s), and a
      // read route's second command (after a first that failed open) still meets the sleep.
      const { awake } = await redis.sleep(6);
      let wokeAt = Infinity;
      void awake.then(() => (wokeAt = Date.now()));
      const r = await round('slowed');
      // A read that chains several commands may reach Redis after it woke and answer 200 then; one answered
      // while Redis slept must be a 503.
      const answeredAsleep = { status: 503, code: 'store_unavailable' };
      const reads = Object.fromEntries(
        r.reads.map((x) => [
          x.route,
          x.at >= wokeAt && x.status === 200 ? { status: 200, code: undefined } : answeredAsleep,
        ]),
      );
      expect(picture(r)).toEqual({ ...failOpen, reads });
      expect(deepseek.completedCalls() - before).toBe(4 + 4 + 2);
      await awake;
      const books = await settledBooks(bastion, [deepseek], AFTER_OUTAGE_MS);
      expect(ledgerView(books)).toEqual(expectedLedgerView(books));
      expect(books.upstreamCalls).toBe(19 + 1 + 10);
    },
    SLOW_TEST_MS,
  );

  it('answered no request with a 500, and no 5xx but 503 store_unavailable', () => {
    expect(seen.length).toBeGreaterThan(0);
    const bad = seen.filter((s) => s.status >= 500 && !(s.status === 503 && s.code === 'store_unavailable'));
    expect(bad).toEqual([]);
  });
});

describe('A ledger write that timed out but landed is counted once', () => {
  it(
    'DEBUG SLEEP holds the ledger write past its timeout; the retry does not count the call twice',
    async () => {
      const redis = await FaultyRedis.start();
      // The upstream answers after Redis fell asleep, so the ledger write is sent into the sleep.
      const deepseek = await startFakeLlm({
        personality: 'deepseek',
        apiKey: DEEPSEEK_TEST_KEY,
        latencyMs: 600,
      });
      const bastion = await startTestApp({ env: { ...providerEnv({ deepseek }), REDIS_URL: redis.url } });
      try {
        const monitor = await redis.monitor();
        const call = bastion.request('POST', '/ai/call', {
          agent_type: 'ledger_probe',
          prompt: 'One call, written once',
          max_tokens: 32,
        });
        await waitFor(
          () => Promise.resolve(deepseek.calls.length === 1),
          5000,
          'the call did not reach upstream',
        );
        // Asleep 4 s: the write sent at ~0.5 s times out at ~2.5 s (client), lands at ~4 s (server).
        const { awake } = await redis.sleep(4);
        const answered = await call;
        expect([answered.status, answered.body.metadata.reason]).toEqual([200, 'called']);
        await awake;
        const wokeAt = Date.now();
        const books = await settledBooks(bastion, [deepseek], AFTER_OUTAGE_MS);
        monitor.stop();
        // The scenario happened: Bastion's script writes queued up during the sleep and ran when it ended.
        const scriptsAtWake = monitor.commands.filter(
          (c) => (c.name === 'evalsha' || c.name === 'eval') && Math.abs(c.at - wokeAt) < 1000,
        );
        expect(scriptsAtWake.length).toBeGreaterThan(0);
        expect(ledgerView(books)).toEqual(expectedLedgerView(books));
        expect(books.ledgerCalls).toBe(1);
        expect(books.upstreamCalls).toBe(1);
      } finally {
        await bastion.close({ keepKeys: true });
        await deepseek.close();
        await redis.dispose();
      }
    },
    SLOW_TEST_MS,
  );
});

describe('Budgets while Redis is away: hard fails closed, soft and off fail open', () => {
  let redis: FaultyRedis;
  let deepseek: FakeLlm;

  beforeAll(async () => {
    redis = await FaultyRedis.start();
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterAll(async () => {
    await deepseek?.close();
    await redis?.dispose();
  });
  beforeEach(() => deepseek.reset());

  const untilReady = async (app: TestApp, status: number): Promise<void> => {
    await waitFor(
      async () => (await app.request('GET', '/health/ready', undefined, null)).status === status,
      10_000,
      `readiness did not turn ${status}`,
    );
  };

  /** /ai/call for every agent, HIGH and MEDIUM events, /v1 plain and streaming, all at once. */
  async function spendAttempts(app: TestApp) {
    const [agents, events, v1, v1Stream] = await Promise.all([
      Promise.all(AGENT_CALLS.map((body) => app.request('POST', '/ai/call', { ...body, cache: false }))),
      Promise.all((['HIGH', 'MEDIUM'] as const).map((p) => app.request('POST', '/ai/events', eventBody(p)))),
      app.request('POST', '/v1/chat/completions', v1Body('Budget question'), BOT_KEY, {
        'x-cache': 'no-cache',
      }),
      postSse(`${app.url}/v1/chat/completions`, BOT_KEY, v1Body('Budget stream', true), {
        timeoutMs: 15_000,
        headers: { 'x-cache': 'no-cache' },
      }),
    ]);
    return {
      ai: [...agents, ...events].map((r) => [r.status, r.body?.metadata?.reason]),
      v1: [v1.status, v1.body?.error?.code],
      v1Stream: [v1Stream.status, v1Stream.raw.includes('budget_exceeded')],
    };
  }

  const refusedEverywhere = {
    ai: Array.from({ length: 6 }, () => [200, 'budget_exceeded']),
    v1: [429, 'budget_exceeded'],
    v1Stream: [429, true],
  };
  const calledEverywhere = {
    ai: Array.from({ length: 6 }, () => [200, 'called']),
    v1: [200, undefined],
    v1Stream: [200, false],
  };

  it(
    'a hard budget set through PUT /ai-cost/budgets refuses every door while Redis is down or slow, before any upstream call',
    async () => {
      const app = await startTestApp({ env: { ...providerEnv({ deepseek }), REDIS_URL: redis.url } });
      try {
        const put = await app.request(
          'PUT',
          '/ai-cost/budgets',
          { daily_budget_usd: 5, enforcement: 'hard' },
          ADMIN_KEY,
        );
        expect(put.status).toBe(200);

        await redis.kill();
        await untilReady(app, 503);
        expect(await spendAttempts(app)).toEqual(refusedEverywhere);
        expect(deepseek.calls).toHaveLength(0);

        await redis.start();
        await untilReady(app, 200);
        const { awake } = await redis.sleep(5);
        expect(await spendAttempts(app)).toEqual(refusedEverywhere);
        expect(deepseek.calls).toHaveLength(0);
        await awake;

        // Nothing was spent: no reservation is left on the counters (not even one whose timed-out
        // request Redis executed when it woke).
        const idle = await settledBooks(app, [deepseek], AFTER_OUTAGE_MS);
        expect(ledgerView(idle)).toEqual(expectedLedgerView(idle));
        expect(idle.ledgerCalls).toBe(0);
        // Redis answers again and $5 are left: the same doors call the model; a refused call claimed no
        // sampling slot or event interval.
        expect(await spendAttempts(app)).toEqual(calledEverywhere);
        const books = await settledBooks(app, [deepseek]);
        expect(ledgerView(books)).toEqual(expectedLedgerView(books));
      } finally {
        await app.close({ keepKeys: true });
      }
    },
    SLOW_TEST_MS,
  );

  it(
    'a hard budget from DAILY_BUDGET_USD + BUDGET_ENFORCEMENT=hard refuses every door while Redis is down',
    async () => {
      const app = await startTestApp({
        env: {
          ...providerEnv({ deepseek }),
          REDIS_URL: redis.url,
          DAILY_BUDGET_USD: '5',
          BUDGET_ENFORCEMENT: 'hard',
        },
      });
      try {
        await redis.kill();
        await untilReady(app, 503);
        expect(await spendAttempts(app)).toEqual(refusedEverywhere);
        expect(deepseek.calls).toHaveLength(0);
      } finally {
        await redis.start();
        await app.close({ keepKeys: true });
      }
    },
    SLOW_TEST_MS,
  );

  it.each(['soft', 'off'] as const)(
    'a %s budget fails open while Redis is down, and the outage calls are charged when it is back',
    async (enforcement) => {
      const app = await startTestApp({ env: { ...providerEnv({ deepseek }), REDIS_URL: redis.url } });
      try {
        await untilReady(app, 200);
        const put = await app.request(
          'PUT',
          '/ai-cost/budgets',
          { daily_budget_usd: 5, enforcement },
          ADMIN_KEY,
        );
        expect(put.status).toBe(200);
        await redis.kill();
        await untilReady(app, 503);
        expect(await spendAttempts(app)).toEqual(calledEverywhere);
        expect(deepseek.completedCalls()).toBe(8);
        await redis.start();
        await untilReady(app, 200);
        const books = await settledBooks(app, [deepseek], AFTER_OUTAGE_MS);
        expect(ledgerView(books)).toEqual(expectedLedgerView(books));
        expect(books.ledgerCalls).toBe(8);
      } finally {
        await app.close({ keepKeys: true });
      }
    },
    SLOW_TEST_MS,
  );
});

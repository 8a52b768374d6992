import { startFakeLlm, type Fault, type FakeLlm } from './fakes/llm-upstream.js';
import { BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import {
  type Books,
  expectedLedgerView,
  ledgerView,
  pico,
  readBooks,
  settledBooks,
} from './support/books.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';
import { errorEvents, postSse, streamedText, type SseRead } from './support/sse-client.js';

/**
 * What an upstream can do wrong after answering 200: stall (after its headers, or after some chunks), send
 * something that is not a completion (an HTML page, truncated JSON, no choices, a stream without content or
 * finish reason), or lose its client half-way. None of it may hang a client, be cached, or be priced as a
 * call; a reservation is released (or charged for what was streamed, when the client leaves).
 */

const IDLE_SECONDS = 1;

/** A stream ended in error for the client: an error event in the stream, or an HTTP error before it opened. */
function failedVisibly(read: SseRead): { status: number; error: boolean; timedOut: boolean } {
  const error =
    read.status === 200
      ? errorEvents(read).length > 0
      : read.status >= 502 && read.status <= 504 && /"error"/.test(read.raw);
  return { status: read.status === 200 ? 200 : read.status, error, timedOut: read.timedOut };
}

describe('Upstream faults after a 200', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({
      env: { ...providerEnv({ deepseek }), STREAM_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS) },
    });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });
  beforeEach(() => deepseek.clearFaults());

  const v1 = (content: string, stream = false) => ({
    model: 'deepseek-v4-flash',
    messages: [{ role: 'user', content }],
    max_tokens: 64,
    ...(stream ? { stream: true } : {}),
  });
  /** A streaming /v1 request, read raw; the reader gives up after `timeoutMs` (a hang shows as timedOut). */
  const stream = (content: string, timeoutMs = 15_000) =>
    postSse(`${bastion.url}/v1/chat/completions`, BOT_KEY, v1(content, true), { timeoutMs });
  /** The books before a test: each test is judged by what changed during it. */
  let since: Books;
  beforeEach(async () => {
    since = await settledBooks(bastion, [deepseek], 1000);
  });
  /** The upstream requests given end closed within 2 s (none is left open). */
  const expectClosed = (attempts: { aborted: boolean }[], what = 'an upstream request was left open') =>
    waitFor(() => Promise.resolve(attempts.every((c) => c.aborted)), 2000, what);
  /** Since the test began, the ledger, the budget counters and the fake upstream agree. */
  const expectBooksAgree = async () => {
    const books = await settledBooks(bastion, [deepseek], 3000, since);
    expect(ledgerView(books, since)).toEqual(expectedLedgerView(books, since));
  };

  it(`aborts a stream that stalls after its headers once ${IDLE_SECONDS} s pass without a byte: an error for the client, the upstream request closed, the reservation released`, async () => {
    deepseek.inject({ kind: 'stall-after-headers' });
    const calls = deepseek.calls.length;
    const read = await stream('stall right after the headers', 8000);
    expect(failedVisibly(read)).toEqual({ status: read.status, error: true, timedOut: false });
    expect(read.status).not.toBe(500);
    expect(read.ms).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 100);
    expect(read.ms).toBeLessThan(8000); // never minutes: each attempt ends after the idle timeout
    const attempts = deepseek.calls.slice(calls);
    expect(attempts.length).toBeGreaterThan(0);
    await expectClosed(attempts);
    await expectBooksAgree();
  });

  it('gives a 504 for a stream whose upstream never sends its headers: each attempt ends at its deadline and is closed', async () => {
    deepseek.inject({ kind: 'hang' });
    const calls = deepseek.calls.length;
    const read = await stream('never answer the stream', 15_000);
    // models.test.yaml: 1.5 s per attempt, three attempts within a 6 s budget.
    expect({ status: read.status, error: failedVisibly(read).error, timedOut: read.timedOut }).toEqual({
      status: 504,
      error: true,
      timedOut: false,
    });
    expect(read.ms).toBeGreaterThanOrEqual(1400);
    expect(read.ms).toBeLessThan(10_000);
    const attempts = deepseek.calls.slice(calls);
    expect(attempts.length).toBeGreaterThan(1);
    await expectClosed(attempts);
    await expectBooksAgree();
  });

  it(`ends a stream that stalls after some chunks with an error event once ${IDLE_SECONDS} s pass without a byte`, async () => {
    deepseek.inject({ kind: 'stall-after-chunks', afterChunks: 3 });
    const calls = deepseek.calls.length;
    const read = await stream('stall after three chunks', 8000);
    expect({
      status: read.status,
      ended: read.ended,
      timedOut: read.timedOut,
      errors: errorEvents(read).length,
      textBeforeTheStall: streamedText(read).length > 0,
    }).toEqual({ status: 200, ended: true, timedOut: false, errors: 1, textBeforeTheStall: true });
    expect(read.ms).toBeLessThan(5000);
    await expectClosed(deepseek.calls.slice(calls), 'the upstream request was left open');
    // Whatever it charges for the chunks it forwarded, the counters equal the ledger.
    const books = await settledBooks(bastion, [deepseek], 3000, since);
    const view = ledgerView(books, since);
    expect({ statuses: view.statuses, budget_daily_pico: view.budget_daily_pico }).toEqual({
      statuses: [200, 200],
      budget_daily_pico: view.ledger_cost_pico,
    });
  });

  const BAD_200S: [string, Fault][] = [
    ['an HTML page', { kind: 'html' }],
    ['truncated JSON', { kind: 'truncated-json' }],
    ['choices: []', { kind: 'empty-choices' }],
    ['no content and no finish reason', { kind: 'no-content-stream' }],
  ];

  describe.each(BAD_200S)('a 200 carrying %s', (label, fault) => {
    const tag = label.replace(/\W+/g, ' ').trim();

    /** Sends `send` with the fault in place, then again without: the repeat must reach the upstream. */
    async function failsThenCallsAgain<T>(
      send: () => Promise<T>,
    ): Promise<{ failed: T; again: T; fresh: boolean }> {
      deepseek.inject(fault);
      const failed = await send();
      deepseek.clearFaults();
      const before = deepseek.calls.length;
      const again = await send();
      return { failed, again, fresh: deepseek.calls.length > before };
    }

    it('is a 502 on /ai/call, not cached, not priced as a call', async () => {
      const body = { agent_type: 'fault_probe', prompt: `ai call meets ${tag}`, max_tokens: 64 };
      const { failed, again, fresh } = await failsThenCallsAgain(() =>
        bastion.request('POST', '/ai/call', body),
      );
      expect([failed.status, failed.body?.code]).toEqual([502, 'provider_unavailable']);
      expect([again.status, again.body.metadata.reason, fresh]).toEqual([200, 'called', true]);
      await expectBooksAgree();
    });

    it('is a 502 on /v1 plain, not cached, not priced as a call', async () => {
      const { failed, again, fresh } = await failsThenCallsAgain(() =>
        bastion.request('POST', '/v1/chat/completions', v1(`v1 plain meets ${tag}`)),
      );
      expect([failed.status, typeof failed.body?.error?.message]).toEqual([502, 'string']);
      expect([again.status, again.headers.get('x-bastion-cache'), fresh]).toEqual([200, 'MISS', true]);
      expect(again.body.choices[0].message.content).toMatch(/^Answer #\d+ to: v1 plain meets/);
      await expectBooksAgree();
    });

    it('is an error (never an empty completion) on a /v1 stream, not cached, not priced as a call', async () => {
      const { failed, again, fresh } = await failsThenCallsAgain(() => stream(`v1 stream meets ${tag}`));
      expect(failedVisibly(failed)).toEqual({ status: failed.status, error: true, timedOut: false });
      expect(failed.status).not.toBe(500);
      expect([again.status, again.headers.get('x-bastion-cache'), fresh]).toEqual([200, 'MISS', true]);
      expect(streamedText(again)).toMatch(/^Answer #\d+ to: v1 stream meets/);
      await expectBooksAgree();
    });
  });
});

describe('A client that disconnects mid-stream', () => {
  it('is charged what was streamed: more than nothing, less than the reservation, the rest released', async () => {
    const deepseek = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      chunkDelayMs: 100,
      reply: () => 'Long answer. '.repeat(60), // 780 characters: about 100 chunks, 10 s
    });
    const bastion = await startTestApp({ env: providerEnv({ deepseek }) });
    try {
      const reading = postSse(
        `${bastion.url}/v1/chat/completions`,
        BOT_KEY,
        {
          model: 'deepseek-v4-flash',
          messages: [{ role: 'user', content: 'Tell me everything' }],
          max_tokens: 4000,
          stream: true,
        },
        { abortAfterData: 8, timeoutMs: 15_000 },
      );
      await waitFor(
        () => Promise.resolve(deepseek.calls[0]?.status === 200),
        5000,
        'the upstream stream did not start',
      );
      // While the stream runs, the counter holds its reservation (prompt plus 4000 output tokens).
      const reserved = (await readBooks(bastion, [deepseek])).dailySpentUsd;
      const read = await reading;
      expect(read.abortedByClient).toBe(true);
      expect(streamedText(read).length).toBeGreaterThan(0);
      await waitFor(
        () => Promise.resolve(deepseek.calls[0].aborted),
        2000,
        'the upstream request was not aborted',
      );

      let books = await readBooks(bastion, [deepseek]);
      const started = Date.now();
      while (
        Date.now() - started < 3000 &&
        (books.dailySpentUsd === null || books.dailySpentUsd === reserved || books.dailySpentUsd === 0)
      ) {
        await new Promise((r) => setTimeout(r, 200));
        books = await readBooks(bastion, [deepseek]);
      }
      expect(reserved).toBeGreaterThan(0);
      const charged = books.dailySpentUsd;
      expect(charged).toBeGreaterThan(0);
      expect(charged).toBeLessThan(reserved as number);
      // The charge is in the ledger too: the counters equal it.
      expect(pico(charged)).toBe(pico(books.ledgerCostUsd));
    } finally {
      await bastion.close();
      await deepseek.close();
    }
  });
});

import { toPico } from '../../src/common/money.js';
import type { FakeLlm } from '../fakes/llm-upstream.js';
import { ADMIN_KEY, type TestApp } from './app.js';

/** The three books that must agree once the background writes have landed. */
export interface Books {
  /** Upstream calls in the ledger: `GET /ai-cost/stats` overall.total_calls. */
  ledgerCalls: number | null;
  /** Their cost: overall.total_cost_usd. */
  ledgerCostUsd: number | null;
  /** Today's global budget counter: `GET /ai-cost/budgets` daily_spent_usd. */
  dailySpentUsd: number | null;
  /** Calls the fake upstreams answered in full. */
  upstreamCalls: number;
  /** The statuses of the two reads (both 200 once Redis answers). */
  statuses: [number, number];
}

const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);

/** A USD amount in picodollars (the ledger's and the counters' unit), as text for readable failures. */
export const pico = (usd: number | null): string => (usd === null ? 'missing' : toPico(usd).toString());

export async function readBooks(app: TestApp, fakes: FakeLlm[]): Promise<Books> {
  const stats = await app.request('GET', '/ai-cost/stats', undefined, ADMIN_KEY);
  const budgets = await app.request('GET', '/ai-cost/budgets', undefined, ADMIN_KEY);
  return {
    ledgerCalls: num(stats.body?.overall?.total_calls),
    ledgerCostUsd: num(stats.body?.overall?.total_cost_usd),
    dailySpentUsd: num(budgets.body?.daily_spent_usd),
    upstreamCalls: fakes.reduce((n, f) => n + f.completedCalls(), 0),
    statuses: [stats.status, budgets.status],
  };
}

const picoOf = (usd: number | null): bigint | null => (usd === null ? null : toPico(usd));

/** A difference of two amounts in picodollars, as text ('missing' when either is unknown). */
const picoDelta = (now: number | null, then: number | null): string => {
  const a = picoOf(now);
  const b = picoOf(then);
  return a === null || b === null ? 'missing' : (a - b).toString();
};

const ZERO: Books = {
  ledgerCalls: 0,
  ledgerCostUsd: 0,
  dailySpentUsd: 0,
  upstreamCalls: 0,
  statuses: [200, 200],
};

/**
 * The books as one comparable object — since `since` (a reading taken before, default: nothing), so one test
 * is not judged by what an earlier one left — and a failed assertion shows every figure at once.
 */
export const ledgerView = (b: Books, since: Books = ZERO) => ({
  statuses: b.statuses,
  ledger_calls:
    b.ledgerCalls === null || since.ledgerCalls === null ? null : b.ledgerCalls - since.ledgerCalls,
  ledger_cost_pico: picoDelta(b.ledgerCostUsd, since.ledgerCostUsd),
  budget_daily_pico: picoDelta(b.dailySpentUsd, since.dailySpentUsd),
});

/** What ledgerView should be when the books agree: ledger calls = upstream calls, counters = ledger cost. */
export const expectedLedgerView = (b: Books, since: Books = ZERO) => ({
  statuses: [200, 200],
  ledger_calls: b.upstreamCalls - since.upstreamCalls,
  ledger_cost_pico: picoDelta(b.ledgerCostUsd, since.ledgerCostUsd),
  budget_daily_pico: picoDelta(b.ledgerCostUsd, since.ledgerCostUsd),
});

export const balanced = (b: Books, since: Books = ZERO): boolean =>
  JSON.stringify(ledgerView(b, since)) === JSON.stringify(expectedLedgerView(b, since)) &&
  picoOf(b.ledgerCostUsd) !== null;

/**
 * Reads the books until they agree (the ledger and the budget counters are written in the background, and
 * what was kept in memory during an outage is written when Redis is back) or `timeoutMs` passes; returns the
 * last reading, for the caller to assert on with ledgerView / expectedLedgerView.
 */
export async function settledBooks(
  app: TestApp,
  fakes: FakeLlm[],
  timeoutMs = 6_000,
  since: Books = ZERO,
): Promise<Books> {
  const started = Date.now();
  let books = await readBooks(app, fakes);
  while (!balanced(books, since) && Date.now() - started < timeoutMs) {
    await new Promise((r) => setTimeout(r, 250));
    books = await readBooks(app, fakes);
  }
  return books;
}

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

export const balanced = (b: Books): boolean =>
  b.statuses[0] === 200 &&
  b.statuses[1] === 200 &&
  b.ledgerCalls === b.upstreamCalls &&
  b.ledgerCostUsd !== null &&
  pico(b.dailySpentUsd) === pico(b.ledgerCostUsd);

/**
 * Reads the books until they agree (the ledger and the budget counters are written in the background, and
 * what was kept in memory during an outage is written when Redis is back) or `timeoutMs` passes; returns the
 * last reading, for the caller to assert on.
 */
export async function settledBooks(app: TestApp, fakes: FakeLlm[], timeoutMs = 8_000): Promise<Books> {
  const started = Date.now();
  let books = await readBooks(app, fakes);
  while (!balanced(books) && Date.now() - started < timeoutMs) {
    await new Promise((r) => setTimeout(r, 250));
    books = await readBooks(app, fakes);
  }
  return books;
}

/** The books as one comparable object: a failed assertion shows every figure at once. */
export const ledgerView = (b: Books) => ({
  statuses: b.statuses,
  ledger_calls: b.ledgerCalls,
  ledger_cost_pico: pico(b.ledgerCostUsd),
  budget_daily_pico: pico(b.dailySpentUsd),
});

/** What ledgerView should be when the books agree with `upstreamCalls` upstream calls. */
export const expectedLedgerView = (b: Books) => ({
  statuses: [200, 200],
  ledger_calls: b.upstreamCalls,
  ledger_cost_pico: pico(b.ledgerCostUsd),
  budget_daily_pico: pico(b.ledgerCostUsd),
});

import { randomUUID } from 'node:crypto';
import { loadAppConfig } from '../src/config/app-config.js';
import { toPico } from '../src/common/money.js';
import { BudgetService } from '../src/cost-monitoring/budget.service.js';
import { RedisService } from '../src/redis/redis.service.js';
import { BudgetRepository } from '../src/redis/repositories/budget.repository.js';
import { ConversationRepository } from '../src/redis/repositories/conversation.repository.js';
import { SettingsRepository } from '../src/redis/repositories/settings.repository.js';
import { TEST_STORE_NAME, testStoreEnv } from './support/app.js';

/**
 * Budget reservations as the gateway's pre-call step makes them, and settles, on Redis (a Redis Cluster in the
 * cluster project) and the embedded store.
 */
describe.each([
  [TEST_STORE_NAME, testStoreEnv()],
  ['the embedded store', { REDIS_URL: 'memory://' }],
])('budget reservations on %s', (_store, storeEnv) => {
  const config = loadAppConfig({
    ...storeEnv,
    REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
    BUDGET_ENFORCEMENT: 'hard',
    DAILY_BUDGET_USD: '1',
    CRITICAL_OVERDRAW_PERCENT: '10',
  });
  const redis = new RedisService(config);
  const settings = new SettingsRepository(redis);
  const counters = new BudgetRepository(redis);
  const budgets = new BudgetService(settings, counters, config);
  const conversations = new ConversationRepository(redis);
  const at = Date.parse('2026-11-22T12:00:00Z');

  /** Reserves `usd` for one call of `agent` at `when`, as the admit stage plans it. */
  async function reserve(agent: string, usd: number, when: number, critical = false) {
    const current = budgets.current();
    const windows = budgets.windows(current, agent, when);
    const limits = budgets.limitsPico(current, windows, critical);
    const requestId = randomUUID();
    const result = await conversations.precall({
      conversation: { tenant: 'default', agent, symbol: '-' },
      settingsVersion: settings.snapshot.version,
      cacheKey: null,
      intervalMs: null,
      sampling: null,
      inflight: null,
      reservation: {
        requestId,
        amountPico: toPico(usd),
        counters: windows.map((w, i) => ({ key: w.counter, limitPico: limits[i] })),
      },
      lastAnswerOnGo: false,
      now: when,
    });
    if (result.kind === 'refused') return { ok: false as const, scope: windows[result.counter].scope };
    expect(result.kind).toBe('go');
    return { ok: true as const, requestId, counters: windows.map((w) => w.counter) };
  }

  beforeAll(async () => {
    await redis.connect();
    await settings.reload();
  });
  afterAll(async () => {
    await redis.deleteAllWithPrefix();
    await redis.onApplicationShutdown();
  });

  it('refuses past the budget, lets a CRITICAL event overdraw by the margin, and settles to the real cost', async () => {
    const first = await reserve('probe', 0.95, at);
    expect(first.ok).toBe(true);
    const refused = await reserve('probe', 0.1, at);
    expect(refused).toMatchObject({ ok: false, scope: 'daily' });
    const critical = await reserve('probe', 0.1, at, true); // 1.05 ≤ 1.1
    expect(critical.ok).toBe(true);
    expect((await reserve('probe', 0.1, at, true)).ok).toBe(false); // 1.15 > 1.1
    if (!first.ok) throw new Error('unreachable');
    // The real cost was lower: 0.45 returns to the budget.
    counters.settle({ requestId: first.requestId, counters: first.counters, costPico: toPico(0.5) });
    expect((await reserve('probe', 0.3, at)).ok).toBe(true); // 0.5 + 0.1 + 0.3 = 0.9
  });

  it('a day later the daily budget starts clean', async () => {
    expect((await reserve('probe', 0.9, at + 86_400_000)).ok).toBe(true);
  });
});

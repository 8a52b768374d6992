import { randomUUID } from 'node:crypto';
import { loadAppConfig } from '../src/config/app-config.js';
import { BudgetService } from '../src/cost-monitoring/budget.service.js';
import { RedisService } from '../src/redis/redis.service.js';
import { TEST_REDIS_URL } from './support/app.js';

describe('BudgetService reservations on a real Redis', () => {
  const config = loadAppConfig({
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
    BUDGET_ENFORCEMENT: 'hard',
    DAILY_BUDGET_USD: '1',
    CRITICAL_OVERDRAW_PERCENT: '10',
  });
  const redis = new RedisService(config);
  const budgets = new BudgetService(redis, config);
  const at = Date.parse('2026-11-22T12:00:00Z');

  beforeAll(() => redis.connect());
  afterAll(async () => {
    await redis.deleteAllWithPrefix();
    await redis.onApplicationShutdown();
  });

  it('refuses past the budget, lets a CRITICAL event overdraw by the margin, and settles to the real cost', async () => {
    const first = await budgets.reserve('probe', 0.95, at);
    expect(first.ok).toBe(true);
    const refused = await budgets.reserve('probe', 0.1, at);
    expect(refused).toMatchObject({ ok: false, scope: 'daily' });
    const critical = await budgets.reserve('probe', 0.1, at, true); // 1.05 ≤ 1.1
    expect(critical.ok).toBe(true);
    expect((await budgets.reserve('probe', 0.1, at, true)).ok).toBe(false); // 1.15 > 1.1
    if (!first.ok) throw new Error('unreachable');
    await budgets.settle(first.reservation, 0.5); // the real cost was lower: 0.45 returns to the budget
    expect((await budgets.reserve('probe', 0.3, at)).ok).toBe(true); // 0.5 + 0.1 + 0.3 = 0.9
  });

  it('a day later the daily budget starts clean', async () => {
    expect((await budgets.reserve('probe', 0.9, at + 86_400_000)).ok).toBe(true);
  });
});

import { type FactoryProvider, Inject, Injectable, Logger } from '@nestjs/common';
import { Cron } from '@nestjs/schedule';
import { randomUUID } from 'node:crypto';
import type { ConfigType } from '@nestjs/config';
import { budgetsConfig, type BudgetsConfig } from '../../config/namespaces.js';
import { Clock, utcDay, utcMonth } from '../../common/clock.js';
import { fromPico } from '../../common/money.js';
import { RedisService } from '../../redis/redis.service.js';
import { ApiKeyRepository } from '../../redis/repositories/api-key.repository.js';
import { AlertRepository } from '../../redis/repositories/alert.repository.js';
import { BudgetService } from '../budget.service.js';
import { CostLedger } from '../cost-ledger.js';
import { Notifiers, type BudgetAlert, type Delivery } from './notifiers.js';

const LEASE_MS = 50_000;
const KEEP_ALERTS = 500;

/**
 * Scheduled budget checks (BUDGET_CHECK_CRON, run by @nestjs/schedule through budgetCheckSchedule below).
 * Each tick is run by the one instance holding the Redis lease; each (scope, period, threshold) alerts once:
 * the first instance to SET NX its marker sends it, and the marker names the UTC day or month, so the next
 * period starts clean. Restarts change nothing.
 */
@Injectable()
export class BudgetAlertsService {
  private readonly logger = new Logger(BudgetAlertsService.name);

  constructor(
    @Inject(budgetsConfig.KEY) private readonly config: ConfigType<typeof budgetsConfig>,
    private readonly redis: RedisService,
    private readonly alerts: AlertRepository,
    private readonly budgets: BudgetService,
    private readonly ledger: CostLedger,
    private readonly notifiers: Notifiers,
    private readonly clock: Clock,
    private readonly keys: ApiKeyRepository,
  ) {}

  /** One scheduled tick: a failed check is logged and the next tick tries again. */
  async tick(): Promise<void> {
    try {
      await this.runScheduledCheck();
    } catch (err) {
      this.logger.warn(`Budget check failed: ${(err as Error).message}`);
    }
  }

  /** What the cron runs: the check, by whichever instance gets the lease. Returns null if another has it. */
  async runScheduledCheck(): Promise<BudgetAlert[] | null> {
    const release = await this.redis.acquireLease('budget-check', LEASE_MS);
    if (!release) return null;
    try {
      return await this.check();
    } finally {
      await release();
    }
  }

  /** Compares spend with every budget and sends each newly crossed threshold once. */
  async check(): Promise<BudgetAlert[]> {
    const now = this.clock.now();
    const settings = await this.budgets.settings();
    const day = utcDay(now);
    const month = utcMonth(now);
    // Each window: the alert's scope (global, agent:x, tenant:x, key:id) and the ledger scope its spend is read from.
    const windows: {
      scope: string;
      ledgerScope: string;
      period: 'daily' | 'monthly';
      periodId: string;
      budget: number | null;
    }[] = [];
    const add = (scope: string, daily: number | null, monthly: number | null): void => {
      // The ledger keeps overall scopes as `day:D` and `day:D:agent:x`, an owner's as `tenant:x:day:D`.
      const owned = scope.startsWith('tenant:') || scope.startsWith('key:');
      const at = (period: string): string =>
        scope === 'global' ? period : owned ? `${scope}:${period}` : `${period}:${scope}`;
      windows.push({ scope, ledgerScope: at(`day:${day}`), period: 'daily', periodId: day, budget: daily });
      windows.push({
        scope,
        ledgerScope: at(`month:${month}`),
        period: 'monthly',
        periodId: month,
        budget: monthly,
      });
    };
    add('global', settings.daily_budget_usd, settings.monthly_budget_usd);
    for (const [agent, b] of Object.entries(settings.agents))
      add(`agent:${agent}`, b.daily_budget_usd, b.monthly_budget_usd);
    for (const [tenant, b] of Object.entries(settings.tenants))
      add(`tenant:${tenant}`, b.daily_budget_usd, b.monthly_budget_usd);
    for (const key of await this.keys.withBudgets())
      add(`key:${key.id}`, key.daily_budget_usd, key.monthly_budget_usd);
    const active = windows.filter((w) => w.budget !== null && w.budget > 0);
    const totals = await this.ledger.totalsMany(active.map((w) => w.ledgerScope));
    // The deployment's budgets may count the fixed costs too (a day's share, the month's).
    const fixed = this.budgets.fixedShare(settings, now);
    const sent: BudgetAlert[] = [];
    for (const [i, w] of active.entries()) {
      const fixedPico = w.scope !== 'global' ? 0n : w.period === 'daily' ? fixed.dayPico : fixed.monthPico;
      const spent = fromPico(totals[i].costPico + fixedPico);
      const budget = w.budget as number;
      const usage = (spent / budget) * 100;
      // Only the highest threshold crossed is sent; lower ones are marked so they never fire late.
      const crossed = this.config.budgetAlertThresholds.filter((t) => usage >= t).sort((a, b) => b - a);
      if (crossed.length === 0) continue;
      const ttl = w.period === 'daily' ? 2 * 86_400 : 40 * 86_400;
      if (!(await this.alerts.claim(w, crossed, now, ttl))) continue;
      const alert = this.describe(
        w.scope,
        w.period,
        w.periodId,
        crossed[0],
        spent,
        budget,
        usage,
        settings.enforcement,
        now,
        fromPico(fixedPico),
      );
      // Recorded before delivery so a crash mid-delivery still leaves the alert listed; listed once only.
      await this.store(alert, [], { list: true });
      const deliveries = await this.notifiers.deliver(alert);
      await this.store(alert, deliveries, { list: false });
      sent.push(alert);
      this.logger.warn(`Budget alert: ${alert.message}`);
    }
    return sent;
  }

  async list(limit = 50): Promise<(BudgetAlert & { deliveries: Delivery[] })[]> {
    const records = await this.alerts.list(limit);
    return records.map((r) => JSON.parse(r) as BudgetAlert & { deliveries: Delivery[] });
  }

  private async store(
    alert: BudgetAlert,
    deliveries: Delivery[],
    { list }: { list: boolean },
  ): Promise<void> {
    await this.alerts.record(alert.id, JSON.stringify({ ...alert, deliveries }), { list, keep: KEEP_ALERTS });
  }

  private describe(
    scope: string,
    period: 'daily' | 'monthly',
    periodId: string,
    threshold: number,
    spent: number,
    budget: number,
    usage: number,
    enforcement: string,
    now: number,
    fixedUsd: number,
  ): BudgetAlert {
    const [kind, name] = scope.split(/:(.*)/s);
    const who = scope === 'global' ? 'all agents' : `${kind} ${name}`;
    const next =
      enforcement === 'hard'
        ? usage >= 100
          ? 'Enforcement is hard: upstream calls past the budget are refused until the period ends.'
          : 'Enforcement is hard: calls will be refused once the budget is reached.'
        : enforcement === 'soft'
          ? 'Enforcement is soft: calls continue; only alerts are sent.'
          : 'Enforcement is off.';
    return {
      id: randomUUID(),
      at: new Date(now).toISOString(),
      scope,
      period,
      period_id: periodId,
      threshold_percent: threshold,
      spent_usd: spent,
      budget_usd: budget,
      usage_percent: Number(usage.toFixed(2)),
      enforcement,
      ...(fixedUsd > 0 ? { fixed_cost_usd: fixedUsd } : {}),
      message: `${who} spent $${spent.toFixed(6)}${fixedUsd > 0 ? ` (fixed costs $${fixedUsd.toFixed(6)} included)` : ''} of the ${period} budget $${budget} for ${periodId} (${usage.toFixed(1)}%, threshold ${threshold}%). ${next}`,
    };
  }
}

/**
 * Runs BudgetAlertsService.tick on BUDGET_CHECK_CRON (UTC) through @nestjs/schedule, which starts the job
 * when the app has booted and stops it before the app shuts down. The expression comes from configuration,
 * known only when the app is built, so the `@Cron` sits on a class made per app here.
 */
export const budgetCheckSchedule: FactoryProvider = {
  provide: Symbol('BUDGET_CHECK_SCHEDULE'),
  inject: [budgetsConfig.KEY, BudgetAlertsService],
  useFactory: (config: BudgetsConfig, alerts: BudgetAlertsService): object => {
    class BudgetCheckSchedule {
      @Cron(config.budgetCheckCron, { name: 'budget-check', utcOffset: 0 })
      run(): Promise<void> {
        return alerts.tick();
      }
    }
    return new BudgetCheckSchedule();
  },
};

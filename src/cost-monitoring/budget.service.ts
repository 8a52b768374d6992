import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { BudgetEnforcement } from '../config/app-config.js';
import { budgetsConfig } from '../config/namespaces.js';
import { utcDay, utcMonth } from '../common/clock.js';
import { fromPico, toPico } from '../common/money.js';
import { BudgetRepository } from '../redis/repositories/budget.repository.js';
import { SettingsRepository } from '../redis/repositories/settings.repository.js';
import type { KeyPolicy } from '../common/caller.js';
import { FixedCosts } from './tco/fixed-costs.js';

export interface AgentBudget {
  daily_budget_usd: number | null;
  monthly_budget_usd: number | null;
}

/** Budgets in force: environment defaults, overridden at run time through PUT /ai-cost/budgets (kept in Redis). */
export interface BudgetSettings {
  daily_budget_usd: number | null;
  monthly_budget_usd: number | null;
  enforcement: BudgetEnforcement;
  /** The deployment's daily and monthly budgets count the fixed costs (a day's share, the month's) beside LLM spend. */
  include_fixed_costs: boolean;
  agents: Record<string, AgentBudget>;
  /** Budgets per tenant (the same shape as an agent's). */
  tenants: Record<string, AgentBudget>;
}

export type BudgetSettingsUpdate = Partial<Omit<BudgetSettings, 'agents' | 'tenants'>> & {
  agents?: Record<string, Partial<AgentBudget> | null>;
  tenants?: Record<string, Partial<AgentBudget> | null>;
};

export type BudgetsWithSpend = BudgetSettings & {
  daily_spent_usd: number;
  monthly_spent_usd: number;
  daily_fixed_cost_usd?: number;
  monthly_fixed_cost_usd?: number;
};

/** Whose else budgets a call counts against: its tenant's, and its managed key's. */
export interface BudgetOwner {
  tenant: string;
  key: Pick<KeyPolicy, 'id' | 'dailyBudgetUsd' | 'monthlyBudgetUsd'> | null;
}

/** One budget window a call counts in: its counter, and its limit when a hard budget applies. */
export interface BudgetWindow {
  counter: string;
  /** The budget in USD (null: none set). */
  budgetUsd: number | null;
  /** Which window: daily, monthly, or an agent's ("daily budget of agent x"). */
  scope: string;
  /** How a refusal names the window: "daily budget", "monthly budget of agent x". */
  label: string;
  /** Fixed costs this budget counts beside its counter (the deployment's windows, when it includes them). */
  fixedPico: bigint;
}

/**
 * Budgets: settings (environment, overridden at run time) and the counters that spend is reserved on.
 * The reservation itself is part of the gateway's pre-call step (one atomic script); this service says
 * which counters and limits apply. Settings are read from this instance's copy of the run-time settings,
 * so a hard budget set at run time keeps holding while Redis is away.
 */
@Injectable()
export class BudgetService {
  private readonly logger = new Logger(BudgetService.name);

  constructor(
    private readonly settingsStore: SettingsRepository,
    private readonly counters: BudgetRepository,
    @Inject(budgetsConfig.KEY) private readonly config: ConfigType<typeof budgetsConfig>,
    // Absent where a budget is used without the app (unit tests): no fixed costs then.
    @Optional() private readonly fixedCosts?: FixedCosts,
  ) {}

  /** The fixed costs a deployment budget of `settings` counts on the day and in the month of `at`. */
  fixedShare(settings: BudgetSettings, at: number): { dayPico: bigint; monthPico: bigint } {
    if (!settings.include_fixed_costs || this.fixedCosts === undefined) return { dayPico: 0n, monthPico: 0n };
    return { dayPico: this.fixedCosts.dayPico(at), monthPico: this.fixedCosts.monthPico(utcMonth(at)) };
  }

  defaults(): BudgetSettings {
    return {
      daily_budget_usd: this.config.dailyBudgetUsd ?? null,
      monthly_budget_usd: this.config.monthlyBudgetUsd ?? null,
      enforcement: this.config.budgetEnforcement,
      include_fixed_costs: this.config.budgetIncludeFixedCosts,
      agents: {},
      tenants: {},
    };
  }

  /** The budgets in force, from this instance's copy of the run-time settings (no I/O). */
  current(): BudgetSettings {
    const stored = this.settingsStore.snapshot.budgets;
    if (typeof stored !== 'object' || stored === null) return this.defaults();
    const settings = { ...this.defaults(), ...(stored as Partial<BudgetSettings>) };
    return { ...settings, tenants: settings.tenants ?? {} };
  }

  /** The budgets read fresh from the store (the last copy when Redis is away). */
  async settings(): Promise<BudgetSettings> {
    await this.settingsStore.reload();
    return this.current();
  }

  async update(change: BudgetSettingsUpdate): Promise<BudgetSettings> {
    const current = await this.settings();
    const next: BudgetSettings = {
      ...current,
      agents: { ...current.agents },
      tenants: { ...current.tenants },
    };
    if (change.daily_budget_usd !== undefined) next.daily_budget_usd = change.daily_budget_usd;
    if (change.monthly_budget_usd !== undefined) next.monthly_budget_usd = change.monthly_budget_usd;
    if (change.enforcement !== undefined) next.enforcement = change.enforcement;
    if (change.include_fixed_costs !== undefined) next.include_fixed_costs = change.include_fixed_costs;
    const merge = (
      into: Record<string, AgentBudget>,
      changes: Record<string, Partial<AgentBudget> | null>,
    ): void => {
      for (const [name, budget] of Object.entries(changes)) {
        if (budget === null) {
          delete into[name];
          continue;
        }
        const merged: AgentBudget = into[name] ?? { daily_budget_usd: null, monthly_budget_usd: null };
        if (budget.daily_budget_usd !== undefined) merged.daily_budget_usd = budget.daily_budget_usd;
        if (budget.monthly_budget_usd !== undefined) merged.monthly_budget_usd = budget.monthly_budget_usd;
        into[name] = merged;
      }
    };
    merge(next.agents, change.agents ?? {});
    merge(next.tenants, change.tenants ?? {});
    await this.settingsStore.setBudgets(next);
    this.logger.log(`Budgets changed: ${JSON.stringify(next)}`);
    return next;
  }

  /**
   * Every window a call of `agent` at `at` counts in, with the budgets of `settings`: overall and the agent's,
   * and — given its owner — its tenant's and its managed key's (their counters are kept even without a budget,
   * so usage per tenant and key can be read from them).
   */
  windows(settings: BudgetSettings, agent: string, at: number, owner?: BudgetOwner): BudgetWindow[] {
    const day = `day:${utcDay(at)}`;
    const month = `month:${utcMonth(at)}`;
    const agentBudget = settings.agents[agent];
    const fixed = this.fixedShare(settings, at);
    const owned: BudgetWindow[] = [];
    if (owner) {
      const t = settings.tenants[owner.tenant];
      owned.push(
        {
          counter: this.counters.counter(day, `tenant:${owner.tenant}`),
          budgetUsd: t?.daily_budget_usd ?? null,
          scope: `daily budget of tenant ${owner.tenant}`,
          label: `daily budget of tenant ${owner.tenant}`,
          fixedPico: 0n,
        },
        {
          counter: this.counters.counter(month, `tenant:${owner.tenant}`),
          budgetUsd: t?.monthly_budget_usd ?? null,
          scope: `monthly budget of tenant ${owner.tenant}`,
          label: `monthly budget of tenant ${owner.tenant}`,
          fixedPico: 0n,
        },
      );
      if (owner.key) {
        owned.push(
          {
            counter: this.counters.counter(day, `key:${owner.key.id}`),
            budgetUsd: owner.key.dailyBudgetUsd,
            scope: `daily budget of key ${owner.key.id}`,
            label: `daily budget of key ${owner.key.id}`,
            fixedPico: 0n,
          },
          {
            counter: this.counters.counter(month, `key:${owner.key.id}`),
            budgetUsd: owner.key.monthlyBudgetUsd,
            scope: `monthly budget of key ${owner.key.id}`,
            label: `monthly budget of key ${owner.key.id}`,
            fixedPico: 0n,
          },
        );
      }
    }
    return [
      {
        counter: this.counters.counter(day, 'global'),
        budgetUsd: settings.daily_budget_usd,
        scope: 'daily',
        label: 'daily budget',
        fixedPico: fixed.dayPico,
      },
      {
        counter: this.counters.counter(month, 'global'),
        budgetUsd: settings.monthly_budget_usd,
        scope: 'monthly',
        label: 'monthly budget',
        fixedPico: fixed.monthPico,
      },
      {
        counter: this.counters.counter(day, `agent:${agent}`),
        budgetUsd: agentBudget?.daily_budget_usd ?? null,
        scope: `daily budget of agent ${agent}`,
        label: `daily budget of agent ${agent}`,
        fixedPico: 0n,
      },
      {
        counter: this.counters.counter(month, `agent:${agent}`),
        budgetUsd: agentBudget?.monthly_budget_usd ?? null,
        scope: `monthly budget of agent ${agent}`,
        label: `monthly budget of agent ${agent}`,
        fixedPico: 0n,
      },
      ...owned,
    ];
  }

  /** Limits of a reservation in picodollars: only a hard budget limits; CRITICAL may overdraw by a margin. */
  limitsPico(settings: BudgetSettings, windows: BudgetWindow[], critical: boolean): (bigint | null)[] {
    if (settings.enforcement !== 'hard') return windows.map(() => null);
    // Going blind in a crash costs more than the margin: CRITICAL events may overdraw a hard budget.
    const allowance = critical ? 1 + this.config.criticalOverdrawPercent / 100 : 1;
    // Fixed costs a budget counts leave that much less of it for calls (none left: every call is refused).
    return windows.map((w) => {
      if (w.budgetUsd === null) return null;
      const room = toPico(w.budgetUsd * allowance) - w.fixedPico;
      return room > 0n ? room : 0n;
    });
  }

  /**
   * The budgets in force and the current day's and month's spend on the counters (503 while Redis is away),
   * and — when the budgets count them — the fixed costs of the day and the month they are held against too.
   */
  async withSpend(at: number): Promise<BudgetsWithSpend> {
    const settings = await this.settings();
    const spent = await this.spent(at);
    if (!settings.include_fixed_costs) return { ...settings, ...spent };
    const fixed = this.fixedShare(settings, at);
    return {
      ...settings,
      ...spent,
      daily_fixed_cost_usd: fromPico(fixed.dayPico),
      monthly_fixed_cost_usd: fromPico(fixed.monthPico),
    };
  }

  /** Spend on the global day and month counters (what the budgets are held against). */
  async spent(at: number): Promise<{ daily_spent_usd: number; monthly_spent_usd: number }> {
    const [day, month] = await this.counters.spent([
      this.counters.counter(`day:${utcDay(at)}`, 'global'),
      this.counters.counter(`month:${utcMonth(at)}`, 'global'),
    ]);
    return { daily_spent_usd: fromPico(day), monthly_spent_usd: fromPico(month) };
  }
}

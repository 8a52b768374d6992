import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig, BudgetEnforcement } from '../config/app-config.js';
import { RedisService } from '../redis/redis.service.js';
import { toPico } from '../ai-optimization/pricing.js';
import { utcDay, utcMonth } from '../common/clock.js';

export interface AgentBudget {
  daily_budget_usd: number | null;
  monthly_budget_usd: number | null;
}

/** Budgets in force: environment defaults, overridden at run time through PUT /ai-cost/budgets (kept in Redis). */
export interface BudgetSettings {
  daily_budget_usd: number | null;
  monthly_budget_usd: number | null;
  enforcement: BudgetEnforcement;
  agents: Record<string, AgentBudget>;
}

export type BudgetSettingsUpdate = Partial<Omit<BudgetSettings, 'agents'>> & {
  agents?: Record<string, Partial<AgentBudget> | null>;
};

export interface Reservation {
  keys: string[];
  amountPico: bigint;
  ttlSeconds: number;
}

export type ReserveOutcome =
  { ok: true; reservation: Reservation | null } | { ok: false; scope: string; message: string };

const DAY_TTL = 3 * 24 * 3600;
const MONTH_TTL = 40 * 24 * 3600;

/**
 * Budgets enforced atomically across instances: an upper-bound estimate is reserved before the upstream
 * call by one Lua script (check and add in one step) and settled to the real cost afterwards.
 * If Redis is unreachable a hard budget fails closed (the call is refused) and a soft one fails open.
 */
@Injectable()
export class BudgetService {
  private readonly logger = new Logger(BudgetService.name);

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  defaults(): BudgetSettings {
    return {
      daily_budget_usd: this.config.dailyBudgetUsd ?? null,
      monthly_budget_usd: this.config.monthlyBudgetUsd ?? null,
      enforcement: this.config.budgetEnforcement,
      agents: {},
    };
  }

  async settings(): Promise<BudgetSettings> {
    const raw = await this.redis.client.get(this.redis.keys.budgetSettings());
    if (raw === null) return this.defaults();
    return { ...this.defaults(), ...(JSON.parse(raw) as Partial<BudgetSettings>) };
  }

  /** Settings, or the environment defaults when Redis cannot be read. */
  async settingsOrDefaults(): Promise<BudgetSettings> {
    try {
      return await this.settings();
    } catch {
      return this.defaults();
    }
  }

  async update(change: BudgetSettingsUpdate): Promise<BudgetSettings> {
    const current = await this.settings();
    const next: BudgetSettings = { ...current, agents: { ...current.agents } };
    if (change.daily_budget_usd !== undefined) next.daily_budget_usd = change.daily_budget_usd;
    if (change.monthly_budget_usd !== undefined) next.monthly_budget_usd = change.monthly_budget_usd;
    if (change.enforcement !== undefined) next.enforcement = change.enforcement;
    for (const [agent, budget] of Object.entries(change.agents ?? {})) {
      if (budget === null) {
        delete next.agents[agent];
        continue;
      }
      const merged: AgentBudget = next.agents[agent] ?? { daily_budget_usd: null, monthly_budget_usd: null };
      if (budget.daily_budget_usd !== undefined) merged.daily_budget_usd = budget.daily_budget_usd;
      if (budget.monthly_budget_usd !== undefined) merged.monthly_budget_usd = budget.monthly_budget_usd;
      next.agents[agent] = merged;
    }
    await this.redis.client.set(this.redis.keys.budgetSettings(), JSON.stringify(next));
    this.logger.log(`Budgets changed: ${JSON.stringify(next)}`);
    return next;
  }

  /** Reserve `estimateUsd` against every budget window the call counts in. */
  async reserve(
    agent: string,
    estimateUsd: number | null,
    at: number,
    critical = false,
  ): Promise<ReserveOutcome> {
    let settings: BudgetSettings;
    try {
      settings = await this.settings();
    } catch (err) {
      return this.redisDown(err);
    }
    if (settings.enforcement === 'off') return { ok: true, reservation: null };
    const day = utcDay(at);
    const month = utcMonth(at);
    const agentBudget = settings.agents[agent];
    const windows: { key: string; limit: number | null; ttl: number; scope: string }[] = [
      {
        key: this.redis.keys.budgetSpend(`day:${day}`, 'global'),
        limit: settings.daily_budget_usd,
        ttl: DAY_TTL,
        scope: 'daily',
      },
      {
        key: this.redis.keys.budgetSpend(`month:${month}`, 'global'),
        limit: settings.monthly_budget_usd,
        ttl: MONTH_TTL,
        scope: 'monthly',
      },
      {
        key: this.redis.keys.budgetSpend(`day:${day}`, `agent:${agent}`),
        limit: agentBudget?.daily_budget_usd ?? null,
        ttl: DAY_TTL,
        scope: `daily budget of agent ${agent}`,
      },
      {
        key: this.redis.keys.budgetSpend(`month:${month}`, `agent:${agent}`),
        limit: agentBudget?.monthly_budget_usd ?? null,
        ttl: MONTH_TTL,
        scope: `monthly budget of agent ${agent}`,
      },
    ];
    // An unpriced model cannot be held to a money budget; it is reserved at 0 and logged by the price book.
    const amountPico = estimateUsd === null ? 0n : toPico(estimateUsd);
    const hard = settings.enforcement === 'hard';
    // CRITICAL events may overdraw a hard budget by a configured margin: going blind in a crash costs more.
    const allowance = critical ? 1 + this.config.criticalOverdrawPercent / 100 : 1;
    const limits = windows.map((w) => (hard && w.limit !== null ? toPico(w.limit * allowance) : null));
    let refused: number;
    try {
      refused = await this.redis.reserve(
        windows.map((w) => w.key),
        amountPico,
        limits,
        MONTH_TTL,
      );
    } catch (err) {
      return hard ? this.redisDown(err) : { ok: true, reservation: null };
    }
    if (refused > 0) {
      const w = windows[refused - 1];
      return {
        ok: false,
        scope: w.scope,
        message: `The ${w.scope} budget of $${w.limit} would be exceeded by this call (enforcement: hard)`,
      };
    }
    return { ok: true, reservation: { keys: windows.map((w) => w.key), amountPico, ttlSeconds: MONTH_TTL } };
  }

  /** Replace the reservation by the real cost (null = unknown: keep the estimate, the safe side). */
  async settle(reservation: Reservation | null, actualUsd: number | null): Promise<void> {
    if (!reservation || actualUsd === null) return;
    await this.adjustSafely(reservation, toPico(actualUsd) - reservation.amountPico);
  }

  /** The call was not made or failed: give the reservation back, no spend is recorded. */
  async release(reservation: Reservation | null): Promise<void> {
    if (!reservation) return;
    await this.adjustSafely(reservation, -reservation.amountPico);
  }

  private async adjustSafely(reservation: Reservation, delta: bigint): Promise<void> {
    try {
      await this.redis.adjust(reservation.keys, delta, reservation.ttlSeconds);
    } catch (err) {
      this.logger.error(`Could not settle a budget reservation: ${(err as Error).message}`);
    }
  }

  private redisDown(err: unknown): ReserveOutcome {
    const hard = this.config.budgetEnforcement === 'hard';
    this.logger.warn(
      `Budget store unreachable (${(err as Error).message}); ${hard ? 'refusing (hard budget fails closed)' : 'allowing (soft budget fails open)'}`,
    );
    if (!hard) return { ok: true, reservation: null };
    return {
      ok: false,
      scope: 'budget store',
      message: 'The budget store (Redis) is unreachable and the budget is hard: the call is refused',
    };
  }
}

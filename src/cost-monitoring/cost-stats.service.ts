import { Injectable } from '@nestjs/common';
import { Clock, utcDay, utcMonth } from '../common/clock.js';
import { fromPico } from '../common/money.js';
import { BudgetService } from './budget.service.js';
import { CostLedger, type ScopeTotals } from './cost-ledger.js';
import { SAVING_LAYERS } from './ledger-entry.js';
import { EventStatsService } from './event-stats.service.js';

const round = (x: number, digits = 12): number => Number(x.toFixed(digits));
const pct = (part: number, whole: number): number => (whole > 0 ? round((part / whole) * 100, 6) : 0);

function overall(t: ScopeTotals) {
  const savings = t.savedUsd;
  const totalSavings = round(Object.values(savings).reduce((a, b) => a + b, 0));
  const pricedCalls = t.calls - t.unpricedCalls;
  return {
    total_calls: t.calls,
    total_requests: t.requests,
    total_cost_usd: t.costUsd,
    unpriced_calls: t.unpricedCalls,
    avg_cost_per_call_usd: pricedCalls > 0 ? round(t.costUsd / pricedCalls) : 0,
    estimated_savings_usd: totalSavings,
    savings_percent: pct(totalSavings, t.costUsd + totalSavings),
    savings_by_layer_usd: savings,
    total_prompt_tokens: t.promptTokens,
    total_cached_prompt_tokens: t.cachedPromptTokens,
    total_completion_tokens: t.completionTokens,
  };
}

/**
 * Whose figures: everybody's (undefined), one tenant's (`tenant:<t>`) or one managed key's (`key:<id>`). The
 * ledger keeps the same scopes per owner, prefixed with it.
 */
export type Owner = string | undefined;

const scoped = (owner: Owner, scope: string): string =>
  owner === undefined ? scope : scope === 'total' ? owner : `${owner}:${scope}`;

/** Read side of the ledger: the /ai-cost/* figures (stats, daily, budget-alert, agent-breakdown). */
@Injectable()
export class CostStatsService {
  constructor(
    private readonly ledger: CostLedger,
    private readonly budgets: BudgetService,
    private readonly clock: Clock,
    private readonly eventStats: EventStatsService,
  ) {}

  async stats(owner?: Owner) {
    const t = await this.ledger.totals(scoped(owner, 'total'));
    const agents = await this.ledger.agents(owner);
    const perAgent = await this.ledger.totalsMany(agents.map((a) => scoped(owner, `agent:${a}`)));
    const events = await this.eventStats.snapshot();
    const byAgent: Record<
      string,
      { calls: number; sampled_out: number; adaptive_calls: number; savings_usd: number }
    > = {};
    agents.forEach((agent, i) => {
      const a = perAgent[i];
      if (!a.reasons.sampled_out && !a.adaptiveCalls) return;
      byAgent[agent] = {
        calls: a.calls,
        sampled_out: a.reasons.sampled_out ?? 0,
        adaptive_calls: a.adaptiveCalls,
        savings_usd: a.savedUsd.sampling,
      };
    });
    const lookups = t.cacheHits + t.cacheMisses;
    return {
      overall: overall(t),
      response_cache: {
        hits: t.cacheHits,
        misses: t.cacheMisses,
        hit_rate: lookups > 0 ? round(t.cacheHits / lookups, 6) : 0,
      },
      prompt_cache: {
        cached_tokens: t.cachedPromptTokens,
        hit_rate: t.promptTokens > 0 ? round(t.cachedPromptTokens / t.promptTokens, 6) : 0,
        savings_usd: t.savedUsd.prompt_cache,
      },
      coalescing: { coalesced_requests: t.reasons.coalesced ?? 0, savings_usd: t.savedUsd.coalescing },
      reasons: t.reasons,
      sampling: {
        adaptive_calls: t.adaptiveCalls,
        calls_saved: t.reasons.sampled_out ?? 0,
        savings_usd: t.savedUsd.sampling,
        by_agent: byAgent,
      },
      events: { ...events, filtered_savings_usd: t.savedUsd.event_filter },
      batching: {
        batched_events: events.batched,
        batches_flushed: events.batches_flushed,
        batched_events_answered: events.batched_events_answered,
        savings_usd: t.savedUsd.batching,
      },
    };
  }

  /** The tenants that have made requests. */
  tenants(): Promise<string[]> {
    return this.ledger.owners('tenants');
  }

  async daily(date: string | undefined, days: number, owner?: Owner) {
    const day = date ?? utcDay(this.clock.now());
    const end = Date.parse(`${day}T00:00:00Z`);
    const dates = Array.from({ length: days }, (_, i) => utcDay(end - i * 86_400_000));
    const totals = await this.ledger.totalsMany(dates.map((d) => scoped(owner, `day:${d}`)));
    const row = (d: string, t: ScopeTotals) => ({
      date: d,
      total_cost_usd: t.costUsd,
      total_calls: t.calls,
      total_requests: t.requests,
      unpriced_calls: t.unpricedCalls,
      total_prompt_tokens: t.promptTokens,
      total_cached_prompt_tokens: t.cachedPromptTokens,
      total_completion_tokens: t.completionTokens,
      cache_hits: t.cacheHits,
      estimated_savings_usd: round(SAVING_LAYERS.reduce((s, l) => s + t.savedUsd[l], 0)),
    });
    return { ...row(day, totals[0]), history: dates.map((d, i) => row(d, totals[i])).reverse() };
  }

  async agentBreakdown(owner?: Owner) {
    const agents = await this.ledger.agents(owner);
    const [total, ...perAgent] = await this.ledger.totalsMany([
      scoped(owner, 'total'),
      ...agents.map((a) => scoped(owner, `agent:${a}`)),
    ]);
    const rows: Record<string, unknown> = {};
    agents.forEach((agent, i) => {
      const t = perAgent[i];
      rows[agent] = {
        calls: t.calls,
        requests: t.requests,
        cost_usd: t.costUsd,
        unpriced_calls: t.unpricedCalls,
        cache_hits: t.cacheHits,
        savings_usd: round(SAVING_LAYERS.reduce((s, l) => s + t.savedUsd[l], 0)),
        share_of_cost_percent: total.costPico > 0n ? pct(Number(t.costPico), Number(total.costPico)) : 0,
      };
    });
    return { total_cost_usd: total.costUsd, total_calls: total.calls, agents: rows };
  }

  async budgetAlert(dailyBudget: number | undefined, monthlyBudget: number | undefined) {
    const now = this.clock.now();
    const settings = await this.budgets.settings();
    const [day, month] = await this.ledger.totalsMany([`day:${utcDay(now)}`, `month:${utcMonth(now)}`]);
    const daily = dailyBudget ?? settings.daily_budget_usd;
    const monthly = monthlyBudget ?? settings.monthly_budget_usd;
    // Budgets that count the fixed costs are held against the LLM cost plus the day's or month's share.
    const fixed = this.budgets.fixedShare(settings, now);
    const daySpent = fromPico(day.costPico + fixed.dayPico);
    const monthSpent = fromPico(month.costPico + fixed.monthPico);
    const dailyPct = daily !== null && daily > 0 ? pct(daySpent, daily) : null;
    const monthlyPct = monthly !== null && monthly > 0 ? pct(monthSpent, monthly) : null;
    const alerts: string[] = [];
    const check = (name: string, spent: number, budget: number | null, usage: number | null): void => {
      if (budget === null || usage === null) return;
      if (usage >= 100)
        alerts.push(`${name} budget exceeded: $${spent.toFixed(6)} of $${budget} (${usage.toFixed(1)}%)`);
      else if (usage >= 80)
        alerts.push(`${name} budget at ${usage.toFixed(1)}%: $${spent.toFixed(6)} of $${budget}`);
    };
    check('Daily', daySpent, daily, dailyPct);
    check('Monthly', monthSpent, monthly, monthlyPct);
    const worst = Math.max(dailyPct ?? 0, monthlyPct ?? 0);
    return {
      daily_cost_usd: day.costUsd,
      monthly_cost_usd: month.costUsd,
      ...(settings.include_fixed_costs
        ? { daily_fixed_cost_usd: fromPico(fixed.dayPico), monthly_fixed_cost_usd: fromPico(fixed.monthPico) }
        : {}),
      daily_budget: daily,
      monthly_budget: monthly,
      daily_usage_percent: dailyPct,
      monthly_usage_percent: monthlyPct,
      unpriced_calls_today: day.unpricedCalls,
      status:
        daily === null && monthly === null
          ? 'no_budget'
          : worst >= 100
            ? 'exceeded'
            : worst >= 80
              ? 'warning'
              : 'ok',
      enforcement: settings.enforcement,
      alerts,
    };
  }
}

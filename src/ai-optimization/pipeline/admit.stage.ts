import { Injectable } from '@nestjs/common';
import { toPico } from '../../common/money.js';
import type { ReservationPlan } from '../../redis/repositories/conversation.repository.js';
import {
  BudgetService,
  type BudgetSettings,
  type BudgetWindow,
} from '../../cost-monitoring/budget.service.js';
import { PriceBook } from '../pricing.js';
import type { ResolvedModel } from '../providers/provider-registry.js';
import type { MeteredCall } from './metered-call.js';

export interface AdmitPlan {
  reservation: ReservationPlan;
  windows: BudgetWindow[];
  settings: BudgetSettings;
}

/**
 * Stage 3, admit: the budget reservation — an upper-bound estimate (every prompt token uncached plus
 * `max_tokens` of output at the primary model's rates) reserved on every window the call counts in, by the
 * pre-call step in one atomic check-and-add. Under any concurrency a hard budget is overshot by at most one
 * reservation. Counters are kept whatever the enforcement, so they always show the spend.
 */
@Injectable()
export class AdmitStage {
  constructor(
    private readonly budgets: BudgetService,
    private readonly prices: PriceBook,
  ) {}

  plan(
    call: MeteredCall,
    primary: ResolvedModel,
    promptTokens: number,
    requestId: string,
    now: number,
  ): AdmitPlan {
    const settings = this.budgets.current();
    const windows = this.budgets.windows(settings, call.agent, now);
    const limits = this.budgets.limitsPico(settings, windows, call.critical);
    const estimate = this.prices.estimate(
      this.prices.rates(primary.entry, primary.upstreamModel, new Date(now)),
      promptTokens,
      call.maxTokens,
    );
    // An unpriced model cannot be held to a money budget: it is reserved at 0 (the price book says so once).
    const amountPico = estimate === null ? 0n : toPico(estimate);
    return {
      settings,
      windows,
      reservation: {
        requestId,
        amountPico,
        counters: windows.map((w, i) => ({ key: w.counter, limitPico: limits[i] })),
      },
    };
  }

  refusal(plan: AdmitPlan, counter: number): string {
    const w = plan.windows[counter];
    const window = w.label.includes(' of agent ')
      ? `${w.label} ($${w.budgetUsd})`
      : `${w.label} of $${w.budgetUsd}`;
    return `The ${window} would be exceeded by this call (enforcement: hard)`;
  }

  /**
   * Redis did not answer the pre-call step: a hard budget cannot be checked and fails closed (message), soft
   * and off fail open (null) — the call is charged to the counters when Redis is back.
   */
  whenStoreDown(plan: AdmitPlan): string | null {
    return plan.settings.enforcement === 'hard'
      ? 'The budget store (Redis) is unreachable and the budget is hard: the call is refused'
      : null;
  }
}

import { Injectable } from '@nestjs/common';
import { toPico } from '../../common/money.js';
import { BudgetRepository } from '../../redis/repositories/budget.repository.js';
import { PriceBook, type Priced } from '../pricing.js';
import type { ResolvedModel } from '../providers/provider-registry.js';
import { readUsage, type TokenUsage } from '../providers/usage.js';
import type { AdmitPlan } from './admit.stage.js';

export type PricedCall = Priced & { usage: TokenUsage | null };

/**
 * Stage 5, settle: the exact cost from the usage the provider returned (cached prompt tokens at the cache
 * rate, rates at the call's time), which then replaces the call's reservation on the budget counters. A
 * count or price that is unknown stays unknown: the cost is null, never $0, and the reservation (an upper
 * bound) is kept.
 */
@Injectable()
export class SettleStage {
  constructor(
    private readonly prices: PriceBook,
    private readonly budgets: BudgetRepository,
  ) {}

  price(model: ResolvedModel, rawUsage: unknown, now: number): PricedCall {
    const usage = readUsage(rawUsage);
    const rates = this.prices.rates(model.entry, model.upstreamModel, new Date(now));
    return { ...this.prices.price(rates, usage), usage };
  }

  /** The real cost replaces the reservation (null: unknown, keep it); written off the response path. */
  settle(plan: AdmitPlan, costUsd: number | null): void {
    this.budgets.settle({
      requestId: plan.reservation.requestId,
      counters: plan.reservation.counters.map((c) => c.key),
      costPico: costUsd === null ? 'keep' : toPico(costUsd),
    });
  }

  /** The call was not made or failed: the whole reservation goes back. */
  release(plan: AdmitPlan): void {
    this.settle(plan, 0);
  }
}

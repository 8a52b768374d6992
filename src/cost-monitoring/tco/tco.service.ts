import { BadRequestException, Injectable } from '@nestjs/common';
import { fromPico } from '../../common/money.js';
import { Clock, utcMonth } from '../../common/clock.js';
import type { CostCategory } from '../../config/yaml-config.js';
import { CostLedger } from '../cost-ledger.js';
import { FixedCosts } from './fixed-costs.js';

export interface TcoAnswer {
  llm_cost_usd: number;
  fixed_costs: { name: string; category: CostCategory; monthly_usd: number }[];
  fixed_cost_usd: number;
  total_usd: number;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/**
 * The whole bill of a month: the LLM cost from the ledger plus the fixed costs of config/costs.yaml. Money
 * is summed in integer picodollars, like the ledger, so total_usd is llm_cost_usd + fixed_cost_usd to the
 * picodollar; an hourly cost becomes monthly by the month's real number of hours.
 */
@Injectable()
export class TcoService {
  constructor(
    private readonly fixed: FixedCosts,
    private readonly ledger: CostLedger,
    private readonly clock: Clock,
  ) {}

  async month(month: string | undefined): Promise<TcoAnswer> {
    const id = month ?? utcMonth(this.clock.now());
    if (!MONTH.test(id)) throw new BadRequestException(`month must be YYYY-MM, got "${id.slice(0, 20)}"`);
    const lines = this.fixed.lines(id);
    const fixedPico = this.fixed.monthPico(id);
    const llmPico = (await this.ledger.totals(`month:${id}`)).costPico;
    return {
      llm_cost_usd: fromPico(llmPico),
      fixed_costs: lines.map((l) => ({ name: l.name, category: l.category, monthly_usd: fromPico(l.pico) })),
      fixed_cost_usd: fromPico(fixedPico),
      total_usd: fromPico(llmPico + fixedPico),
    };
  }
}

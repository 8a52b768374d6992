import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { fromPico, toPico } from '../../common/money.js';
import { Clock, utcMonth } from '../../common/clock.js';
import type { ConfigType } from '@nestjs/config';
import { COSTS_CONFIG } from '../../config/config.module.js';
import { marketConfig, providersConfig } from '../../config/namespaces.js';
import type { CostCategory, CostSource, CostsConfig, FixedCost } from '../../config/yaml-config.js';
import { CostLedger } from '../cost-ledger.js';

export interface TcoAnswer {
  llm_cost_usd: number;
  fixed_costs: { name: string; category: CostCategory; monthly_usd: number }[];
  fixed_cost_usd: number;
  total_usd: number;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Hours in a UTC month (UTC has no daylight saving): 672, 696, 720 or 744. */
export function hoursInMonth(month: string): number {
  const [year, mm] = month.split('-').map(Number);
  return new Date(Date.UTC(year, mm, 0)).getUTCDate() * 24;
}

/**
 * The whole bill of a month: the LLM cost from the ledger plus the fixed costs of config/costs.yaml. Money
 * is summed in integer picodollars, like the ledger, so total_usd is llm_cost_usd + fixed_cost_usd to the
 * picodollar; an hourly cost becomes monthly by the month's real number of hours.
 */
@Injectable()
export class TcoService {
  constructor(
    @Inject(COSTS_CONFIG) private readonly costs: CostsConfig,
    @Inject(providersConfig.KEY) private readonly providers: ConfigType<typeof providersConfig>,
    @Inject(marketConfig.KEY) private readonly market: ConfigType<typeof marketConfig>,
    private readonly ledger: CostLedger,
    private readonly clock: Clock,
  ) {}

  async month(month: string | undefined): Promise<TcoAnswer> {
    const id = month ?? utcMonth(this.clock.now());
    if (!MONTH.test(id)) throw new BadRequestException(`month must be YYYY-MM, got "${id.slice(0, 20)}"`);
    const hours = BigInt(hoursInMonth(id));
    const lines = this.costs.fixedCosts
      .filter((c) => this.counts(c))
      .map((c) => {
        const pico = c.monthlyUsd !== undefined ? toPico(c.monthlyUsd) : toPico(c.hourlyUsd ?? 0) * hours;
        return { name: c.name, category: c.category, pico };
      });
    const fixedPico = lines.reduce((sum, l) => sum + l.pico, 0n);
    const llmPico = (await this.ledger.totals(`month:${id}`)).costPico;
    return {
      llm_cost_usd: fromPico(llmPico),
      fixed_costs: lines.map((l) => ({ name: l.name, category: l.category, monthly_usd: fromPico(l.pico) })),
      fixed_cost_usd: fromPico(fixedPico),
      total_usd: fromPico(llmPico + fixedPico),
    };
  }

  /** An enabled line counts; one that names a source counts only while that source is configured. */
  private counts(c: FixedCost): boolean {
    return c.enabled && (c.source === undefined || this.configured(c.source));
  }

  private configured(source: CostSource): boolean {
    switch (source) {
      case 'vllm':
        return this.providers.vllm !== undefined;
      case 'deepseek':
        return this.providers.deepseek !== undefined;
      case 'openai':
        return this.providers.openai !== undefined;
      case 'coinglass':
        return this.market.coinglass !== undefined;
      case 'whale_alert':
        return this.market.whaleAlert !== undefined;
      case 'helsinki':
        return this.market.helsinkiVmUrl !== undefined;
    }
  }
}

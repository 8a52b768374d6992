import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { toPico } from '../../common/money.js';
import { utcMonth } from '../../common/clock.js';
import { COSTS_CONFIG } from '../../config/config.module.js';
import { marketConfig, providersConfig } from '../../config/namespaces.js';
import type { CostCategory, CostSource, CostsConfig, FixedCost } from '../../config/yaml-config.js';

/** Hours in a UTC month (UTC has no daylight saving): 672, 696, 720 or 744. */
export function hoursInMonth(month: string): number {
  return daysInMonth(month) * 24;
}

function daysInMonth(month: string): number {
  const [year, mm] = month.split('-').map(Number);
  return new Date(Date.UTC(year, mm, 0)).getUTCDate();
}

export interface FixedCostLine {
  name: string;
  category: CostCategory;
  pico: bigint;
}

/**
 * The fixed costs of config/costs.yaml (GPU server, data feeds) in integer picodollars: per line and month (an
 * hourly cost by the month's real number of hours), and a day's share of a month (the month's total spread
 * evenly over its days) for the budgets that count them.
 */
@Injectable()
export class FixedCosts {
  private readonly months = new Map<string, FixedCostLine[]>();

  constructor(
    @Inject(COSTS_CONFIG) private readonly costs: CostsConfig,
    @Inject(providersConfig.KEY) private readonly providers: ConfigType<typeof providersConfig>,
    @Inject(marketConfig.KEY) private readonly market: ConfigType<typeof marketConfig>,
  ) {}

  /** The lines that count in `month` (YYYY-MM), each with its monthly amount. */
  lines(month: string): FixedCostLine[] {
    let lines = this.months.get(month);
    if (!lines) {
      const hours = BigInt(hoursInMonth(month));
      lines = this.costs.fixedCosts
        .filter((c) => this.counts(c))
        .map((c) => ({
          name: c.name,
          category: c.category,
          pico: c.monthlyUsd !== undefined ? toPico(c.monthlyUsd) : toPico(c.hourlyUsd ?? 0) * hours,
        }));
      this.months.set(month, lines);
    }
    return lines;
  }

  monthPico(month: string): bigint {
    return this.lines(month).reduce((sum, l) => sum + l.pico, 0n);
  }

  /** A day's share of the fixed costs of the month `at` falls in. */
  dayPico(at: number): bigint {
    const month = utcMonth(at);
    return this.monthPico(month) / BigInt(daysInMonth(month));
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

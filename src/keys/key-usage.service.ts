import { Injectable } from '@nestjs/common';
import { Clock, utcDay, utcMonth } from '../common/clock.js';
import { fromPico } from '../common/money.js';
import { CostStatsService } from '../cost-monitoring/cost-stats.service.js';
import { BudgetRepository } from '../redis/repositories/budget.repository.js';
import { KeysService } from './keys.service.js';

/** What one managed key has used: the ledger's figures for it, and its spend on its budget counters. */
@Injectable()
export class KeyUsageService {
  constructor(
    private readonly keys: KeysService,
    private readonly stats: CostStatsService,
    private readonly counters: BudgetRepository,
    private readonly clock: Clock,
  ) {}

  async of(id: string) {
    const key = await this.keys.get(id);
    const owner = `key:${key.id}`;
    const now = this.clock.now();
    const [stats, day, month] = await Promise.all([
      this.stats.stats(owner),
      ...[`day:${utcDay(now)}`, `month:${utcMonth(now)}`].map(async (period) =>
        fromPico((await this.counters.spent([this.counters.counter(period, owner)]))[0]),
      ),
    ]);
    return {
      key,
      overall: stats.overall,
      response_cache: stats.response_cache,
      daily_spent_usd: day,
      monthly_spent_usd: month,
    };
  }
}

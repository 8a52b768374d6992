import { Module } from '@nestjs/common';
import { BudgetService } from './budget.service.js';
import { CostController } from './cost.controller.js';
import { CostLedger } from './cost-ledger.js';
import { CostStatsService } from './cost-stats.service.js';
import { EventStatsService } from './event-stats.service.js';

@Module({
  controllers: [CostController],
  providers: [CostLedger, BudgetService, CostStatsService, EventStatsService],
  exports: [CostLedger, BudgetService, CostStatsService, EventStatsService],
})
export class CostMonitoringModule {}

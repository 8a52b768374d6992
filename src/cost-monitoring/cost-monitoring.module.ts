import { Module } from '@nestjs/common';
import { BudgetService } from './budget.service.js';
import { CostController } from './cost.controller.js';
import { CostLedger } from './cost-ledger.js';
import { CostStatsService } from './cost-stats.service.js';
import { EventStatsService } from './event-stats.service.js';
import { MetricsController } from './metrics.controller.js';
import { DashboardController } from './dashboard/dashboard.controller.js';
import { METRICS_MAX_TENANTS, MetricsService } from './metrics.service.js';
import { serverConfig, type ServerConfig } from '../config/namespaces.js';
import { BudgetAlertsService, budgetCheckSchedule } from './alerts/budget-alerts.service.js';
import { Notifiers } from './alerts/notifiers.js';
import { TcoController } from './tco/tco.controller.js';
import { TcoService } from './tco/tco.service.js';
import { FixedCosts } from './tco/fixed-costs.js';
import { AlertRepository } from '../redis/repositories/alert.repository.js';

@Module({
  controllers: [CostController, MetricsController, DashboardController, TcoController],
  providers: [
    CostLedger,
    BudgetService,
    CostStatsService,
    EventStatsService,
    MetricsService,
    {
      provide: METRICS_MAX_TENANTS,
      inject: [serverConfig.KEY],
      useFactory: (server: ServerConfig): number => server.metricsMaxTenants,
    },
    Notifiers,
    AlertRepository,
    BudgetAlertsService,
    TcoService,
    FixedCosts,
    budgetCheckSchedule,
  ],
  exports: [
    Notifiers,
    CostLedger,
    BudgetService,
    CostStatsService,
    EventStatsService,
    MetricsService,
    BudgetAlertsService,
  ],
})
export class CostMonitoringModule {}

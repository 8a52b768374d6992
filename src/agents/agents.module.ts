import { Module } from '@nestjs/common';
import { AiOptimizationModule } from '../ai-optimization/ai-optimization.module.js';
import { CostMonitoringModule } from '../cost-monitoring/cost-monitoring.module.js';
import { MarketDataModule } from '../market-data/market-data.module.js';
import { AgentSettingsRepository } from '../redis/repositories/agent-settings.repository.js';
import { AnomalyScanRepository } from '../redis/repositories/anomaly-scan.repository.js';
import { TelemetryRepository } from '../redis/repositories/telemetry.repository.js';
import { AgentAi } from './agent-ai.js';
import { AnomalyDetectorController } from './anomaly-detector/anomaly-detector.controller.js';
import { AnomalyDetectorService } from './anomaly-detector/anomaly-detector.service.js';
import { AnomalyScanService } from './anomaly-detector/anomaly-scan.service.js';
import { TelemetryController } from './bot-telemetry/telemetry.controller.js';
import { TelemetryService } from './bot-telemetry/telemetry.service.js';
import { BastionQueryController } from './bastion-query/bastion-query.controller.js';
import { BastionQueryService } from './bastion-query/bastion-query.service.js';
import { PortfolioOptimizerController } from './portfolio-optimizer/portfolio-optimizer.controller.js';
import { PortfolioOptimizerService } from './portfolio-optimizer/portfolio-optimizer.service.js';
import { MarketRegimeController } from './market-regime/market-regime.controller.js';
import { MarketRegimeService } from './market-regime/market-regime.service.js';
import { AgentSettingsController } from './settings/agent-settings.controller.js';
import { AgentSettingsService } from './settings/agent-settings.service.js';
import { SignalValidatorController } from './signal-validator/signal-validator.controller.js';
import { SignalValidatorService } from './signal-validator/signal-validator.service.js';

/** The analysis agents: deterministic quant cores, AI enhancement only through the gateway (AgentAi). */
@Module({
  imports: [AiOptimizationModule, MarketDataModule, CostMonitoringModule],
  controllers: [
    MarketRegimeController,
    SignalValidatorController,
    TelemetryController,
    AnomalyDetectorController,
    BastionQueryController,
    PortfolioOptimizerController,
    AgentSettingsController,
  ],
  providers: [
    AgentAi,
    AgentSettingsRepository,
    AgentSettingsService,
    TelemetryRepository,
    AnomalyScanRepository,
    MarketRegimeService,
    SignalValidatorService,
    TelemetryService,
    AnomalyDetectorService,
    AnomalyScanService,
    BastionQueryService,
    PortfolioOptimizerService,
  ],
})
export class AgentsModule {}

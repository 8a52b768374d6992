import { Module } from '@nestjs/common';
import { AiOptimizationModule } from '../ai-optimization/ai-optimization.module.js';
import { MarketDataModule } from '../market-data/market-data.module.js';
import { AnomalyDetectorController } from './anomaly-detector/anomaly-detector.controller.js';
import { AnomalyDetectorService } from './anomaly-detector/anomaly-detector.service.js';
import { TelemetryController } from './bot-telemetry/telemetry.controller.js';
import { TelemetryService } from './bot-telemetry/telemetry.service.js';
import { BastionQueryController } from './bastion-query/bastion-query.controller.js';
import { BastionQueryService } from './bastion-query/bastion-query.service.js';
import { PortfolioOptimizerController } from './portfolio-optimizer/portfolio-optimizer.controller.js';
import { PortfolioOptimizerService } from './portfolio-optimizer/portfolio-optimizer.service.js';
import { MarketRegimeController } from './market-regime/market-regime.controller.js';
import { MarketRegimeService } from './market-regime/market-regime.service.js';
import { SignalValidatorController } from './signal-validator/signal-validator.controller.js';
import { SignalValidatorService } from './signal-validator/signal-validator.service.js';

/** The analysis agents: deterministic quant cores, AI enhancement only through the gateway. */
@Module({
  imports: [AiOptimizationModule, MarketDataModule],
  controllers: [
    MarketRegimeController,
    SignalValidatorController,
    TelemetryController,
    AnomalyDetectorController,
    BastionQueryController,
    PortfolioOptimizerController,
  ],
  providers: [
    MarketRegimeService,
    SignalValidatorService,
    TelemetryService,
    AnomalyDetectorService,
    BastionQueryService,
    PortfolioOptimizerService,
  ],
})
export class AgentsModule {}

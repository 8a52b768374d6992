import { Module } from '@nestjs/common';
import { AiOptimizationModule } from '../ai-optimization/ai-optimization.module.js';
import { MarketDataModule } from '../market-data/market-data.module.js';
import { MarketRegimeController } from './market-regime/market-regime.controller.js';
import { MarketRegimeService } from './market-regime/market-regime.service.js';
import { SignalValidatorController } from './signal-validator/signal-validator.controller.js';
import { SignalValidatorService } from './signal-validator/signal-validator.service.js';

/** The analysis agents: deterministic quant cores, AI enhancement only through the gateway. */
@Module({
  imports: [AiOptimizationModule, MarketDataModule],
  controllers: [MarketRegimeController, SignalValidatorController],
  providers: [MarketRegimeService, SignalValidatorService],
})
export class AgentsModule {}

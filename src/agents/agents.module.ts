import { Module } from '@nestjs/common';
import { AiOptimizationModule } from '../ai-optimization/ai-optimization.module.js';
import { MarketDataModule } from '../market-data/market-data.module.js';

/** The four analysis agents and the market query endpoint arrive with issue #5. */
@Module({ imports: [AiOptimizationModule, MarketDataModule] })
export class AgentsModule {}

import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AiOptimizationModule } from '../ai-optimization/ai-optimization.module.js';
import { HealthController } from './health.controller.js';
import { MarketDataModule } from '../market-data/market-data.module.js';
import { RedisHealthIndicator } from './redis.health.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), AiOptimizationModule, MarketDataModule],
  controllers: [HealthController],
  providers: [RedisHealthIndicator],
})
export class HealthModule {}

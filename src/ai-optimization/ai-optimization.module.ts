import { Module } from '@nestjs/common';
import { CostMonitoringModule } from '../cost-monitoring/cost-monitoring.module.js';
import { AiController } from './ai.controller.js';
import { Coalescer } from './coalescer.js';
import { AiGateway } from './gateway.service.js';
import { genaiPriceLookup, PRICE_LOOKUP, PriceBook } from './pricing.js';
import { PromptStore } from './prompt-store.js';
import { ProviderRegistry } from './providers/provider-registry.js';
import { UpstreamCaller } from './providers/upstream-caller.js';
import { ResponseCache } from './response-cache.js';

@Module({
  imports: [CostMonitoringModule],
  controllers: [AiController],
  providers: [
    { provide: PRICE_LOOKUP, useValue: genaiPriceLookup },
    PriceBook,
    ProviderRegistry,
    UpstreamCaller,
    ResponseCache,
    Coalescer,
    PromptStore,
    AiGateway,
  ],
  exports: [AiGateway, PromptStore, ProviderRegistry, PriceBook],
})
export class AiOptimizationModule {}

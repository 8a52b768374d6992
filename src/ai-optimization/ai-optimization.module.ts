import { Module } from '@nestjs/common';
import { CostMonitoringModule } from '../cost-monitoring/cost-monitoring.module.js';
import { AiController } from './ai.controller.js';
import { EventsController } from './events.controller.js';
import { OpenAiCompatController } from './openai-compat/openai-compat.controller.js';
import { OpenAiCompatService } from './openai-compat/openai-compat.service.js';
import { BatchFlusher } from './events/batch-flusher.service.js';
import { BatchQueue } from './events/batch-queue.service.js';
import { EventGate } from './events/event-gate.service.js';
import { EventThresholdsService } from './events/event-thresholds.service.js';
import { RuntimeSettingsController } from './runtime-settings.controller.js';
import { SamplingService } from './sampling/sampling.service.js';
import { Coalescer } from './coalescer.js';
import { AiGateway } from './gateway.service.js';
import { genaiPriceLookup, PRICE_LOOKUP, PriceBook } from './pricing.js';
import { PromptStore } from './prompt-store.js';
import { ProviderRegistry } from './providers/provider-registry.js';
import { UpstreamCaller } from './providers/upstream-caller.js';
import { ResponseCache } from './response-cache.js';

@Module({
  imports: [CostMonitoringModule],
  controllers: [AiController, EventsController, RuntimeSettingsController, OpenAiCompatController],
  providers: [
    { provide: PRICE_LOOKUP, useValue: genaiPriceLookup },
    PriceBook,
    ProviderRegistry,
    UpstreamCaller,
    ResponseCache,
    Coalescer,
    PromptStore,
    AiGateway,
    SamplingService,
    EventThresholdsService,
    BatchQueue,
    BatchFlusher,
    EventGate,
    OpenAiCompatService,
  ],
  exports: [AiGateway, PromptStore, ProviderRegistry, PriceBook, SamplingService, EventGate, BatchFlusher],
})
export class AiOptimizationModule {}

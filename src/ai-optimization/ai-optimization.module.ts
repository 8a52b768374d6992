import { Module } from '@nestjs/common';
import { CostMonitoringModule } from '../cost-monitoring/cost-monitoring.module.js';
import { AiController } from './ai.controller.js';
import { EventsController } from './events.controller.js';
import { OpenAiCompatController } from './openai-compat/openai-compat.controller.js';
import { BatchFlusher } from './events/batch-flusher.service.js';
import { BatchQueue } from './events/batch-queue.service.js';
import { EventGate } from './events/event-gate.service.js';
import { EventThresholdsService } from './events/event-thresholds.service.js';
import { RuntimeSettingsController } from './runtime-settings.controller.js';
import { SamplingService } from './sampling/sampling.service.js';
import { Coalescer } from './coalescer.js';
import { AiGateway } from './gateway.service.js';
import { AdmitStage } from './pipeline/admit.stage.js';
import { CallStage } from './pipeline/call.stage.js';
import { GateStage } from './pipeline/gate.stage.js';
import { MeteredCallPipeline } from './pipeline/pipeline.js';
import { RecordStage } from './pipeline/record.stage.js';
import { ScreenStage } from './pipeline/screen.stage.js';
import { SettleStage } from './pipeline/settle.stage.js';
import { genaiPriceLookup, PRICE_LOOKUP, PriceBook } from './pricing.js';
import { PromptStore } from './prompt-store.js';
import { ProviderRegistry } from './providers/provider-registry.js';
import { TransportActivity } from './providers/transport-activity.js';
import { UpstreamCaller } from './providers/upstream-caller.js';

@Module({
  imports: [CostMonitoringModule],
  controllers: [AiController, EventsController, RuntimeSettingsController, OpenAiCompatController],
  providers: [
    { provide: PRICE_LOOKUP, useValue: genaiPriceLookup },
    PriceBook,
    ProviderRegistry,
    TransportActivity,
    UpstreamCaller,
    Coalescer,
    PromptStore,
    SamplingService,
    EventThresholdsService,
    ScreenStage,
    GateStage,
    AdmitStage,
    CallStage,
    SettleStage,
    RecordStage,
    MeteredCallPipeline,
    AiGateway,
    BatchQueue,
    BatchFlusher,
    EventGate,
  ],
  exports: [AiGateway, PromptStore, ProviderRegistry, PriceBook, SamplingService, EventGate, BatchFlusher],
})
export class AiOptimizationModule {}

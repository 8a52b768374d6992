import { Global, Injectable, Module } from '@nestjs/common';
import {
  MARKET_EVENT_SINK,
  type MarketEventNotice,
  type MarketEventSink,
  type MarketEventType,
} from '../../common/market-events.js';
import { AiOptimizationModule } from '../ai-optimization.module.js';
import type { GatewayRequest } from '../gateway.types.js';
import { EventGate } from './event-gate.service.js';

/** Which agent asks about a kind of market event, and how: the AI layer's choice, not market data's. */
interface Ask {
  agentType: string;
  responseType: string;
  maxTokens: number;
}

const ASKS: Partial<Record<MarketEventType, Ask>> = {
  WHALE_TRANSACTION: { agentType: 'whale_watcher', responseType: 'whale_alert', maxTokens: 256 },
};

const askFor = (type: MarketEventType): Ask =>
  ASKS[type] ?? { agentType: 'market_events', responseType: type.toLowerCase(), maxTokens: 256 };

/**
 * Market events raised by market data (the Whale Alert stream) go through the event gate like any event
 * posted to `/ai/events`: the gate decides whether the question is worth a model call.
 */
@Injectable()
export class EventGateSink implements MarketEventSink {
  constructor(private readonly gate: EventGate) {}

  async raise(event: MarketEventNotice): Promise<void> {
    const ask = askFor(event.eventType);
    const request: GatewayRequest = {
      agentType: ask.agentType,
      prompt: event.question,
      responseType: ask.responseType,
      symbol: event.symbol,
      maxTokens: ask.maxTokens,
      temperature: 0,
      json: false,
      cache: true,
    };
    await this.gate.handle(request, {
      symbol: event.symbol,
      eventType: event.eventType,
      priority: event.priority,
      data: event.data,
      timestamp: event.timestamp,
    });
  }
}

/**
 * Makes the sink injectable everywhere (imported once by AppModule), so MarketDataModule gets it without
 * importing anything from the AI layer.
 */
@Global()
@Module({
  imports: [AiOptimizationModule],
  providers: [{ provide: MARKET_EVENT_SINK, useClass: EventGateSink }],
  exports: [MARKET_EVENT_SINK],
})
export class MarketEventSinkModule {}

/**
 * How market data tells the rest of Bastion that something happened in the market, without knowing who
 * listens: the Whale Alert stream raises events here, and the AI layer (the event gate) is what receives
 * them. Market data depends on this file only, never on the AI layer.
 */

/** The kinds of market event Bastion reacts to (the same words the `/ai/events` route accepts). */
export type MarketEventType =
  | 'PRICE_CHANGE'
  | 'PRICE_UPDATE'
  | 'VOLUME_SPIKE'
  | 'VOLATILITY_SPIKE'
  | 'LIQUIDATION'
  | 'WHALE_TRANSACTION'
  | 'FUNDING_RATE'
  | 'SIGNAL'
  | 'ANOMALY';

export type MarketEventPriority = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

/** One market event in market terms, with the question a model should answer about it. */
export interface MarketEventNotice {
  /** Base asset, upper case (`BTC`). */
  symbol: string;
  eventType: MarketEventType;
  priority: MarketEventPriority;
  /** The figures behind the event (values, parties, chain), shown to whoever decides on it. */
  data: Record<string, unknown>;
  /** Epoch milliseconds. */
  timestamp: number;
  /** The question to put to a model if the event is worth one. */
  question: string;
}

/** Receives market events. Resolves once the event was handled; rejects when it could not be. */
export interface MarketEventSink {
  raise(event: MarketEventNotice): Promise<void>;
}

/** Injection token of the MarketEventSink; the AI layer provides it globally. */
export const MARKET_EVENT_SINK = Symbol('MARKET_EVENT_SINK');

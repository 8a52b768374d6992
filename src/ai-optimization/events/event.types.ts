export const EVENT_TYPES = [
  'PRICE_CHANGE',
  'PRICE_UPDATE',
  'VOLUME_SPIKE',
  'VOLATILITY_SPIKE',
  'LIQUIDATION',
  'WHALE_TRANSACTION',
  'FUNDING_RATE',
  'SIGNAL',
  'ANOMALY',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Lowest first, so a priority's index is its rank. */
export const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface MarketEvent {
  symbol: string;
  eventType: EventType;
  priority: Priority;
  data: Record<string, unknown>;
  timestamp: number;
}

/** Runtime-tunable thresholds of the event gate (GET|POST /ai-cost/event-thresholds), kept in Redis. */
export interface EventThresholds {
  price_change_pct: number;
  volume_spike_multiplier: number;
  volatility_threshold: number;
  min_ai_interval: number;
  batch_size: number;
  batch_timeout: number;
}

export const DEFAULT_EVENT_THRESHOLDS: EventThresholds = {
  price_change_pct: 2.0,
  volume_spike_multiplier: 3.0,
  volatility_threshold: 1.5,
  min_ai_interval: 60,
  batch_size: 10,
  batch_timeout: 300,
};

/** Allowed range of each threshold: [min, max, integer?]. */
export const THRESHOLD_RANGES: Record<keyof EventThresholds, [number, number, boolean]> = {
  price_change_pct: [0.01, 100, false],
  volume_spike_multiplier: [1, 1000, false],
  volatility_threshold: [0.01, 100, false],
  min_ai_interval: [0, 86_400, true],
  batch_size: [1, 1000, true],
  batch_timeout: [1, 86_400, true],
};

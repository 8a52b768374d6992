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

/** How the gate ranks a move: fixed thresholds, or against the symbol's own recent behaviour. */
export const PRIORITY_MODES = ['static', 'adaptive'] as const;
export type PriorityMode = (typeof PRIORITY_MODES)[number];
/** Whose recent behaviour a move is ranked against in adaptive mode: its own symbol's, or all symbols'. */
export const ADAPTIVE_SCOPES = ['symbol', 'global'] as const;
export type AdaptiveScope = (typeof ADAPTIVE_SCOPES)[number];

/** Runtime-tunable thresholds of the event gate (GET|POST /ai-cost/event-thresholds), kept in Redis. */
export interface EventThresholds {
  price_change_pct: number;
  volume_spike_multiplier: number;
  volatility_threshold: number;
  min_ai_interval: number;
  batch_size: number;
  batch_timeout: number;
  /** `static`: the three thresholds above; `adaptive`: percentiles of a rolling window (below). */
  priority_mode: PriorityMode;
  adaptive_scope: AdaptiveScope;
  /** Observations kept per window (720 = 30 days of 1h bars). */
  adaptive_window: number;
  /** Observations a window needs before adaptive ranking applies; until then the static rules do. */
  adaptive_min_history: number;
  /** Percentile rank (0–100) of |return| or range that makes an event MEDIUM, HIGH, CRITICAL. */
  adaptive_medium_pct: number;
  adaptive_high_pct: number;
  adaptive_critical_pct: number;
}

export const DEFAULT_EVENT_THRESHOLDS: EventThresholds = {
  price_change_pct: 2.0,
  volume_spike_multiplier: 3.0,
  volatility_threshold: 1.5,
  min_ai_interval: 60,
  batch_size: 10,
  batch_timeout: 300,
  priority_mode: 'static',
  adaptive_scope: 'symbol',
  adaptive_window: 720,
  adaptive_min_history: 240,
  adaptive_medium_pct: 97,
  adaptive_high_pct: 98.5,
  adaptive_critical_pct: 99.5,
};

type NumericThreshold = {
  [K in keyof EventThresholds]: EventThresholds[K] extends number ? K : never;
}[keyof EventThresholds];
type ChoiceThreshold = Exclude<keyof EventThresholds, NumericThreshold>;

/** Allowed range of each numeric threshold: [min, max, integer?]. */
export const THRESHOLD_RANGES: Record<NumericThreshold, [number, number, boolean]> = {
  price_change_pct: [0.01, 100, false],
  volume_spike_multiplier: [1, 1000, false],
  volatility_threshold: [0.01, 100, false],
  min_ai_interval: [0, 86_400, true],
  batch_size: [1, 1000, true],
  batch_timeout: [1, 86_400, true],
  adaptive_window: [20, 10_000, true],
  adaptive_min_history: [10, 10_000, true],
  adaptive_medium_pct: [50, 100, false],
  adaptive_high_pct: [50, 100, false],
  adaptive_critical_pct: [50, 100, false],
};

/** Allowed values of each threshold that is a choice. */
export const THRESHOLD_CHOICES: Record<ChoiceThreshold, readonly string[]> = {
  priority_mode: PRIORITY_MODES,
  adaptive_scope: ADAPTIVE_SCOPES,
};

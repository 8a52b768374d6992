/**
 * Pure anomaly rules over one bot's telemetry window. Every verdict, severity and recommended action is
 * decided here, by rules a risk desk can audit; a model may later explain an anomaly but never decides one.
 * No I/O, no clock: `now` is an argument so the rules are testable to the millisecond.
 */
import type { TelemetryWindow } from '../bot-telemetry/telemetry.service.js';
import {
  DEFAULT_AGENT_SETTINGS,
  type AnomalyDetectorSettings,
  type Scale,
  type Severity,
} from '../settings/agent-settings.js';

export type { Severity } from '../settings/agent-settings.js';

export const ANOMALY_TYPES = [
  'latency',
  'error_rate',
  'loss_streak',
  'drawdown',
  'stale_heartbeat',
  'drift',
] as const;
export type AnomalyType = (typeof ANOMALY_TYPES)[number];

export const RECOMMENDED_ACTIONS = [
  'reduce_order_rate',
  'circuit_breaker',
  'pause_trading',
  'kill_switch',
  'restart_bot',
  'investigate',
] as const;
export type RecommendedAction = (typeof RECOMMENDED_ACTIONS)[number];

export type DriftMetric = 'latency_ms' | 'slippage_bps' | 'pnl';

export interface Anomaly {
  anomaly_type: AnomalyType;
  severity: Severity;
  value: number;
  threshold: number;
  description: string;
  /** Decided by these rules; a model may explain an anomaly, never decide what to do about it. */
  recommended_action: RecommendedAction;
  /** The series a drift anomaly is about (drift only). */
  metric?: DriftMetric;
}

export interface AnomalyLimits {
  /** Median order latency above this is an anomaly. */
  latency_limit_ms: number;
  /** Fewer orders than this say nothing about latency (one slow order is not a trend). */
  min_orders: number;
  /** errors / (orders + errors) above this is an anomaly. */
  error_rate_limit: number;
  /** Fewer attempts than this make a rate meaningless (1 error in 1 attempt is not "100%"). */
  min_attempts: number;
  /** This many consecutive losing trades or more is an anomaly (freqtrade's StoplossGuard idea). */
  loss_streak_limit: number;
  /** Absolute drawdown limit in USD, used when the equity is unknown. */
  drawdown_limit_usd: number;
  /** Drawdown limit as a fraction of equity, used when `equity_usd` is known (Hummingbot's kill switch, −5%). */
  drawdown_limit_fraction: number;
  equity_usd?: number;
  /** Silence of this many declared intervals makes a bot stale. */
  stale_heartbeat_factor: number;
  /** The interval assumed for a bot that never declared one. */
  default_heartbeat_interval_seconds: number;
  /** |modified z| above this is drift (Iglewicz & Hoaglin's 3.5). */
  robust_z_limit: number;
  /** The newest values compared (by their median) with the rest of the window. */
  drift_recent: number;
  /** The minimum baseline (window minus the newest values) for a z-score to be meaningful. */
  drift_min_baseline: number;
  /** Ratio-to-limit boundaries of medium, high and critical per rule. */
  scales: Readonly<Record<AnomalyType, Readonly<Scale>>>;
}

/** The rules' limits from the agent's settings (the seed's anomaly_thresholds, percents as fractions). */
export function limitsFrom(s: AnomalyDetectorSettings): AnomalyLimits {
  const t = s.anomaly_thresholds;
  return {
    latency_limit_ms: t.latency_ms,
    min_orders: t.min_orders,
    error_rate_limit: t.error_rate_percent / 100,
    min_attempts: t.min_attempts,
    loss_streak_limit: t.loss_streak,
    drawdown_limit_usd: t.drawdown_usd,
    drawdown_limit_fraction: t.drawdown_percent / 100,
    stale_heartbeat_factor: t.heartbeat_missed_intervals,
    default_heartbeat_interval_seconds: t.default_heartbeat_interval_seconds,
    robust_z_limit: t.drift_z,
    drift_recent: t.drift_recent,
    drift_min_baseline: t.drift_min_baseline,
    scales: s.severity_scales,
  };
}

export const DEFAULT_LIMITS: Readonly<AnomalyLimits> = limitsFrom(DEFAULT_AGENT_SETTINGS.anomaly_detector);

/**
 * Severity scales per rule by default. Latency follows the brief (×1.1, ×1.3, ×1.6 of the limit). An error
 * rate is noisier, so it needs a wider margin; a stale bot is at least medium (it may be dead), critical at ten
 * intervals of silence; a drawdown is critical (kill switch) at twice its limit.
 */
export const SEVERITY_SCALES: Readonly<Record<AnomalyType, Readonly<Scale>>> = DEFAULT_LIMITS.scales;

export function severityOf(ratio: number, scale: Readonly<Scale> = SEVERITY_SCALES.latency): Severity {
  if (ratio >= scale[2]) return 'critical';
  if (ratio >= scale[1]) return 'high';
  if (ratio >= scale[0]) return 'medium';
  return 'low';
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Modified z-score of `x` against `sample` (Iglewicz & Hoaglin): (x − median) / (1.4826 · MAD). When more
 * than half the sample is identical the MAD is 0; then the mean absolute deviation (× 1.2533) scales it.
 * null when the sample has no spread at all: there is nothing to measure a deviation against.
 */
export function robustZ(x: number, sample: readonly number[]): number | null {
  if (sample.length === 0) return null;
  const med = median(sample);
  const deviations = sample.map((v) => Math.abs(v - med));
  const mad = median(deviations);
  if (mad > 0) return (x - med) / (1.4826 * mad);
  const meanAd = deviations.reduce((a, b) => a + b, 0) / deviations.length;
  return meanAd > 0 ? (x - med) / (1.253314 * meanAd) : null;
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const byTime = <T extends { at: number }>(xs: readonly T[]): T[] => [...xs].sort((a, b) => a.at - b.at);

export function detectLatency(w: TelemetryWindow, l: AnomalyLimits): Anomaly | null {
  if (w.orders.length < l.min_orders) return null;
  // The median, not the mean: one order stuck in a retry must not look like a slow venue.
  const med = median(w.orders.map((o) => o.latency_ms));
  if (med <= l.latency_limit_ms) return null;
  return {
    anomaly_type: 'latency',
    severity: severityOf(med / l.latency_limit_ms, l.scales.latency),
    value: round(med),
    threshold: l.latency_limit_ms,
    description: `Median order latency ${Math.round(med)} ms over ${w.orders.length} orders exceeds ${l.latency_limit_ms} ms`,
    recommended_action: 'reduce_order_rate',
  };
}

export function detectErrorRate(w: TelemetryWindow, l: AnomalyLimits): Anomaly | null {
  const attempts = w.orders.length + w.errors.length;
  if (attempts < l.min_attempts) return null;
  const rate = w.errors.length / attempts;
  if (rate <= l.error_rate_limit) return null;
  return {
    anomaly_type: 'error_rate',
    severity: severityOf(rate / l.error_rate_limit, l.scales.error_rate),
    value: round(rate, 4),
    threshold: l.error_rate_limit,
    description: `${w.errors.length} errors in ${attempts} order attempts (${(rate * 100).toFixed(1)}%) exceed ${l.error_rate_limit * 100}%`,
    recommended_action: 'circuit_breaker',
  };
}

/** The longest run of losing trades in the window (an ended streak still counts, as in freqtrade's guard). */
export function detectLossStreak(w: TelemetryWindow, l: AnomalyLimits): Anomaly | null {
  let longest = 0;
  let run = 0;
  for (const t of byTime(w.trades)) {
    run = t.pnl < 0 ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  if (longest < l.loss_streak_limit) return null;
  const ongoing = run === longest;
  return {
    anomaly_type: 'loss_streak',
    severity: severityOf(longest / l.loss_streak_limit, l.scales.loss_streak),
    value: longest,
    threshold: l.loss_streak_limit,
    description: `${longest} losing trades in a row${ongoing ? ' (ongoing)' : ''}; the limit is ${l.loss_streak_limit}`,
    recommended_action: 'pause_trading',
  };
}

/** Peak-to-trough of cumulative PnL, starting from the window's opening equity (a loss from the start counts). */
export function detectDrawdown(w: TelemetryWindow, l: AnomalyLimits): Anomaly | null {
  let equity = 0;
  let peak = 0;
  let drawdown = 0;
  for (const t of byTime(w.trades)) {
    equity += t.pnl;
    peak = Math.max(peak, equity);
    drawdown = Math.max(drawdown, peak - equity);
  }
  const relative = l.equity_usd !== undefined && l.equity_usd > 0;
  const limit = relative ? l.drawdown_limit_fraction * (l.equity_usd as number) : l.drawdown_limit_usd;
  if (drawdown <= limit) return null;
  const severity = severityOf(drawdown / limit, l.scales.drawdown);
  return {
    anomaly_type: 'drawdown',
    severity,
    value: round(drawdown),
    threshold: round(limit),
    description: relative
      ? `Drawdown of $${drawdown.toFixed(2)} (${((drawdown / (l.equity_usd as number)) * 100).toFixed(2)}% of equity) exceeds ${(l.drawdown_limit_fraction * 100).toFixed(2)}%`
      : `Drawdown of $${drawdown.toFixed(2)} in the window exceeds $${limit.toFixed(2)}`,
    // The kill decision is a rule (Hummingbot's kill switch), taken only at the critical level.
    recommended_action: severity === 'critical' ? 'kill_switch' : 'pause_trading',
  };
}

/** Heartbeats are not windowed: a bot that went silent before the window opened is the stalest of all. */
export function detectStaleHeartbeat(w: TelemetryWindow, now: number, l: AnomalyLimits): Anomaly | null {
  if (w.last_heartbeat_ms === null) return null;
  const interval = w.heartbeat_interval_seconds ?? l.default_heartbeat_interval_seconds;
  const limit = l.stale_heartbeat_factor * interval;
  const silent = (now - w.last_heartbeat_ms) / 1000;
  if (silent < limit) return null;
  return {
    anomaly_type: 'stale_heartbeat',
    severity: severityOf(silent / limit, l.scales.stale_heartbeat),
    value: Math.round(silent),
    threshold: limit,
    description: `No heartbeat for ${Math.round(silent)} s; the bot declared one every ${interval} s`,
    recommended_action: 'restart_bot',
  };
}

/**
 * Drift of one series: the median of its newest `drift_recent` values against the rest of the window,
 * as a modified z-score. Comparing the median of several newest values, not the last one alone, keeps a
 * single outlier from being reported as drift.
 */
export function detectDrift(
  metric: DriftMetric,
  series: readonly number[],
  l: AnomalyLimits,
): Anomaly | null {
  if (series.length < l.drift_min_baseline + l.drift_recent) return null;
  const recent = series.slice(-l.drift_recent);
  const baseline = series.slice(0, -l.drift_recent);
  const latest = median(recent);
  const z = robustZ(latest, baseline);
  if (z === null || Math.abs(z) <= l.robust_z_limit) return null;
  const names: Record<DriftMetric, string> = {
    latency_ms: 'order latency (ms)',
    slippage_bps: 'slippage (bps)',
    pnl: 'PnL per trade (USD)',
  };
  return {
    anomaly_type: 'drift',
    metric,
    severity: severityOf(Math.abs(z) / l.robust_z_limit, l.scales.drift),
    value: round(z),
    threshold: l.robust_z_limit,
    description: `Recent ${names[metric]} ${round(latest)} vs window median ${round(median(baseline))}: robust z ${z.toFixed(1)}`,
    recommended_action: 'investigate',
  };
}

export function detectAnomalies(
  w: TelemetryWindow,
  now: number,
  limits: Partial<AnomalyLimits> = {},
): Anomaly[] {
  const l: AnomalyLimits = { ...DEFAULT_LIMITS, ...limits };
  const trades = byTime(w.trades);
  const slippage = trades.flatMap((t) => (t.slippage_bps === undefined ? [] : [t.slippage_bps]));
  return [
    detectLatency(w, l),
    detectErrorRate(w, l),
    detectLossStreak(w, l),
    detectDrawdown(w, l),
    detectStaleHeartbeat(w, now, l),
    detectDrift(
      'latency_ms',
      byTime(w.orders).map((o) => o.latency_ms),
      l,
    ),
    detectDrift('slippage_bps', slippage, l),
    detectDrift(
      'pnl',
      trades.map((t) => t.pnl),
      l,
    ),
  ].filter((a): a is Anomaly => a !== null);
}

export const SEVERITY_WEIGHT: Readonly<Record<Severity, number>> = {
  low: 0.25,
  medium: 0.5,
  high: 0.75,
  critical: 1,
};

/**
 * 0–1: the worst anomaly sets the score and each further one adds 0.05, so several concurrent problems
 * rank above one of the same severity. With the THRESHOLD strategy at 0.7, a high or critical anomaly (or
 * a medium one with four companions) is worth a model's explanation; a lone low one is not.
 */
export function anomalyScore(anomalies: readonly Anomaly[]): number {
  if (anomalies.length === 0) return 0;
  const worst = Math.max(...anomalies.map((a) => SEVERITY_WEIGHT[a.severity]));
  return round(Math.min(1, worst + 0.05 * (anomalies.length - 1)), 4);
}

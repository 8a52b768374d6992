import type { TelemetryWindow } from '../bot-telemetry/telemetry.service.js';

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Anomaly {
  anomaly_type: 'latency' | 'error_rate' | 'loss_streak' | 'drawdown' | 'stale_heartbeat' | 'drift';
  severity: Severity;
  value: number;
  threshold: number;
  description: string;
  /** Decided by these rules; a model may explain an anomaly, never decide what to do. */
  recommended_action: string;
}

export const ANOMALY_LIMITS = {
  latency_limit_ms: 5000,
  error_rate_limit: 0.1,
  loss_streak_limit: 5,
  drawdown_limit_usd: 500,
  stale_heartbeat_factor: 2,
  robust_z_limit: 3.5,
} as const;

/** Severity by how far past the limit a value is: ×1.1 medium, ×1.3 high, ×1.6 critical. */
export function severityOf(ratio: number): Severity {
  if (ratio >= 1.6) return 'critical';
  if (ratio >= 1.3) return 'high';
  if (ratio >= 1.1) return 'medium';
  return 'low';
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Robust z-score of `x` against a sample: (x − median) / (1.4826 · MAD). */
export function robustZ(x: number, sample: number[]): number | null {
  if (sample.length < 8) return null;
  const med = median(sample);
  const mad = median(sample.map((v) => Math.abs(v - med)));
  if (mad === 0) return null;
  return (x - med) / (1.4826 * mad);
}

export function detectAnomalies(w: TelemetryWindow, now: number): Anomaly[] {
  const L = ANOMALY_LIMITS;
  const out: Anomaly[] = [];
  const latencies = w.orders.map((o) => o.latency_ms).filter((x): x is number => typeof x === 'number');
  if (latencies.length > 0) {
    const med = median(latencies);
    if (med > L.latency_limit_ms) {
      const severity = severityOf(med / L.latency_limit_ms);
      out.push({
        anomaly_type: 'latency',
        severity,
        value: med,
        threshold: L.latency_limit_ms,
        description: `median order latency ${Math.round(med)} ms over ${latencies.length} orders exceeds ${L.latency_limit_ms} ms`,
        recommended_action: severity === 'critical' ? 'pause_trading' : 'reduce_order_rate',
      });
    }
  }
  const attempts = w.orders.length + w.errors.length;
  if (attempts >= 5) {
    const rate = w.errors.length / attempts;
    if (rate > L.error_rate_limit) {
      const severity = severityOf(rate / L.error_rate_limit);
      out.push({
        anomaly_type: 'error_rate',
        severity,
        value: Number(rate.toFixed(4)),
        threshold: L.error_rate_limit,
        description: `${w.errors.length} errors in ${attempts} order attempts (${(rate * 100).toFixed(1)}%)`,
        recommended_action: 'circuit_breaker',
      });
    }
  }
  const trades = [...w.trades].sort((a, b) => a.at - b.at);
  let streak = 0;
  for (let i = trades.length - 1; i >= 0 && (trades[i].pnl ?? 0) < 0; i--) streak++;
  if (streak > L.loss_streak_limit) {
    const severity = severityOf(streak / L.loss_streak_limit);
    out.push({
      anomaly_type: 'loss_streak',
      severity,
      value: streak,
      threshold: L.loss_streak_limit,
      description: `${streak} losing trades in a row`,
      recommended_action: 'pause_trading',
    });
  }
  let equity = 0;
  let peak = 0;
  let drawdown = 0;
  for (const t of trades) {
    equity += t.pnl ?? 0;
    peak = Math.max(peak, equity);
    drawdown = Math.max(drawdown, peak - equity);
  }
  if (drawdown > L.drawdown_limit_usd) {
    const severity = severityOf(drawdown / L.drawdown_limit_usd);
    out.push({
      anomaly_type: 'drawdown',
      severity,
      value: Number(drawdown.toFixed(2)),
      threshold: L.drawdown_limit_usd,
      description: `peak-to-trough PnL drawdown of $${drawdown.toFixed(2)} in the window`,
      recommended_action: severity === 'critical' ? 'kill_switch' : 'reduce_position_size',
    });
  }
  if (w.lastHeartbeat !== null) {
    const silentSeconds = (now - w.lastHeartbeat) / 1000;
    const limit = L.stale_heartbeat_factor * w.heartbeatIntervalSeconds;
    if (silentSeconds >= limit) {
      out.push({
        anomaly_type: 'stale_heartbeat',
        severity: severityOf(silentSeconds / limit + 0.1),
        value: Math.round(silentSeconds),
        threshold: limit,
        description: `no heartbeat for ${Math.round(silentSeconds)} s (interval ${w.heartbeatIntervalSeconds} s)`,
        recommended_action: 'restart_bot',
      });
    }
  }
  // Drift: the latest value of a series against its own window, robustly.
  const drift: [string, number[]][] = [
    ['order latency', latencies],
    ['slippage', w.trades.map((t) => t.slippage_bps).filter((x): x is number => typeof x === 'number')],
    ['PnL per trade', trades.map((t) => t.pnl ?? 0)],
  ];
  for (const [name, series] of drift) {
    const latest = series.at(-1);
    if (latest === undefined) continue;
    const z = robustZ(latest, series.slice(0, -1));
    if (z !== null && Math.abs(z) > L.robust_z_limit) {
      out.push({
        anomaly_type: 'drift',
        severity: severityOf(Math.abs(z) / L.robust_z_limit),
        value: Number(z.toFixed(2)),
        threshold: L.robust_z_limit,
        description: `latest ${name} is ${z.toFixed(1)} robust standard deviations from the window median`,
        recommended_action: 'investigate',
      });
    }
  }
  return out;
}

/** 0–1: the worst anomaly weighs most (critical 1, high 0.8, medium 0.6, low 0.4). */
export function anomalyScore(anomalies: Anomaly[]): number {
  const weight: Record<Severity, number> = { critical: 1, high: 0.8, medium: 0.6, low: 0.4 };
  return anomalies.reduce((m, a) => Math.max(m, weight[a.severity]), 0);
}

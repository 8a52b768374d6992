import type { TelemetryWindow } from '../bot-telemetry/telemetry.service.js';
import {
  anomalyScore,
  DEFAULT_LIMITS,
  detectAnomalies,
  detectDrift,
  robustZ,
  severityOf,
  type Anomaly,
  type Severity,
} from './detectors.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const MIN = 60_000;
const RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** A healthy bot's last hour: 40 orders ~200 ms, 20 trades alternating small wins and losses, fresh heartbeat. */
function healthy(): TelemetryWindow {
  return {
    orders: Array.from({ length: 40 }, (_, i) => ({
      at: NOW - 60 * MIN + i * MIN,
      latency_ms: 180 + (i % 7) * 10,
    })),
    trades: Array.from({ length: 20 }, (_, i) => ({
      at: NOW - 60 * MIN + i * 2 * MIN,
      pnl: i % 2 ? -3 - (i % 3) : 5 + (i % 4),
      slippage_bps: 2 + (i % 5) * 0.5,
    })),
    errors: [{ at: NOW - 30 * MIN, message: 'timeout' }],
    last_heartbeat_ms: NOW - 30_000,
    heartbeat_interval_seconds: 60,
  };
}

const empty = (): TelemetryWindow => ({
  orders: [],
  trades: [],
  errors: [],
  last_heartbeat_ms: null,
  heartbeat_interval_seconds: null,
});

const find = (anomalies: Anomaly[], type: Anomaly['anomaly_type']) =>
  anomalies.find((a) => a.anomaly_type === type);

describe('anomaly detectors', () => {
  it('finds no anomalies for a healthy bot (score 0), nor for a bot without telemetry', () => {
    expect(detectAnomalies(healthy(), NOW)).toEqual([]);
    expect(detectAnomalies(empty(), NOW)).toEqual([]);
    expect(anomalyScore([])).toBe(0);
  });

  it('raises loss_streak after six losing trades in a row, with the rule action pause_trading', () => {
    const w = empty();
    w.trades = [12, -1, -2, -3, -1, -4, -2].map((pnl, i) => ({ at: NOW - 20 * MIN + i * MIN, pnl }));
    expect(find(detectAnomalies(w, NOW), 'loss_streak')).toMatchObject({
      value: 6,
      threshold: 5,
      recommended_action: 'pause_trading',
    });
    // Order comes from timestamps, not from arrival: shuffled input gives the same streak.
    w.trades.reverse();
    expect(find(detectAnomalies(w, NOW), 'loss_streak')?.value).toBe(6);
  });

  it('does not count four losses, and grades longer streaks as more severe', () => {
    const streak = (n: number) => {
      const w = empty();
      w.trades = Array.from({ length: n }, (_, i) => ({ at: NOW - i * MIN, pnl: -1 }));
      return find(detectAnomalies(w, NOW), 'loss_streak');
    };
    expect(streak(4)).toBeUndefined();
    expect(RANK[streak(10)!.severity]).toBeGreaterThan(RANK[streak(6)!.severity]);
  });

  it('rates median order latency around 8,000 ms more severe than around 5,500 ms', () => {
    const latency = (ms: number) => {
      const w = empty();
      w.orders = Array.from({ length: 10 }, (_, i) => ({
        at: NOW - 10 * MIN + i * MIN,
        latency_ms: ms + (i % 3) * 20,
      }));
      return find(detectAnomalies(w, NOW), 'latency');
    };
    const slow = latency(8000)!;
    const sluggish = latency(5500)!;
    expect(slow).toMatchObject({
      threshold: 5000,
      recommended_action: 'reduce_order_rate',
      severity: 'critical',
    });
    expect(sluggish.severity).toBe('medium');
    expect(RANK[slow.severity]).toBeGreaterThan(RANK[sluggish.severity]);
    expect(latency(4000)).toBeUndefined();
    expect(anomalyScore([slow])).toBeGreaterThanOrEqual(0.7);
    expect(anomalyScore([sluggish])).toBeLessThan(0.7);
  });

  it('raises stale_heartbeat after twice the declared interval, not before', () => {
    const w = empty();
    w.last_heartbeat_ms = NOW - 119_000;
    w.heartbeat_interval_seconds = 60;
    expect(find(detectAnomalies(w, NOW), 'stale_heartbeat')).toBeUndefined();
    w.last_heartbeat_ms = NOW - 120_000;
    expect(find(detectAnomalies(w, NOW), 'stale_heartbeat')).toMatchObject({
      value: 120,
      threshold: 120,
      recommended_action: 'restart_bot',
    });
    // Without a declared interval, 60 s is assumed; ten intervals of silence are critical.
    w.heartbeat_interval_seconds = null;
    w.last_heartbeat_ms = NOW - 20 * MIN;
    expect(find(detectAnomalies(w, NOW), 'stale_heartbeat')?.severity).toBe('critical');
  });

  it('detects latency drift with a robust z-score, and ignores a single outlier', () => {
    const w = healthy();
    // Still far below the 5 s limit, so only the drift rule can see it.
    for (const o of w.orders.slice(-5)) o.latency_ms = 900;
    const drift = find(detectAnomalies(w, NOW), 'drift');
    expect(drift).toMatchObject({ metric: 'latency_ms', threshold: 3.5, recommended_action: 'investigate' });
    expect(drift!.value).toBeGreaterThan(3.5);
    expect(find(detectAnomalies(w, NOW), 'latency')).toBeUndefined();

    const once = healthy();
    once.orders[once.orders.length - 1].latency_ms = 900;
    expect(detectAnomalies(once, NOW)).toEqual([]);
  });

  it('detects drift of slippage and of PnL per trade, in either direction', () => {
    const w = empty();
    w.trades = Array.from({ length: 30 }, (_, i) => ({
      at: NOW - 30 * MIN + i * MIN,
      pnl: i >= 25 ? -40 : 4 + (i % 5) - 2 * (i % 2),
      slippage_bps: i >= 25 ? 25 : 2 + (i % 4) * 0.5,
    }));
    const drifts = detectAnomalies(w, NOW).filter((a) => a.anomaly_type === 'drift');
    expect(drifts.map((d) => d.metric).sort()).toEqual(['pnl', 'slippage_bps']);
    expect(drifts.find((d) => d.metric === 'pnl')!.value).toBeLessThan(-3.5);
    expect(drifts.find((d) => d.metric === 'slippage_bps')!.value).toBeGreaterThan(3.5);
  });

  it('computes the modified z-score as (x − median) / (1.4826 · MAD), with a mean-deviation fallback', () => {
    // median 3, |deviations| = [2,1,0,1,2] → MAD 1
    expect(robustZ(8, [1, 2, 3, 4, 5])).toBeCloseTo(5 / 1.4826, 12);
    // MAD 0 (most values equal): mean absolute deviation 0.4 × 1.253314
    expect(robustZ(5, [3, 3, 3, 4, 2])).toBeCloseTo(2 / (1.253314 * 0.4), 12);
    expect(robustZ(5, [3, 3, 3])).toBeNull();
    // Too short a window says nothing.
    expect(detectDrift('latency_ms', [1, 2, 3, 100], DEFAULT_LIMITS)).toBeNull();
  });

  it('raises error_rate above 10% of order attempts with a circuit breaker, but not on a tiny sample', () => {
    const w = empty();
    w.orders = Array.from({ length: 16 }, (_, i) => ({ at: NOW - i * MIN, latency_ms: 200 }));
    w.errors = Array.from({ length: 4 }, (_, i) => ({ at: NOW - i * MIN, message: 'rate limited' }));
    expect(find(detectAnomalies(w, NOW), 'error_rate')).toMatchObject({
      value: 0.2,
      threshold: 0.1,
      recommended_action: 'circuit_breaker',
    });
    const tiny = empty();
    tiny.errors = [{ at: NOW, message: 'boom' }];
    expect(detectAnomalies(tiny, NOW)).toEqual([]);
  });

  it('raises drawdown against an absolute limit, or against a fraction of equity; critical → kill_switch', () => {
    const w = empty();
    w.trades = [100, -300, -250, 50].map((pnl, i) => ({ at: NOW - 10 * MIN + i * MIN, pnl }));
    // peak 100, trough −450: drawdown 550 > $500 (×1.1: low)
    expect(find(detectAnomalies(w, NOW), 'drawdown')).toMatchObject({
      value: 550,
      threshold: 500,
      severity: 'low',
      recommended_action: 'pause_trading',
    });
    // 5% of $5,000 = $250: 550 is ×2.2 → critical, kill switch.
    expect(find(detectAnomalies(w, NOW, { equity_usd: 5000 }), 'drawdown')).toMatchObject({
      threshold: 250,
      severity: 'critical',
      recommended_action: 'kill_switch',
    });
  });

  it('grades severity by the ratio to the limit and scores the worst anomaly plus 0.05 per companion', () => {
    expect([1.05, 1.1, 1.3, 1.6].map((r) => severityOf(r))).toEqual(['low', 'medium', 'high', 'critical']);
    const a = (severity: Severity): Anomaly => ({
      anomaly_type: 'latency',
      severity,
      value: 0,
      threshold: 0,
      description: '',
      recommended_action: 'reduce_order_rate',
    });
    expect(anomalyScore([a('low')])).toBe(0.25);
    expect(anomalyScore([a('medium'), a('low')])).toBe(0.55);
    expect(anomalyScore([a('critical'), a('high')])).toBe(1);
  });
});

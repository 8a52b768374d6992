/**
 * From candles to what the bots see on each bar: the figures their agents send and the market event the bar
 * raises. Pure functions of the candle series, so a replay is deterministic for a given CSV.
 *
 * Event mapping (per bar, against the previous bar's close):
 *   change_percent = (close − previous close) / previous close × 100
 *   volume_ratio   = volume / mean volume of the previous 24 bars
 *   volatility     = true range of the bar (max(high, previous close) − min(low, previous close)) as % of the
 *                    previous close — the bar's own contribution to ATR; atr_pct (ATR 14 / close, %) is sent too
 * The bots declare the priority that the price and volume imply under the gate's thresholds (they can read
 * them from GET /ai-cost/event-thresholds): |change| ≥ price_change_pct (2%) → HIGH, ≥ twice that →
 * CRITICAL, volume_ratio ≥ volume_spike_multiplier (3×) → HIGH, otherwise LOW. The gate adds the volatility
 * rule itself (volatility > volatility_threshold, 1.5% → one step up), so a quiet bar with a wide range
 * arrives as MEDIUM. The event carries change_percent, volume_ratio and volatility — what the gate reads —
 * and nothing else, so a batch of LOW events stays compact.
 */
import { readFile } from 'node:fs/promises';
import { indicatorSeries, RegimeTracker, type Regime } from '../../src/agents/market-regime/regime.js';
import type { EventThresholds, EventType, Priority } from '../../src/ai-optimization/events/event.types.js';
import { effectivePriority } from '../../src/ai-optimization/events/priority.js';
import type { Ohlcv } from '../../src/market-data/candles/candle-source.js';
import { parseCandleCsv } from '../../src/market-data/candles/csv-candle-source.js';

export const BAR_MS = 3_600_000;
const VOLUME_WINDOW = 24;

export interface CandleFile {
  candles: Ohlcv[];
  droppedRows: number;
  /** The last row, treated as still forming and left out (exchange exports end with the bar in progress). */
  formingBar: string | null;
}

export async function loadCandles(path: string): Promise<CandleFile> {
  const { candles, dropped } = parseCandleCsv(await readFile(path, 'utf8'), path);
  if (candles.length < 2) throw new Error(`${path}: at least two candles are needed, got ${candles.length}`);
  for (let i = 1; i < candles.length; i++) {
    // A missing bar is kept as a gap (the clock moves by the real distance); a non-hourly file is refused.
    if ((candles[i][0] - candles[i - 1][0]) % BAR_MS !== 0) {
      throw new Error(`${path}: bars are not 1h apart at ${new Date(candles[i][0]).toISOString()}`);
    }
  }
  const forming = candles.at(-1) as Ohlcv;
  return {
    candles: candles.slice(0, -1),
    droppedRows: dropped.length,
    formingBar: new Date(forming[0]).toISOString(),
  };
}

export type RegimeLabel = Regime | 'warming_up';

/** Everything the bots derive from one closed bar. */
export interface Bar {
  index: number;
  /** Open time of the bar (ms). */
  openTime: number;
  /** Close time = when the bots act on it, the simulated "now" (ms). */
  closeTime: number;
  close: number;
  previousClose: number;
  changePercent: number;
  volume: number;
  avgVolume: number;
  volumeRatio: number;
  /** True range of the bar in % of the previous close. */
  volatility: number;
  atrPct: number | null;
  rsi: number | null;
  adx: number | null;
  regime: RegimeLabel;
  barsInRegime: number;
  /** EMA 20 vs EMA 50 trend signal of the bots' strategy. */
  side: 'long' | 'short';
  emaFast: number;
  emaSlow: number;
  /** 0–1: how unusual the bar is (the anomaly detector's THRESHOLD input). */
  anomalyScore: number;
  anomalies: { type: string; severity: string }[];
  /** Target BTC weight of the portfolio (volatility targeting, 10% steps). */
  targetWeight: number;
  currentWeight: number;
  event: { type: EventType; declared: Priority; data: Record<string, number> };
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

function severity(ratio: number): string {
  return ratio >= 1.6 ? 'critical' : ratio >= 1.3 ? 'high' : ratio >= 1.1 ? 'medium' : 'low';
}

/** Features of the bars `from` … end of `candles`; earlier candles only warm the indicators up. */
export function buildBars(candles: Ohlcv[], from: number, thresholds: EventThresholds): Bar[] {
  const indicators = indicatorSeries(candles, '1h');
  const bars: Bar[] = [];
  const tracker = new RegimeTracker(); // the market-regime agent's hysteresis
  let emaFast: number | null = null;
  let emaSlow: number | null = null;
  let currentWeight = 0.5;
  for (let i = 0; i < candles.length; i++) {
    const [openTime, open, high, low, close, volume] = candles[i];
    const previousClose = i > 0 ? candles[i - 1][4] : open;
    emaFast = emaFast === null ? close : emaFast + (2 / 21) * (close - emaFast);
    emaSlow = emaSlow === null ? close : emaSlow + (2 / 51) * (close - emaSlow);
    const ind = indicators[i];
    if (ind !== null) tracker.step(ind);
    if (i < from) continue;
    const { regime, barsInRegime } = tracker;

    const window = candles.slice(Math.max(0, i - VOLUME_WINDOW), i);
    const avgVolume = window.length > 0 ? window.reduce((s, c) => s + c[5], 0) / window.length : volume;
    const volumeRatio = avgVolume > 0 ? volume / avgVolume : 1;
    const changePercent = ((close - previousClose) / previousClose) * 100;
    const volatility = ((Math.max(high, previousClose) - Math.min(low, previousClose)) / previousClose) * 100;
    const atrPct = ind === null ? null : ind.atr_pct * 100;

    const anomalies: Bar['anomalies'] = [];
    const price = Math.abs(changePercent) / 2;
    const surge = volumeRatio / 3;
    const range = volatility / 2;
    if (price >= 1) anomalies.push({ type: 'price_jump', severity: severity(price) });
    if (surge >= 1) anomalies.push({ type: 'volume_surge', severity: severity(surge) });
    if (range >= 1) anomalies.push({ type: 'range_expansion', severity: severity(range) });
    const anomalyScore = round(clamp(Math.max(price, surge, range) / 1.5, 0, 1), 2);

    // Volatility targeting: 0.6% hourly ATR is a full-risk position; halved in a downtrend; 10% steps.
    const base = atrPct === null ? 0.5 : clamp(0.6 / atrPct, 0.1, 0.9);
    const targetWeight = round(clamp(regime === 'trending_down' ? base / 2 : base, 0.1, 0.9), 1);
    if (Math.abs(targetWeight - currentWeight) >= 0.2) currentWeight = targetWeight;

    const data = {
      change_percent: round(changePercent, 2),
      volume_ratio: round(volumeRatio, 2),
      volatility: round(volatility, 2),
    };
    const declared = effectivePriority(
      'LOW',
      { change_percent: data.change_percent, volume_ratio: data.volume_ratio },
      thresholds,
    ).priority;
    const type: EventType =
      Math.abs(data.change_percent) >= thresholds.price_change_pct
        ? 'PRICE_CHANGE'
        : data.volume_ratio >= thresholds.volume_spike_multiplier
          ? 'VOLUME_SPIKE'
          : data.volatility > thresholds.volatility_threshold
            ? 'VOLATILITY_SPIKE'
            : 'PRICE_UPDATE';

    bars.push({
      index: bars.length,
      openTime,
      closeTime: openTime + BAR_MS,
      close,
      previousClose,
      changePercent: round(changePercent, 3),
      volume: round(volume, 3),
      avgVolume: round(avgVolume, 3),
      volumeRatio: round(volumeRatio, 3),
      volatility: round(volatility, 3),
      atrPct: atrPct === null ? null : round(atrPct, 3),
      rsi: ind?.rsi === null || ind?.rsi === undefined ? null : round(ind.rsi, 1),
      adx: ind === null ? null : round(ind.adx, 1),
      regime: regime ?? 'warming_up',
      barsInRegime,
      side: emaFast >= emaSlow ? 'long' : 'short',
      emaFast,
      emaSlow,
      anomalyScore,
      anomalies,
      targetWeight,
      currentWeight,
      event: { type, declared, data },
    });
  }
  return bars;
}

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

/**
 * The fixed yardstick of fidelity, independent of the gate: a bar is *market-moving* when its absolute
 * close-to-close return, or its true range (in % of the previous close), is in the top 1% of its symbol's
 * trailing 30 days — fewer than 1% of the 720 bars before it (so at most 7) were at least as large. The
 * window is the bars of the file before the bar, replayed or not: the data files carry 30 days before the
 * replayed window, so every replayed bar is judged against a full window. Where a file has fewer bars before
 * a bar, the window is what there is, and a bar with fewer than MOVING_MIN_HISTORY bars before it is not
 * judged (counted apart, never market-moving).
 */
export const MOVING_WINDOW = 720;
export const MOVING_TOP_SHARE = 0.01;
export const MOVING_MIN_HISTORY = 168;

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
  /** The series' symbol (one per series; two series of the same asset get the year of their middle bar). */
  symbol: string;
  /** Position of the series on the command line. */
  series: number;
  /** Top 1% of the trailing 30 days by |return| or true range (see MOVING_WINDOW); null = not judged. */
  marketMoving: boolean | null;
  /** Which measure made it market-moving: 'return', 'range' or both. */
  movingBy: string[];
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

/** |close-to-close return| and true range of every candle, in % of the previous close (0 for the first). */
function moves(candles: Ohlcv[]): { ret: Float64Array; range: Float64Array } {
  const ret = new Float64Array(candles.length);
  const range = new Float64Array(candles.length);
  for (let i = 1; i < candles.length; i++) {
    const prev = candles[i - 1][4];
    const [, , high, low, close] = candles[i];
    ret[i] = (Math.abs(close - prev) / prev) * 100;
    range[i] = ((Math.max(high, prev) - Math.min(low, prev)) / prev) * 100;
  }
  return { ret, range };
}

/** The yardstick for candle i (see MOVING_WINDOW). */
function judge(values: Float64Array, i: number): boolean | null {
  const start = Math.max(1, i - MOVING_WINDOW);
  const n = i - start;
  if (n < MOVING_MIN_HISTORY) return null;
  let atLeast = 0;
  for (let j = start; j < i; j++) if (values[j] >= values[i]) atLeast++;
  return atLeast < MOVING_TOP_SHARE * n;
}

/**
 * Features of the bars `from` … `to` (exclusive; default the end) of `candles`; earlier candles only warm
 * the indicators and the yardstick up. `shiftMs` moves the bars' times (a series put on another series'
 * clock), `symbol` and `series` name them.
 */
export function buildBars(
  candles: Ohlcv[],
  from: number,
  thresholds: EventThresholds,
  options: { symbol?: string; series?: number; shiftMs?: number; to?: number } = {},
): Bar[] {
  const symbol = options.symbol ?? 'BTC/USDT';
  const series = options.series ?? 0;
  const shiftMs = options.shiftMs ?? 0;
  const to = options.to ?? candles.length;
  const indicators = indicatorSeries(candles.slice(0, to), '1h');
  const { ret, range: trueRange } = moves(candles);
  const bars: Bar[] = [];
  const tracker = new RegimeTracker(); // the market-regime agent's hysteresis
  let emaFast: number | null = null;
  let emaSlow: number | null = null;
  let currentWeight = 0.5;
  for (let i = 0; i < to; i++) {
    const [rawOpenTime, open, high, low, close, volume] = candles[i];
    const openTime = rawOpenTime + shiftMs;
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

    const byReturn = judge(ret, i);
    const byRange = judge(trueRange, i);
    const movingBy = [...(byReturn ? ['return'] : []), ...(byRange ? ['range'] : [])];
    bars.push({
      index: bars.length,
      symbol,
      series,
      marketMoving: byReturn === null || byRange === null ? null : movingBy.length > 0,
      movingBy,
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

/** One series of the replay as given on the command line: `path`, `path@2023` or `path@2024-01-01..2024-06-30`. */
export interface SeriesSpec {
  path: string;
  /** Replayed window [from, to) in ms of the file's own time; null = the last `--days` of the file. */
  window: { from: number; to: number; label: string } | null;
}

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

export function parseSeriesSpec(arg: string): SeriesSpec {
  const at = arg.lastIndexOf('@');
  if (at <= 0) return { path: arg, window: null };
  const path = arg.slice(0, at);
  const label = arg.slice(at + 1);
  const year = /^(\d{4})$/.exec(label);
  if (year) {
    return {
      path,
      window: { from: Date.UTC(Number(year[1]), 0, 1), to: Date.UTC(Number(year[1]) + 1, 0, 1), label },
    };
  }
  const range = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(label);
  const from = range ? Date.parse(`${range[1]}T00:00:00Z`) : NaN;
  const to = range ? Date.parse(`${range[2]}T00:00:00Z`) + DAY_MS : NaN;
  if (!range || !Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
    throw new Error(
      `--csv ${arg}: the window after @ must be a year (2023) or a date range (2023-01-01..2023-12-31, both days included)`,
    );
  }
  return { path, window: { from, to, label } };
}

/** `BTCUSDT_1h_….csv` → `BTC/USDT`; other names → the file name up to its first `_` or `.`. */
export function symbolOfFile(path: string): string {
  const name = (path.split('/').at(-1) ?? path).split(/[_.]/)[0].toUpperCase();
  const quote = ['USDT', 'USDC', 'USD', 'BUSD', 'EUR'].find(
    (q) => name.endsWith(q) && name.length > q.length,
  );
  return quote ? `${name.slice(0, -quote.length)}/${quote}` : name;
}

export interface Series {
  spec: SeriesSpec;
  file: CandleFile;
  symbol: string;
  bars: Bar[];
  /** The (up to MOVING_WINDOW) bars just before the window: they seed the gate's adaptive windows. */
  warmup: Bar[];
  /** Bars of the file before the replayed window (indicator and yardstick warm-up). */
  warmupBars: number;
  /** How far the series was moved onto the first series' clock (whole weeks; 0 for the first). */
  shiftMs: number;
  /** Replayed bars the yardstick could not judge (fewer than MOVING_MIN_HISTORY bars before them). */
  unjudged: number;
}

/**
 * Loads the series of one replay. Each series replays its window (`@…`) or its last `days` days; the bars
 * before only warm up. Series after the first are put on the first one's clock, moved by whole weeks (time of
 * day and weekday kept, so peak and off-peak prices fall as they did) to start as close as possible to it.
 * Each gets its own symbol: the file's asset, with the year of its middle replayed bar when two series share it.
 */
export async function loadSeries(
  specs: SeriesSpec[],
  days: number | null,
  thresholds: EventThresholds,
): Promise<Series[]> {
  const loaded = await Promise.all(
    specs.map(async (spec) => {
      const file = await loadCandles(spec.path);
      const candles = file.candles;
      let from: number;
      let to: number;
      if (spec.window) {
        const { from: start, to: end } = spec.window;
        from = candles.findIndex((c) => c[0] >= start);
        const after = candles.findIndex((c) => c[0] >= end);
        to = after === -1 ? candles.length : after;
        if (from === -1 || from >= to) {
          throw new Error(
            `${spec.path}@${spec.window.label}: no complete bar of the file falls in that window`,
          );
        }
      } else {
        to = candles.length;
        from = days === null ? 0 : Math.max(0, to - days * 24);
      }
      return { spec, file, from, to };
    }),
  );
  const bases = loaded.map((l) => symbolOfFile(l.spec.path));
  const origin = loaded[0].file.candles[loaded[0].from][0];
  const taken = new Set<string>();
  return loaded.map((l, series) => {
    const firstTime = l.file.candles[l.from][0];
    const middle = l.file.candles[Math.floor((l.from + l.to - 1) / 2)][0];
    const shared = bases.filter((b) => b === bases[series]).length > 1;
    let symbol = shared ? `${bases[series]}-${new Date(middle).getUTCFullYear()}` : bases[series];
    if (taken.has(symbol)) symbol = `${symbol}#${series + 1}`;
    taken.add(symbol);
    const shiftMs = series === 0 ? 0 : Math.round((origin - firstTime) / WEEK_MS) * WEEK_MS;
    const bars = buildBars(l.file.candles, l.from, thresholds, { symbol, series, shiftMs, to: l.to });
    return {
      spec: l.spec,
      file: l.file,
      symbol,
      bars,
      warmup: buildBars(l.file.candles, Math.max(0, l.from - MOVING_WINDOW), thresholds, {
        symbol,
        series,
        shiftMs,
        to: l.from,
      }),
      warmupBars: l.from,
      shiftMs,
      unjudged: bars.filter((b) => b.marketMoving === null).length,
    };
  });
}

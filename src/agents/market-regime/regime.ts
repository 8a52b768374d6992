import { BadRequestException } from '@nestjs/common';
import { ADX, ATR, BollingerBands, RSI } from 'trading-signals';
import {
  timeframeMs,
  validateCandles,
  type Ohlcv,
  type Timeframe,
} from '../../market-data/candles/candle-source.js';
import { DEFAULT_AGENT_SETTINGS, type MarketRegimeSettings } from '../settings/agent-settings.js';

type RegimeThresholds = MarketRegimeSettings['thresholds'];
const DEFAULTS = DEFAULT_AGENT_SETTINGS.market_regime;

export const REGIMES = [
  'trending_up',
  'trending_down',
  'ranging',
  'high_volatility',
  'breakout',
  'transitional',
] as const;
export type Regime = (typeof REGIMES)[number];

export interface RegimeIndicators {
  close: number;
  atr: number;
  atr_pct: number;
  adx: number;
  /** Directional indicators in percent (trading-signals gives fractions). */
  plus_di: number;
  minus_di: number;
  bb_width: number;
  bb_upper: number;
  bb_lower: number;
  rsi: number | null;
  volatility_threshold: number;
}

export interface RegimeResult {
  regime_type: Regime;
  confidence: number;
  indicators: RegimeIndicators;
  bars_in_regime: number;
  /** How often the regime changed over the analysed bars (after hysteresis). */
  regime_changes: number;
  evidence: string[];
}

/** ADX warm-up (2·period − 1 bars) plus one bar of history: 28 for ADX 14. */
export const minCandles = (adxPeriod: number): number => 2 * adxPeriod;
export const MIN_CANDLES = minCandles(DEFAULTS.indicators.adx_period);
/** A new regime must hold this many consecutive bars before it replaces the current one (the default). */
export const DWELL_BARS = DEFAULTS.thresholds.dwell_bars;

/**
 * ATR/close above which a bar is high-volatility: the setting of the timeframe (by default about the 90th
 * percentile measured on BTC 2022–2025); other timeframes scale from the 1h one by the square root of time.
 */
export function volatilityThreshold(
  timeframe: Timeframe,
  measured: RegimeThresholds['volatility'] = DEFAULTS.thresholds.volatility,
): number {
  const known = (measured as Partial<Record<Timeframe, number>>)[timeframe];
  if (known !== undefined) return known;
  return measured['1h'] * Math.sqrt(timeframeMs(timeframe) / timeframeMs('1h'));
}

/** Indicator values for every bar once all are stable (null before). */
export function indicatorSeries(
  candles: Ohlcv[],
  timeframe: Timeframe,
  settings: MarketRegimeSettings = DEFAULTS,
): (RegimeIndicators | null)[] {
  const p = settings.indicators;
  const atr = new ATR(p.atr_period);
  const adx = new ADX(p.adx_period);
  const bb = new BollingerBands(p.bollinger_period, p.bollinger_stddev);
  const rsi = new RSI(p.rsi_period);
  const threshold = volatilityThreshold(timeframe, settings.thresholds.volatility);
  return candles.map(([, , high, low, close]) => {
    const a = atr.add({ high, low, close });
    const d = adx.add({ high, low, close });
    const bands = bb.add(close);
    const r = rsi.add(close);
    const pdi = adx.pdi;
    const mdi = adx.mdi;
    // ADX is NaN on perfectly flat candles (0/0): such a bar carries no direction.
    if (
      a === null ||
      d === null ||
      bands === null ||
      typeof pdi !== 'number' ||
      typeof mdi !== 'number' ||
      !Number.isFinite(d)
    ) {
      return null;
    }
    return {
      close,
      atr: a,
      atr_pct: a / close,
      adx: d,
      plus_di: pdi * 100,
      minus_di: mdi * 100,
      bb_width: bands.middle > 0 ? (bands.upper - bands.lower) / bands.middle : 0,
      bb_upper: bands.upper,
      bb_lower: bands.lower,
      rsi: r,
      volatility_threshold: threshold,
    };
  });
}

/** One bar's verdict without memory; `inTrend` widens the trend band (ADX 20–25) for the current trend. */
export function classifyBar(
  ind: RegimeIndicators,
  current: Regime | null,
  t: RegimeThresholds = DEFAULTS.thresholds,
): Regime {
  if (ind.atr_pct > ind.volatility_threshold) return 'high_volatility';
  // Compressed volatility (about the 10th percentile of ATR/close) is a range even when ADX reads a drift:
  // ADX measures direction relative to ATR, so tiny moves in a quiet market can look like a "trend".
  if (ind.atr_pct < t.quiet_fraction * ind.volatility_threshold && ind.adx < t.adx_strong) return 'ranging';
  const trending = current === 'trending_up' || current === 'trending_down';
  const trendFloor = trending ? t.adx_trend_exit : t.adx_trend_enter;
  if ((ind.close > ind.bb_upper || ind.close < ind.bb_lower) && ind.adx < t.adx_trend_enter)
    return 'breakout';
  if (ind.adx >= trendFloor) return ind.plus_di >= ind.minus_di ? 'trending_up' : 'trending_down';
  if (ind.adx < t.adx_range) return 'ranging';
  return 'transitional';
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

function confidenceOf(
  regime: Regime,
  ind: RegimeIndicators,
  barsInRegime: number,
  t: RegimeThresholds,
): number {
  let evidence: number;
  switch (regime) {
    case 'trending_up':
    case 'trending_down': {
      const spread = Math.abs(ind.plus_di - ind.minus_di) / Math.max(ind.plus_di + ind.minus_di, 1e-9);
      evidence = 0.6 * clamp01((ind.adx - t.adx_trend_exit) / 20) + 0.4 * clamp01(spread * 2);
      break;
    }
    case 'ranging':
      evidence = Math.max(
        clamp01((t.adx_trend_enter - ind.adx) / 15),
        clamp01(1 - ind.atr_pct / (t.quiet_fraction * ind.volatility_threshold)),
      );
      break;
    case 'high_volatility':
      evidence = clamp01((ind.atr_pct / ind.volatility_threshold - 1) * 2 + 0.5);
      break;
    case 'breakout':
      evidence = 0.55;
      break;
    case 'transitional':
      evidence = 0.3;
      break;
  }
  // A regime that has just started is less certain than one that has held for a while.
  const dwell = clamp01(barsInRegime / (t.dwell_bars * 3));
  return Number((0.25 + 0.75 * evidence * (0.5 + 0.5 * dwell)).toFixed(4));
}

/**
 * The hysteresis between bars: the regime changes only when a new verdict holds `dwell_bars` bars in a row
 * (a plain ADX/ATR classifier flips about 8 times per 100 bars on BTC 1h).
 */
export class RegimeTracker {
  regime: Regime | null = null;
  barsInRegime = 0;
  changes = 0;
  private candidate: Regime | null = null;
  private candidateBars = 0;

  constructor(private readonly thresholds: RegimeThresholds = DEFAULTS.thresholds) {}

  /** Classifies one bar and moves the hysteresis on; returns the regime in force after it. */
  step(ind: RegimeIndicators): Regime {
    const verdict = classifyBar(ind, this.regime, this.thresholds);
    if (this.regime === null) {
      this.regime = verdict;
      this.barsInRegime = 1;
      return verdict;
    }
    this.barsInRegime++;
    if (verdict === this.regime) {
      this.candidate = null;
      this.candidateBars = 0;
      return this.regime;
    }
    this.candidateBars = verdict === this.candidate ? this.candidateBars + 1 : 1;
    this.candidate = verdict;
    if (this.candidateBars >= this.thresholds.dwell_bars) {
      this.regime = verdict;
      this.barsInRegime = this.candidateBars;
      this.candidate = null;
      this.candidateBars = 0;
      this.changes++;
    }
    return this.regime;
  }
}

/** Classifies the latest bar with hysteresis (RegimeTracker). */
export function analyzeRegime(
  rows: unknown,
  timeframe: Timeframe,
  settings: MarketRegimeSettings = DEFAULTS,
): RegimeResult {
  const { candles, problems } = validateCandles(rows);
  if (problems.length > 0) throw new BadRequestException(`candles: ${problems.slice(0, 5).join('; ')}`);
  const needed = minCandles(settings.indicators.adx_period);
  if (candles.length < needed) {
    throw new BadRequestException(
      `candles: at least ${needed} candles are needed (ADX ${settings.indicators.adx_period} warm-up), got ${candles.length}`,
    );
  }
  const tracker = new RegimeTracker(settings.thresholds);
  let last: RegimeIndicators | null = null;
  for (const ind of indicatorSeries(candles, timeframe, settings)) {
    if (ind === null) continue;
    last = ind;
    tracker.step(ind);
  }
  const { regime: current, barsInRegime, changes } = tracker;
  if (current === null || last === null) {
    throw new BadRequestException('candles: no bar with stable indicators (flat candles give no ADX)');
  }
  const evidence = [
    `ADX ${last.adx.toFixed(1)} (+DI ${last.plus_di.toFixed(1)}, −DI ${last.minus_di.toFixed(1)})`,
    `ATR/close ${(last.atr_pct * 100).toFixed(2)}% vs ${(last.volatility_threshold * 100).toFixed(2)}% threshold for ${timeframe}`,
    `Bollinger width ${(last.bb_width * 100).toFixed(2)}%`,
  ];
  return {
    regime_type: current,
    confidence: confidenceOf(current, last, barsInRegime, settings.thresholds),
    indicators: last,
    bars_in_regime: barsInRegime,
    regime_changes: changes,
    evidence,
  };
}

/** The same classification without hysteresis, bar by bar (for comparison in tests and diagnostics). */
export function naiveRegimes(
  candles: Ohlcv[],
  timeframe: Timeframe,
  settings: MarketRegimeSettings = DEFAULTS,
): Regime[] {
  return indicatorSeries(candles, timeframe, settings)
    .filter((x): x is RegimeIndicators => x !== null)
    .map((ind) => classifyBar(ind, null, settings.thresholds));
}

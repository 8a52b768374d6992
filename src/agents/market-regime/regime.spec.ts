import { readFileSync } from 'node:fs';
import { ADX, ATR, BollingerBands } from 'trading-signals';
import { parseCandleCsv } from '../../market-data/candles/csv-candle-source.js';
import type { Ohlcv } from '../../market-data/candles/candle-source.js';
import { analyzeRegime, naiveRegimes, volatilityThreshold } from './regime.js';

/** Named scenarios on real BTC/USDT 1h candles (test/fixtures/candles, see its README). */
const all = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8')).candles;
const slice = (from: string, to: string): Ohlcv[] =>
  all.filter(([ts]) => ts >= Date.parse(`${from}Z`) && ts < Date.parse(`${to}Z`));

describe('market regime on real BTC candles', () => {
  it('June 2022 crash (Celsius/3AC): high volatility', () => {
    const r = analyzeRegime(slice('2022-06-10T00:00', '2022-06-14T00:00'), '1h');
    expect(r.regime_type).toBe('high_volatility'); // ATR/close 2.8% against the 1.2% threshold of 1h
    expect(r.indicators.atr_pct).toBeGreaterThan(volatilityThreshold('1h'));
    expect(r.confidence).toBeGreaterThan(0.8);
  });

  it('the quietest two weeks of 2022–2025 (late December 2022): ranging', () => {
    const r = analyzeRegime(slice('2022-12-20T00:00', '2023-01-03T00:00'), '1h');
    expect(r.regime_type).toBe('ranging');
  });

  it('January 2023 rally (+33.6%): trending up', () => {
    const r = analyzeRegime(slice('2023-01-05T00:00', '2023-01-14T00:00'), '1h');
    expect(r.regime_type).toBe('trending_up');
    expect(r.indicators.plus_di).toBeGreaterThan(r.indicators.minus_di);
    expect(r.confidence).toBeGreaterThan(0.8);
  });

  it('runs across the 2023-03-24 outage (zero-volume flat bar, missing hour) without crashing', () => {
    const bars = slice('2023-03-20T00:00', '2023-03-25T00:00');
    expect(
      bars.some(
        ([ts, o, h, l, c, v]) => ts === Date.parse('2023-03-24T12:00:00Z') && v === 0 && o === h && l === c,
      ),
    ).toBe(true);
    const r = analyzeRegime(bars, '1h');
    expect(Number.isFinite(r.indicators.adx)).toBe(true);
  });

  it('reports indicator values equal to trading-signals to 1e-9 (DI in percent)', () => {
    const bars = slice('2023-01-05T00:00', '2023-01-14T00:00');
    const atr = new ATR(14);
    const adx = new ADX(14);
    const bb = new BollingerBands(20, 2);
    for (const [, , high, low, close] of bars) {
      atr.add({ high, low, close });
      adx.add({ high, low, close });
      bb.add(close);
    }
    const r = analyzeRegime(bars, '1h');
    const close = bars.at(-1)?.[4] as number;
    expect(Math.abs(r.indicators.atr - (atr.getResult() as number))).toBeLessThan(1e-9);
    expect(Math.abs(r.indicators.atr_pct - (atr.getResult() as number) / close)).toBeLessThan(1e-9);
    expect(Math.abs(r.indicators.adx - (adx.getResult() as number))).toBeLessThan(1e-9);
    expect(Math.abs(r.indicators.plus_di - (adx.pdi as number) * 100)).toBeLessThan(1e-9);
    expect(Math.abs(r.indicators.minus_di - (adx.mdi as number) * 100)).toBeLessThan(1e-9);
    const bands = bb.getResult();
    expect(
      Math.abs(r.indicators.bb_width - ((bands?.upper ?? 0) - (bands?.lower ?? 0)) / (bands?.middle ?? 1)),
    ).toBeLessThan(1e-9);
  });

  it('scales the volatility threshold to the timeframe instead of a fixed 0.02', () => {
    expect(volatilityThreshold('1h')).toBe(0.012);
    expect(volatilityThreshold('4h')).toBe(0.023);
    expect(volatilityThreshold('1d')).toBe(0.056);
    expect(volatilityThreshold('15m')).toBeCloseTo(0.006, 12);
  });

  it('flips far less often than a plain classifier thanks to hysteresis', () => {
    const bars = slice('2022-06-01T00:00', '2022-07-01T00:00');
    const naive = naiveRegimes(bars, '1h');
    const naiveFlips = naive.filter((r, i) => i > 0 && r !== naive[i - 1]).length;
    const r = analyzeRegime(bars, '1h');
    expect(naiveFlips).toBeGreaterThan(20);
    expect(r.regime_changes).toBeLessThan(naiveFlips / 2);
  });

  it('rejects too few or malformed candles with a message naming the problem', () => {
    expect(() => analyzeRegime(slice('2023-01-05T00:00', '2023-01-06T00:00'), '1h')).toThrow(
      /at least 28 candles/,
    );
    const bad = slice('2023-01-05T00:00', '2023-01-08T00:00').map((r) => [...r]);
    bad[3][2] = bad[3][3] - 100; // high below low
    expect(() => analyzeRegime(bad, '1h')).toThrow(/candles: .*row/);
    expect(() => analyzeRegime('not candles', '1h')).toThrow(/candles must be an array/);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_EVENT_THRESHOLDS } from '../src/ai-optimization/events/event.types.js';
import type { Ohlcv } from '../src/market-data/candles/candle-source.js';
import {
  buildBars,
  loadSeries,
  MOVING_MIN_HISTORY,
  MOVING_WINDOW,
  parseSeriesSpec,
} from '../bench/replay/market.js';

const HOUR = 3_600_000;
const START = Date.UTC(2023, 0, 1);

/** A calm series (±0.1% a bar, 0.3% ranges) with the given bars replaced. */
function series(
  n: number,
  special: Record<number, { close: number; high?: number; low?: number }> = {},
): Ohlcv[] {
  const candles: Ohlcv[] = [];
  let close = 100;
  for (let i = 0; i < n; i++) {
    const open = close;
    const s = special[i];
    close = s ? s.close : open * (i % 2 === 0 ? 1.001 : 0.999);
    const high = s?.high ?? Math.max(open, close) * 1.001;
    const low = s?.low ?? Math.min(open, close) * 0.999;
    candles.push([START + i * HOUR, open, high, low, close, 10]);
  }
  return candles;
}

const csv = (candles: Ohlcv[]): string =>
  [
    'timestamp,open,high,low,close,volume',
    ...candles.map(
      ([t, o, h, l, c, v]) =>
        `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')},${o},${h},${l},${c},${v}`,
    ),
  ].join('\n');

describe('replay yardstick: market-moving bars', () => {
  it('marks a bar whose return or range is in the top 1% of the 720 bars before it, and only those', () => {
    const n = MOVING_WINDOW + 200;
    const jump = MOVING_WINDOW + 50;
    const candles = series(n, { [jump]: { close: 103 } });
    const bars = buildBars(candles, MOVING_WINDOW + 1, DEFAULT_EVENT_THRESHOLDS);
    const moving = bars.filter((b) => b.marketMoving === true);
    expect(moving.map((b) => b.openTime)).toContain(START + jump * HOUR);
    expect(moving.find((b) => b.openTime === START + jump * HOUR)?.movingBy).toEqual(['return', 'range']);
    // A calm bar is not market-moving however calm the window.
    expect(bars.filter((b) => b.marketMoving === false).length).toBeGreaterThan(bars.length - 10);
  });

  it('does not judge a bar with less than a week of bars before it', () => {
    const bars = buildBars(
      series(MOVING_MIN_HISTORY + 10, { 5: { close: 120 } }),
      0,
      DEFAULT_EVENT_THRESHOLDS,
    );
    expect(bars[5].marketMoving).toBeNull();
    expect(bars[MOVING_MIN_HISTORY + 5].marketMoving).not.toBeNull();
  });
});

describe('replay series', () => {
  it('reads a year or a date range after @, and refuses anything else naming the flag', () => {
    expect(parseSeriesSpec('a.csv@2023').window).toEqual({
      from: Date.UTC(2023, 0, 1),
      to: Date.UTC(2024, 0, 1),
      label: '2023',
    });
    expect(parseSeriesSpec('a.csv@2023-03-01..2023-03-02').window?.to).toBe(Date.UTC(2023, 2, 3));
    expect(parseSeriesSpec('a.csv').window).toBeNull();
    expect(() => parseSeriesSpec('a.csv@March')).toThrow(/--csv a.csv@March/);
  });

  it('puts two series of one asset on one clock, each under its own symbol, whole weeks apart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'replay-'));
    try {
      const a = join(dir, 'BTCUSDT_1h_a.csv');
      const b = join(dir, 'BTCUSDT_1h_b.csv');
      const candles = series(24 * 40);
      await writeFile(a, csv(candles));
      await writeFile(b, csv(candles.map(([t, ...rest]) => [t + 400 * 24 * HOUR, ...rest] as Ohlcv)));
      const [first, second] = await loadSeries(
        [parseSeriesSpec(a), parseSeriesSpec(b)],
        5,
        DEFAULT_EVENT_THRESHOLDS,
      );
      expect(first.symbol).toBe('BTC/USDT-2023');
      expect(second.symbol).toBe('BTC/USDT-2024');
      expect(first.bars).toHaveLength(120);
      expect(second.bars).toHaveLength(120);
      expect(Math.abs(second.shiftMs % (7 * 24 * HOUR))).toBe(0);
      expect(Math.abs(second.bars[0].closeTime - first.bars[0].closeTime)).toBeLessThanOrEqual(
        3.5 * 24 * HOUR,
      );
      expect(first.warmup).toHaveLength(MOVING_WINDOW);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import {
  adaptivePriority,
  observationOf,
  rankIn,
  RollingWindow,
  type Observation,
  type WindowRanks,
} from './adaptive-priority.js';
import { DEFAULT_EVENT_THRESHOLDS, type EventThresholds } from './event.types.js';

const T: EventThresholds = { ...DEFAULT_EVENT_THRESHOLDS, priority_mode: 'adaptive' };

/** A deterministic series of moves spread evenly between `lo` and `hi` (percent). */
const spread = (count: number, lo: number, hi: number): number[] =>
  Array.from({ length: count }, (_, i) => lo + ((hi - lo) * ((i * 37) % count)) / (count - 1));

const ranksOf = (obs: Observation, history: Observation[]): WindowRanks => {
  const ranks: WindowRanks = { history: history.length };
  for (const f of ['move', 'range', 'volumeRatio'] as const) {
    const x = obs[f];
    if (x !== undefined)
      ranks[f] = rankIn(
        history.map((h) => h[f]).filter((v): v is number => v !== undefined),
        x,
      );
  }
  return ranks;
};

describe('observationOf', () => {
  it('reads the move (absolute), the range and the volume ratio the static rules read', () => {
    expect(observationOf({ change_percent: -2.5, volatility: 3, volume: 300, avg_volume: 100 })).toEqual({
      move: 2.5,
      range: 3,
      volumeRatio: 3,
    });
    expect(observationOf({ price_change_pct: 1, volume_ratio: 2 })).toEqual({ move: 1, volumeRatio: 2 });
  });
  it('gives nothing for an event without a price move or range (a whale transfer, a funding rate)', () => {
    expect(observationOf({ amount_usd: 5e7 })).toBeNull();
    expect(observationOf({ volume_ratio: 9 })).toBeNull();
    expect(observationOf({ change_percent: 'big' })).toBeNull();
  });
});

describe('rankIn', () => {
  it('counts the values strictly below', () => {
    expect(rankIn([1, 2, 3, 4], 3)).toEqual({ n: 4, less: 2 });
    expect(rankIn([1, 2, 3, 4], 5)).toEqual({ n: 4, less: 4 });
    expect(rankIn([], 5)).toEqual({ n: 0, less: 0 });
  });
});

describe('adaptivePriority', () => {
  const quiet = spread(720, 0.05, 0.6).map((m) => ({ move: m, range: m * 1.5 }));
  const volatile = spread(720, 0.5, 6).map((m) => ({ move: m, range: m * 1.5 }));

  it('makes a 2.5% move CRITICAL on a quiet symbol and leaves it LOW on a volatile one', () => {
    const move = { move: 2.5, range: 2.8 };
    const onQuiet = adaptivePriority('LOW', move, ranksOf(move, quiet), T, 'XRP/USDT');
    expect(onQuiet).toMatchObject({ priority: 'CRITICAL', percentiles: { move: 100, range: 100 } });
    expect(onQuiet?.raisedBy).toEqual(["return 2.5% at the 100th percentile of XRP/USDT's last 720"]);
    const onVolatile = adaptivePriority('LOW', move, ranksOf(move, volatile), T, 'DOGE/USDT');
    expect(onVolatile?.priority).toBe('LOW');
    expect(onVolatile?.raisedBy).toEqual([]);
    expect(onVolatile?.percentiles.move).toBeLessThan(50);
  });

  it('uses the cut-offs: MEDIUM, HIGH and CRITICAL at the 97th, 98.5th and 99.5th percentile', () => {
    const history = Array.from({ length: 1000 }, (_, i) => ({ move: i / 100 })); // 0.00 … 9.99
    const at = (move: number) =>
      adaptivePriority('LOW', { move }, ranksOf({ move }, history), T, 'X')?.priority;
    expect(at(9.69)).toBe('LOW'); // 96.9th
    expect(at(9.7)).toBe('MEDIUM'); // 97th
    expect(at(9.839)).toBe('MEDIUM');
    expect(at(9.85)).toBe('HIGH'); // 98.5th
    expect(at(9.939)).toBe('HIGH');
    expect(at(9.95)).toBe('CRITICAL'); // 99.5th
    expect(adaptivePriority('LOW', { move: 9.9 }, ranksOf({ move: 9.9 }, history), T, 'X')?.raisedBy).toEqual(
      ["return 9.9% at the 99th percentile of X's last 1000"],
    );
  });

  it('covers every bar whose |return| or range is in the top 1% of its window with HIGH or CRITICAL', () => {
    const bars = spread(2000, 0.01, 4).map((m, i) => ({ move: m, range: ((i * 53) % 2000) / 400 }));
    const window = new RollingWindow();
    let topBars = 0;
    let raised = 0;
    bars.forEach((bar, i) => {
      const ranks = window.observe(`S|${i}`, i, bar, 720);
      if (i < 720) return;
      const trailing = bars.slice(i - 719, i + 1); // 720 bars, this one included
      const top = (f: 'move' | 'range') =>
        trailing.filter((b) => b[f] > bar[f]).length < 0.01 * trailing.length;
      const decision = adaptivePriority('LOW', bar, ranks, T, 'S');
      if (top('move') || top('range')) {
        topBars++;
        expect(['HIGH', 'CRITICAL']).toContain(decision?.priority);
      }
      if (decision?.priority === 'HIGH' || decision?.priority === 'CRITICAL') raised++;
    });
    expect(topBars).toBeGreaterThan(0);
    expect(raised / (bars.length - 720)).toBeLessThan(0.04); // and HIGH stays rare
  });

  it('gives the same priorities to a series three times as volatile (the static rules would not)', () => {
    const series = spread(1500, 0.01, 2).map((m, i) => ({ move: m, range: m + ((i * 31) % 50) / 40 }));
    const priorities = (scale: number) => {
      const window = new RollingWindow();
      return series.map((bar, i) => {
        const obs = { move: bar.move * scale, range: bar.range * scale };
        return (
          adaptivePriority('LOW', obs, window.observe(`S|${i}`, i, obs, 720), T, 'S')?.priority ?? 'none'
        );
      });
    };
    const calm = priorities(1);
    expect(priorities(3)).toEqual(calm);
    expect(calm.filter((p) => p === 'CRITICAL').length).toBeGreaterThan(0);
  });

  it('raises a volume spike one level less than a price move', () => {
    const history = Array.from({ length: 1000 }, (_, i) => ({ move: 1, volumeRatio: i / 100 }));
    const obs = (volumeRatio: number) => ({ move: 0.5, volumeRatio });
    const at = (v: number) => adaptivePriority('LOW', obs(v), ranksOf(obs(v), history), T, 'X')?.priority;
    expect(at(9.9)).toBe('MEDIUM');
    expect(at(12)).toBe('HIGH');
  });

  it('never lowers the declared priority', () => {
    const obs = { move: 0.1 };
    expect(adaptivePriority('HIGH', obs, ranksOf(obs, quiet), T, 'X')?.priority).toBe('HIGH');
  });

  it('gives no answer until the window holds adaptive_min_history observations', () => {
    const obs = { move: 5 };
    expect(adaptivePriority('LOW', obs, ranksOf(obs, quiet.slice(0, 239)), T, 'X')).toBeNull();
    expect(adaptivePriority('LOW', obs, ranksOf(obs, quiet.slice(0, 240)), T, 'X')?.priority).toBe(
      'CRITICAL',
    );
    // A figure with too short a history is not ranked; the others still are.
    const partial = { move: 0.1, range: 9 };
    const ranks = ranksOf(partial, [
      ...quiet.slice(0, 300).map((q) => ({ move: q.move })),
      ...quiet.slice(0, 100),
    ]);
    expect(adaptivePriority('LOW', partial, ranks, T, 'X')).toEqual({
      priority: 'LOW',
      raisedBy: [],
      percentiles: { move: expect.any(Number) },
    });
  });
});

describe('RollingWindow', () => {
  it('keeps one observation per id, the latest `size` by time, and ranks against the others', () => {
    const w = new RollingWindow();
    expect(w.observe('a|1', 1, { move: 1 }, 3)).toEqual({ history: 0, move: { n: 0, less: 0 } });
    w.observe('a|2', 2, { move: 2 }, 3);
    // The same bar sent by a second agent counts once.
    expect(w.observe('a|2', 2, { move: 2 }, 3)).toEqual({ history: 1, move: { n: 1, less: 1 } });
    w.observe('a|3', 3, { move: 3 }, 3);
    expect(w.observe('a|4', 4, { move: 2.5 }, 3)).toEqual({ history: 2, move: { n: 2, less: 1 } });
  });
});

import { PRIORITIES, type EventThresholds, type Priority } from './event.types.js';
import type { PriorityDecision } from './priority.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const rank = (p: Priority): number => PRIORITIES.indexOf(p);

/** What adaptive ranking reads from an event: the size of its move, its range and its volume. */
export interface Observation {
  /** |change_percent| (or |price_change_pct|, |price_change_percent|), in percent. */
  move?: number;
  /** The bar's range in percent of the previous close (`volatility` or `volatility_pct`: the true range). */
  range?: number;
  /** volume / average volume (`volume_ratio`, or `volume` / `avg_volume`). */
  volumeRatio?: number;
}

export const FEATURES = ['move', 'range', 'volumeRatio'] as const;
export type Feature = (typeof FEATURES)[number];

/**
 * The observation an event's data gives, or null when it carries none of the figures (such an event — a
 * whale transfer, a funding rate — keeps the static rules). The same fields the static rules read.
 */
export function observationOf(data: Record<string, unknown>): Observation | null {
  const change = num(data.change_percent) ?? num(data.price_change_pct) ?? num(data.price_change_percent);
  const range = num(data.volatility) ?? num(data.volatility_pct);
  const volume = num(data.volume);
  const average = num(data.avg_volume) ?? num(data.average_volume);
  const ratio =
    num(data.volume_ratio) ??
    (volume !== undefined && average !== undefined && average > 0 ? volume / average : undefined);
  const obs: Observation = {};
  if (change !== undefined) obs.move = Math.abs(change);
  if (range !== undefined && range >= 0) obs.range = range;
  if (ratio !== undefined && ratio >= 0) obs.volumeRatio = ratio;
  return obs.move === undefined && obs.range === undefined ? null : obs;
}

/** Where one figure stands in the window: `less` of the `n` other observations are strictly smaller. */
export interface FeatureRank {
  n: number;
  less: number;
}

/** An event's figures ranked against its window (the event's own observation left out). */
export interface WindowRanks {
  /** Other observations in the window. */
  history: number;
  move?: FeatureRank;
  range?: FeatureRank;
  volumeRatio?: FeatureRank;
}

/**
 * Percentile rank of `x` among `values`: the share (0–100) strictly below it. Ties count as not below, so
 * a figure equal to the window's largest is not "above everything"; the largest figure seen ranks 100.
 */
export function rankIn(values: readonly number[], x: number): FeatureRank {
  let less = 0;
  for (const v of values) if (v < x) less++;
  return { n: values.length, less };
}

export const percentileOf = (r: FeatureRank): number => (r.n > 0 ? (100 * r.less) / r.n : 0);

/** "99.6th": rounded down to one decimal, so the text never claims more than the rule used. */
function ordinal(pct: number): string {
  const shown = Math.floor(pct * 10) / 10;
  const whole = Math.floor(shown);
  const text = shown === whole ? String(whole) : shown.toFixed(1);
  const last = whole % 100;
  const suffix =
    shown !== whole || (last >= 11 && last <= 13) ? 'th' : (['th', 'st', 'nd', 'rd'][whole % 10] ?? 'th');
  return `${text}${suffix}`;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export interface AdaptiveDecision extends PriorityDecision {
  /** Percentile rank (0–100, two decimals) of each figure the event carried and the window could rank. */
  percentiles: Partial<Record<Feature, number>>;
}

/**
 * Adaptive priority: the event's move ranked against the recent behaviour of its symbol (or of all symbols)
 * instead of fixed BTC-sized thresholds, so HIGH and CRITICAL mean "rare for this asset" whatever its volatility.
 * - |return| or range at ≥ adaptive_critical_pct → CRITICAL, ≥ adaptive_high_pct → HIGH,
 *   ≥ adaptive_medium_pct → MEDIUM;
 * - volume ratio (a spike without a price move is worth a look, not an instant answer) one level lower:
 *   ≥ adaptive_critical_pct → HIGH, ≥ adaptive_high_pct → MEDIUM.
 * Like the static rules it only raises: never below the declared priority. A figure is ranked only when the
 * window holds at least `adaptive_min_history` other observations of it; returns null when no figure can be
 * ranked yet (the caller falls back to the static rules). `scope` names the window in the reasons.
 */
export function adaptivePriority(
  declared: Priority,
  obs: Observation,
  ranks: WindowRanks,
  t: EventThresholds,
  scope: string,
): AdaptiveDecision | null {
  let level = rank(declared);
  const raisedBy: string[] = [];
  const percentiles: AdaptiveDecision['percentiles'] = {};
  let ranked = false;
  const consider = (feature: Feature, label: (x: number) => string, cuts: [number, Priority][]): void => {
    const x = obs[feature];
    const r = ranks[feature];
    if (x === undefined || r === undefined || r.n < t.adaptive_min_history) return;
    ranked = true;
    const pct = percentileOf(r);
    percentiles[feature] = round2(pct);
    for (const [cut, to] of cuts) {
      if (pct >= cut) {
        if (rank(to) > level) {
          level = rank(to);
          raisedBy.push(`${label(x)} at the ${ordinal(pct)} percentile of ${scope}'s last ${r.n}`);
        }
        return;
      }
    }
  };
  const priceCuts: [number, Priority][] = [
    [t.adaptive_critical_pct, 'CRITICAL'],
    [t.adaptive_high_pct, 'HIGH'],
    [t.adaptive_medium_pct, 'MEDIUM'],
  ];
  consider('move', (x) => `return ${round2(x)}%`, priceCuts);
  consider('range', (x) => `range ${round2(x)}%`, priceCuts);
  consider('volumeRatio', (x) => `volume ${round2(x)}× average`, [
    [t.adaptive_critical_pct, 'HIGH'],
    [t.adaptive_high_pct, 'MEDIUM'],
  ]);
  if (!ranked) return null;
  return { priority: PRIORITIES[level], raisedBy, percentiles };
}

/**
 * The rolling window in memory, with the semantics of the Redis one (EventWindowRepository): one observation
 * per id (symbol and event time; the first one wins), the `size` latest by time kept, an event ranked against
 * the others. For offline use (a replay's analytic rows, tests); the gate uses the shared Redis window.
 */
export class RollingWindow {
  private readonly entries = new Map<string, { at: number; obs: Observation }>();

  observe(id: string, at: number, obs: Observation, size: number): WindowRanks {
    if (!this.entries.has(id)) {
      this.entries.set(id, { at, obs });
      if (this.entries.size > size) {
        const byTime = [...this.entries].sort((a, b) => a[1].at - b[1].at || (a[0] < b[0] ? -1 : 1));
        for (const [old] of byTime.slice(0, this.entries.size - size)) this.entries.delete(old);
      }
    }
    const others = [...this.entries].filter(([key]) => key !== id).map(([, e]) => e.obs);
    const ranks: WindowRanks = { history: others.length };
    for (const f of FEATURES) {
      const x = obs[f];
      if (x === undefined) continue;
      ranks[f] = rankIn(
        others.map((o) => o[f]).filter((v): v is number => v !== undefined),
        x,
      );
    }
    return ranks;
  }
}

import { PRIORITIES, type EventThresholds, type Priority } from './event.types.js';

const rank = (p: Priority): number => PRIORITIES.indexOf(p);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export interface PriorityDecision {
  priority: Priority;
  /** Why the priority was raised above the declared one (empty when it was not). */
  raisedBy: string[];
}

/**
 * Effective priority = the higher of the declared one and what the data implies:
 * - |change_percent| (or |price_change_pct|) ≥ price_change_pct → HIGH; ≥ twice that → CRITICAL;
 * - volume / avg_volume (or volume_ratio) ≥ volume_spike_multiplier → HIGH;
 * - volatility (percent) > volatility_threshold → one step up from the result of the rules above.
 */
export function effectivePriority(
  declared: Priority,
  data: Record<string, unknown>,
  t: EventThresholds,
): PriorityDecision {
  let level = rank(declared);
  const raisedBy: string[] = [];
  const raise = (to: number, why: string): void => {
    if (to > level) {
      level = to;
      raisedBy.push(why);
    }
  };
  const change = num(data.change_percent) ?? num(data.price_change_pct) ?? num(data.price_change_percent);
  if (change !== null) {
    const move = Math.abs(change);
    if (move >= 2 * t.price_change_pct)
      raise(rank('CRITICAL'), `price move ${move}% ≥ ${2 * t.price_change_pct}%`);
    else if (move >= t.price_change_pct) raise(rank('HIGH'), `price move ${move}% ≥ ${t.price_change_pct}%`);
  }
  const volume = num(data.volume);
  const average = num(data.avg_volume) ?? num(data.average_volume);
  const ratio =
    num(data.volume_ratio) ?? (volume !== null && average !== null && average > 0 ? volume / average : null);
  if (ratio !== null && ratio >= t.volume_spike_multiplier) {
    raise(rank('HIGH'), `volume ${ratio.toFixed(2)}× average ≥ ${t.volume_spike_multiplier}×`);
  }
  const volatility = num(data.volatility) ?? num(data.volatility_pct);
  if (volatility !== null && volatility > t.volatility_threshold && level < rank('CRITICAL')) {
    level += 1;
    raisedBy.push(`volatility ${volatility}% > ${t.volatility_threshold}%`);
  }
  return { priority: PRIORITIES[level], raisedBy };
}

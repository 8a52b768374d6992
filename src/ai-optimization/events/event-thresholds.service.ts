import { BadRequestException, Injectable, Logger } from '@nestjs/common';
import { SettingsRepository } from '../../redis/repositories/settings.repository.js';
import {
  DEFAULT_EVENT_THRESHOLDS,
  THRESHOLD_CHOICES,
  THRESHOLD_RANGES,
  type EventThresholds,
} from './event.types.js';

/** Event-gate thresholds, changed at run time and kept in Redis so every instance sees the same values. */
@Injectable()
export class EventThresholdsService {
  private readonly logger = new Logger(EventThresholdsService.name);

  constructor(private readonly settings: SettingsRepository) {}

  /** The thresholds in force, from this instance's copy of the run-time settings (no I/O). */
  current(): EventThresholds {
    const stored = this.settings.snapshot.eventThresholds;
    return typeof stored === 'object' && stored !== null
      ? { ...DEFAULT_EVENT_THRESHOLDS, ...(stored as Partial<EventThresholds>) }
      : { ...DEFAULT_EVENT_THRESHOLDS };
  }

  /**
   * The thresholds in force, read again when this instance's copy is older than a second: the event gate
   * decides a priority before the pre-call step that would notice a change made on another instance, so
   * without this a change would reach an idle instance only after its first event.
   */
  async recent(): Promise<EventThresholds> {
    await this.settings.fresh(1000);
    return this.current();
  }

  /** The thresholds read fresh from the store (its last copy when Redis is away). */
  async get(): Promise<EventThresholds> {
    await this.settings.reload();
    return this.current();
  }

  /** Partial update; every out-of-range value is reported in one 400 naming the field. */
  async update(change: Record<string, unknown>): Promise<EventThresholds> {
    const problems: string[] = [];
    const accepted: Record<string, number | string> = {};
    const known = [...Object.keys(THRESHOLD_RANGES), ...Object.keys(THRESHOLD_CHOICES)];
    for (const [field, value] of Object.entries(change)) {
      if (Object.hasOwn(THRESHOLD_CHOICES, field)) {
        const choices = THRESHOLD_CHOICES[field as keyof typeof THRESHOLD_CHOICES];
        if (typeof value !== 'string' || !choices.includes(value)) {
          problems.push(`${field} must be one of: ${choices.join(', ')}`);
        } else accepted[field] = value;
        continue;
      }
      const range = Object.hasOwn(THRESHOLD_RANGES, field)
        ? THRESHOLD_RANGES[field as keyof typeof THRESHOLD_RANGES]
        : undefined;
      if (!range) {
        problems.push(`${field} is not a threshold (known: ${known.join(', ')})`);
        continue;
      }
      const [min, max, integer] = range;
      if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        value < min ||
        value > max ||
        (integer && !Number.isInteger(value))
      ) {
        problems.push(`${field} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`);
        continue;
      }
      accepted[field] = value;
    }
    if (problems.length > 0) throw new BadRequestException(problems);
    const next: EventThresholds = { ...(await this.get()), ...accepted };
    problems.push(...consistencyProblems(next, accepted));
    if (problems.length > 0) throw new BadRequestException(problems);
    await this.settings.setEventThresholds(next);
    this.logger.log(`Event thresholds changed: ${JSON.stringify(accepted)}`);
    return next;
  }
}

/**
 * Rules between fields, checked on the result of a change: the adaptive cut-offs must rise from MEDIUM to
 * CRITICAL, and a window must be able to hold the history adaptive ranking waits for. The message names the
 * field the change set (the other one when the change set neither).
 */
function consistencyProblems(t: EventThresholds, changed: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const name = (a: string, b: string): string => (a in changed || !(b in changed) ? a : b);
  if (t.adaptive_medium_pct > t.adaptive_high_pct) {
    const f = name('adaptive_medium_pct', 'adaptive_high_pct');
    problems.push(
      `${f} must keep adaptive_medium_pct (${t.adaptive_medium_pct}) ≤ adaptive_high_pct (${t.adaptive_high_pct})`,
    );
  }
  if (t.adaptive_high_pct > t.adaptive_critical_pct) {
    const f = name('adaptive_high_pct', 'adaptive_critical_pct');
    problems.push(
      `${f} must keep adaptive_high_pct (${t.adaptive_high_pct}) ≤ adaptive_critical_pct (${t.adaptive_critical_pct})`,
    );
  }
  if (t.adaptive_min_history > t.adaptive_window) {
    const f = name('adaptive_min_history', 'adaptive_window');
    problems.push(
      `${f} must keep adaptive_min_history (${t.adaptive_min_history}) ≤ adaptive_window (${t.adaptive_window})`,
    );
  }
  return problems;
}

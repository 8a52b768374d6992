import { BadRequestException, Injectable, Logger } from '@nestjs/common';
import { SettingsRepository } from '../../redis/repositories/settings.repository.js';
import { DEFAULT_EVENT_THRESHOLDS, THRESHOLD_RANGES, type EventThresholds } from './event.types.js';

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

  /** The thresholds read fresh from the store (its last copy when Redis is away). */
  async get(): Promise<EventThresholds> {
    await this.settings.reload();
    return this.current();
  }

  /** Partial update; every out-of-range value is reported in one 400 naming the field. */
  async update(change: Record<string, unknown>): Promise<EventThresholds> {
    const problems: string[] = [];
    const accepted: Partial<EventThresholds> = {};
    for (const [field, value] of Object.entries(change)) {
      const range = Object.hasOwn(THRESHOLD_RANGES, field)
        ? THRESHOLD_RANGES[field as keyof EventThresholds]
        : undefined;
      if (!range) {
        problems.push(`${field} is not a threshold (known: ${Object.keys(THRESHOLD_RANGES).join(', ')})`);
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
      accepted[field as keyof EventThresholds] = value;
    }
    if (problems.length > 0) throw new BadRequestException(problems);
    const next = { ...(await this.get()), ...accepted };
    await this.settings.setEventThresholds(next);
    this.logger.log(`Event thresholds changed: ${JSON.stringify(accepted)}`);
    return next;
  }
}

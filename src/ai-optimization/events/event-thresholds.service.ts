import { BadRequestException, Injectable, Logger } from '@nestjs/common';
import { RedisService } from '../../redis/redis.service.js';
import { DEFAULT_EVENT_THRESHOLDS, THRESHOLD_RANGES, type EventThresholds } from './event.types.js';

/** Event-gate thresholds, changed at run time and kept in Redis so every instance sees the same values. */
@Injectable()
export class EventThresholdsService {
  private readonly logger = new Logger(EventThresholdsService.name);

  constructor(private readonly redis: RedisService) {}

  async get(): Promise<EventThresholds> {
    try {
      const raw = await this.redis.client.get(this.redis.keys.eventThresholds());
      return raw === null
        ? { ...DEFAULT_EVENT_THRESHOLDS }
        : { ...DEFAULT_EVENT_THRESHOLDS, ...(JSON.parse(raw) as Partial<EventThresholds>) };
    } catch {
      return { ...DEFAULT_EVENT_THRESHOLDS };
    }
  }

  /** Partial update; every out-of-range value is reported in one 400 naming the field. */
  async update(change: Record<string, unknown>): Promise<EventThresholds> {
    const problems: string[] = [];
    const accepted: Partial<EventThresholds> = {};
    for (const [field, value] of Object.entries(change)) {
      const range = THRESHOLD_RANGES[field as keyof EventThresholds] as [number, number, boolean] | undefined;
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
    await this.redis.client.set(this.redis.keys.eventThresholds(), JSON.stringify(next));
    this.logger.log(`Event thresholds changed: ${JSON.stringify(accepted)}`);
    return next;
  }
}

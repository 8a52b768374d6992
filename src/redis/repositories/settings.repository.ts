import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/** Run-time settings as stored (JSON), with the version every change bumps. */
export interface StoredSettings {
  version: string;
  sampling: Record<string, unknown>;
  eventThresholds: unknown;
  budgets: unknown;
}

const EMPTY: StoredSettings = { version: '', sampling: {}, eventThresholds: null, budgets: null };

function parse(raw: string | null): unknown {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return null;
  }
}

/**
 * Run-time settings (sampling strategies, event thresholds, budgets) changed through the API and shared by
 * every instance. Each instance keeps the last copy it read: the gateway decides from it without a read of its
 * own, and the pre-call script compares its version with the stored one, so a change made on another
 * instance applies to the very next request. While Redis is away the last copy applies (a hard budget set at
 * run time stays hard).
 */
@Injectable()
export class SettingsRepository implements OnModuleInit {
  private readonly logger = new Logger(SettingsRepository.name);
  private current: StoredSettings = EMPTY;
  /** When the copy was last read (performance.now(), real time). */
  private readAt = 0;

  constructor(private readonly redis: RedisService) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
  }

  /** The last settings read: no I/O. */
  get snapshot(): StoredSettings {
    return this.current;
  }

  /** Reads every setting and the version in one round trip; keeps the last copy when Redis does not answer. */
  async reload(): Promise<StoredSettings> {
    const k = this.redis.keys;
    const read = await this.redis.run(
      'settings.read',
      async (c) => {
        const [version, sampling, thresholds, budgets] = await Promise.all([
          c.get(k.settingsVersion()),
          c.hgetall(k.samplingStrategies()),
          c.get(k.eventThresholds()),
          c.get(k.budgetSettings()),
        ]);
        const parsed: Record<string, unknown> = {};
        for (const [agent, raw] of Object.entries(sampling)) {
          const value = parse(raw);
          if (value !== null) parsed[agent] = value;
        }
        return {
          version: version ?? '',
          sampling: parsed,
          eventThresholds: parse(thresholds),
          budgets: parse(budgets),
        } satisfies StoredSettings;
      },
      () => null,
    );
    if (read) this.current = read;
    this.readAt = performance.now();
    return this.current;
  }

  /**
   * The copy, read again first when it is older than `maxAgeMs` (real time): for deciders that act before any
   * pre-call step could notice a change made on another instance (the event gate's priority).
   */
  async fresh(maxAgeMs: number): Promise<StoredSettings> {
    if (performance.now() - this.readAt >= maxAgeMs) await this.reload();
    return this.current;
  }

  async setSampling(agent: string, value: unknown): Promise<void> {
    await this.write((tx) => tx.hset(this.redis.keys.samplingStrategies(), agent, JSON.stringify(value)));
  }

  async setEventThresholds(value: unknown): Promise<void> {
    await this.write((tx) => tx.set(this.redis.keys.eventThresholds(), JSON.stringify(value)));
  }

  async setBudgets(value: unknown): Promise<void> {
    await this.write((tx) => tx.set(this.redis.keys.budgetSettings(), JSON.stringify(value)));
  }

  /** The change and the version bump in one transaction, then a fresh copy here. */
  private async write(change: (tx: ReturnType<RedisService['client']['multi']>) => void): Promise<void> {
    await this.redis.run('settings.write', async (c) => {
      const tx = c.multi();
      change(tx);
      tx.incr(this.redis.keys.settingsVersion());
      const results = await tx.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0] as Error;
    });
    await this.reload();
    this.logger.log(`Run-time settings changed (version ${this.current.version})`);
  }
}

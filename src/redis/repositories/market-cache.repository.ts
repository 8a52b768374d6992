import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/**
 * Vendor answers kept briefly (seconds) so a burst of bots asking for the same market data costs one vendor
 * request. Both operations fail open: without Redis every request asks the vendor.
 */
@Injectable()
export class MarketCacheRepository {
  constructor(private readonly redis: RedisService) {}

  /** The stored answer under `key`, or null on a miss (an unreadable entry counts as one). */
  async read(key: string): Promise<{ value: unknown } | null> {
    const raw = await this.redis.run(
      'market_cache.read',
      (client) => client.get(this.redis.keys.market(key)),
      () => null,
    );
    if (raw === null) return null;
    try {
      return { value: JSON.parse(raw) as unknown };
    } catch {
      return null;
    }
  }

  async write(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.redis.run(
      'market_cache.write',
      async (client) => {
        await client.set(this.redis.keys.market(key), JSON.stringify(value), 'EX', ttlSeconds);
      },
      () => undefined,
    );
  }
}

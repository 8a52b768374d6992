import { Injectable, Logger } from '@nestjs/common';
import { RedisService } from '../redis/redis.service.js';

/**
 * Short-lived cache of vendor answers in Redis, with identical concurrent fetches coalesced in process,
 * so a burst of bots asking for the same context costs one vendor request.
 */
@Injectable()
export class MarketCache {
  private readonly logger = new Logger(MarketCache.name);
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(private readonly redis: RedisService) {}

  async getOrFetch<T>(
    key: string,
    ttlSeconds: number,
    fetcher: () => Promise<T>,
  ): Promise<{ value: T; cached: boolean }> {
    const redisKey = this.redis.keys.market(key);
    try {
      const hit = await this.redis.client.get(redisKey);
      if (hit !== null) return { value: JSON.parse(hit) as T, cached: true };
    } catch (err) {
      this.logger.debug(`Market cache read skipped: ${(err as Error).message}`);
    }
    const existing = this.inflight.get(redisKey) as Promise<T> | undefined;
    if (existing) return { value: await existing, cached: false };
    const promise = fetcher();
    this.inflight.set(redisKey, promise);
    try {
      const value = await promise;
      try {
        await this.redis.client.set(redisKey, JSON.stringify(value), 'EX', ttlSeconds);
      } catch (err) {
        this.logger.debug(`Market cache write skipped: ${(err as Error).message}`);
      }
      return { value, cached: false };
    } finally {
      this.inflight.delete(redisKey);
    }
  }
}

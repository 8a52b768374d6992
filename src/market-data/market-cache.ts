import { Injectable } from '@nestjs/common';
import { MarketCacheRepository } from '../redis/repositories/market-cache.repository.js';

/**
 * Short-lived cache of vendor answers in Redis, with identical concurrent fetches coalesced in process,
 * so a burst of bots asking for the same context costs one vendor request. Without Redis every request
 * reaches the vendor (the repository fails open); concurrent ones are still coalesced.
 */
@Injectable()
export class MarketCache {
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(private readonly store: MarketCacheRepository) {}

  async getOrFetch<T>(
    key: string,
    ttlSeconds: number,
    fetcher: () => Promise<T>,
  ): Promise<{ value: T; cached: boolean }> {
    const hit = await this.store.read(key);
    if (hit !== null) return { value: hit.value as T, cached: true };
    const existing = this.inflight.get(key) as Promise<T> | undefined;
    if (existing) return { value: await existing, cached: false };
    const promise = fetcher();
    this.inflight.set(key, promise);
    try {
      const value = await promise;
      await this.store.write(key, value, ttlSeconds);
      return { value, cached: false };
    } finally {
      this.inflight.delete(key);
    }
  }
}

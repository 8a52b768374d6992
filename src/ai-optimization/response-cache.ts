import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { MODELS_CONFIG } from '../config/config.module.js';
import type { ModelsConfig } from '../config/yaml-config.js';
import { RedisService } from '../redis/redis.service.js';

/** A stored answer: what the caller gets back, and what producing it cost (the saving of every later hit). */
export interface CachedAnswer {
  response: string;
  model: string;
  provider: string;
  prompt_tokens: number | null;
  cached_prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  created_at: number;
  /** The full upstream completion, kept by the OpenAI-compatible door to replay it. */
  completion?: unknown;
}

/** JSON with sorted keys, so equal requests hash equally whatever the order their fields arrived in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const requestHash = (canonical: unknown): string =>
  createHash('sha256').update(canonicalJson(canonical)).digest('hex').slice(0, 40);

/** Response cache (DESIGN 5): `ai:response:{agent}:{symbol}:{type}:{hash}`, TTL per response type. */
@Injectable()
export class ResponseCache {
  private readonly logger = new Logger(ResponseCache.name);

  constructor(
    private readonly redis: RedisService,
    @Inject(MODELS_CONFIG) private readonly models: ModelsConfig,
  ) {}

  key(agent: string, symbol: string | undefined, responseType: string, hash: string): string {
    return this.redis.keys.responseCache(agent, symbol ?? '-', responseType, hash);
  }

  ttlFor(responseType: string, requested?: number): number {
    return requested ?? this.models.ttlSeconds[responseType] ?? this.models.defaultTtlSeconds;
  }

  /** A miss when Redis is down: no cache is better than no answer. */
  async lookup(key: string): Promise<CachedAnswer | null> {
    try {
      const raw = await this.redis.client.get(key);
      return raw === null ? null : (JSON.parse(raw) as CachedAnswer);
    } catch (err) {
      this.logger.debug(`Cache lookup skipped: ${(err as Error).message}`);
      return null;
    }
  }

  async store(key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void> {
    try {
      await this.redis.client.set(key, JSON.stringify(answer), 'EX', ttlSeconds);
    } catch (err) {
      this.logger.debug(`Cache store skipped: ${(err as Error).message}`);
    }
  }
}

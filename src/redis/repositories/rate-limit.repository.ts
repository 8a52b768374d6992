import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

export interface LimitState {
  limit: number;
  remaining: number;
  /** Milliseconds until the limit is back to its full burst. */
  resetMs: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Which limit refused the request. */
  refused: 'requests' | 'tokens' | null;
  retryAfterMs: number;
  requests: LimitState | null;
  tokens: LimitState | null;
}

/** Per-key requests and tokens per minute, taken atomically in Redis (the RATE_LIMIT script, GCRA). */
@Injectable()
export class RateLimitRepository {
  constructor(private readonly redis: RedisService) {}

  /** Throws StoreUnavailableError when Redis does not answer (policy `rate_limit.take`). */
  async take(
    keyId: string,
    now: number,
    rpm: number | null,
    tpm: number | null,
    tokens: number,
  ): Promise<RateDecision> {
    const k = this.redis.keys;
    const r = await this.redis.run('rate_limit.take', (c) =>
      c.rateLimit(
        k.rateLimit(keyId, 'requests'),
        k.rateLimit(keyId, 'tokens'),
        now,
        rpm ?? -1,
        tpm ?? -1,
        tokens,
      ),
    );
    const state = (limit: number | null, remaining: string, reset: string): LimitState | null =>
      limit === null
        ? null
        : { limit, remaining: Math.max(0, Number(remaining)), resetMs: Math.max(0, Number(reset)) };
    return {
      allowed: r[0] === '1',
      refused: r[1] === 'requests' || r[1] === 'tokens' ? r[1] : null,
      retryAfterMs: Math.max(0, Number(r[2])),
      requests: state(rpm, r[3], r[4]),
      tokens: state(tpm, r[5], r[6]),
    };
  }
}

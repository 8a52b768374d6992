import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { RedisService } from '../redis/redis.service.js';

@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly redis: RedisService,
    private readonly health: HealthIndicatorService,
  ) {}

  async check(key = 'redis'): Promise<HealthIndicatorResult> {
    const indicator = this.health.check(key);
    const up = await this.redis.ping(1000);
    const details = { store: this.redis.embedded ? 'embedded' : 'redis' };
    return up ? indicator.up(details) : indicator.down({ ...details, message: 'Redis does not answer PING' });
  }
}

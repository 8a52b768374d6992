import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
} from '@nestjs/terminus';
import { Public } from '../common/auth.js';
import { ProviderRegistry } from '../ai-optimization/providers/provider-registry.js';
import { RedisHealthIndicator } from './redis.health.js';
import { MarketContextService } from '../market-data/market-context.service.js';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly redis: RedisHealthIndicator,
    private readonly providers: ProviderRegistry,
    private readonly market: MarketContextService,
  ) {}

  /** The process is alive (no dependency is checked: a Redis outage must not restart every pod). */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** Ready to serve: Redis answers. Providers are reported but never make Bastion unready. */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.redis.check('redis'),
      () =>
        Promise.resolve(
          this.indicators.check('llm_providers').up({
            configured: this.providers.configuredProviders,
            default_model: this.providers.defaultModel() ?? null,
          }),
        ),
      // Optional sources are reported (disabled, up or down) but never make Bastion unready.
      async () => this.indicators.check('market_sources').up(await this.market.healthDetails()),
    ]);
  }
}

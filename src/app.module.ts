import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ValidationPipe } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import type { Env } from './config/app-config.js';
import { AppConfigModule } from './config/config.module.js';
import { type ServerConfig, serverConfig } from './config/namespaces.js';
import { Scrubber } from './common/secrets.js';
import { RedisModule } from './redis/redis.module.js';
import { CommonModule } from './common/common.module.js';
import { Clock } from './common/clock.js';
import { ApiKeyGuard } from './common/auth.js';
import { AllExceptionsFilter } from './common/exception.filter.js';
import { loggerParams } from './common/logging.js';
import { AiOptimizationModule } from './ai-optimization/ai-optimization.module.js';
import { MarketEventSinkModule } from './ai-optimization/events/market-event-sink.js';
import { CostMonitoringModule } from './cost-monitoring/cost-monitoring.module.js';
import { MarketDataModule } from './market-data/market-data.module.js';
import { AgentsModule } from './agents/agents.module.js';
import { HealthModule } from './health/health.module.js';
import { KeysModule } from './keys/keys.module.js';

export interface AppOptions {
  /** Where JSON logs go (tests capture them); stdout by default. */
  logStream?: DestinationStream;
  /** Replaces the wall clock (tests move time instead of waiting). */
  clock?: Clock;
}

@Module({})
export class AppModule {
  /** Rejects with ConfigValidationError, listing every problem, when `env` is not a valid configuration. */
  static async forRoot(env: Env, options: AppOptions = {}): Promise<DynamicModule> {
    return {
      module: AppModule,
      imports: [
        await AppConfigModule.forRoot(env),
        // Every log line goes through the scrubber: no configured secret or credential is ever written.
        LoggerModule.forRootAsync({
          inject: [serverConfig.KEY, Scrubber],
          useFactory: (server: ServerConfig, scrubber: Scrubber) =>
            loggerParams(server, scrubber, options.logStream),
        }),
        // Scheduled jobs (batch drain, budget checks, anomaly scans) start and stop with the app.
        ScheduleModule.forRoot(),
        CommonModule.forRoot(options.clock),
        RedisModule,
        CostMonitoringModule,
        AiOptimizationModule,
        MarketEventSinkModule, // market data's events reach the event gate through it
        MarketDataModule,
        AgentsModule,
        HealthModule,
        KeysModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({
            whitelist: true,
            forbidNonWhitelisted: true,
            transform: true,
            stopAtFirstError: false,
          }),
        },
      ],
    };
  }
}

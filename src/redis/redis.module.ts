import { Global, Module } from '@nestjs/common';
import { redisConfig, type RedisConfig } from '../config/namespaces.js';
import { RedisService } from './redis.service.js';
import { ApiKeyRepository } from './repositories/api-key.repository.js';
import { BatchRepository } from './repositories/batch.repository.js';
import { RateLimitRepository } from './repositories/rate-limit.repository.js';
import { BudgetRepository } from './repositories/budget.repository.js';
import { ConversationRepository } from './repositories/conversation.repository.js';
import { EventWindowRepository } from './repositories/event-window.repository.js';
import { LedgerRepository } from './repositories/ledger.repository.js';
import { PromptRepository } from './repositories/prompt.repository.js';
import { SettingsRepository } from './repositories/settings.repository.js';

/** The repositories every module may use: the only code that talks to Redis. */
const REPOSITORIES = [
  ApiKeyRepository,
  BatchRepository,
  BudgetRepository,
  ConversationRepository,
  EventWindowRepository,
  LedgerRepository,
  PromptRepository,
  RateLimitRepository,
  SettingsRepository,
];

@Global()
@Module({
  providers: [
    {
      provide: RedisService,
      inject: [redisConfig.KEY],
      useFactory: async (config: RedisConfig): Promise<RedisService> => {
        const service = new RedisService(config);
        await service.connect();
        return service;
      },
    },
    ...REPOSITORIES,
  ],
  exports: [RedisService, ...REPOSITORIES],
})
export class RedisModule {}

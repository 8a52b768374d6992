import { Global, Module } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { RedisService } from './redis.service.js';

@Global()
@Module({
  providers: [
    {
      provide: RedisService,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<RedisService> => {
        const service = new RedisService(config);
        await service.connect();
        return service;
      },
    },
  ],
  exports: [RedisService],
})
export class RedisModule {}

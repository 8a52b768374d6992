import { Module } from '@nestjs/common';
import { CostMonitoringModule } from '../cost-monitoring/cost-monitoring.module.js';
import { KeyUsageService } from './key-usage.service.js';
import { KeysController } from './keys.controller.js';
import { KeysService } from './keys.service.js';

/** API keys managed at run time: POST|GET|PATCH|DELETE /admin/keys, rotation and usage. */
@Module({
  imports: [CostMonitoringModule],
  controllers: [KeysController],
  providers: [KeysService, KeyUsageService],
})
export class KeysModule {}

import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TelemetryDto } from './telemetry.dto.js';
import { TelemetryService } from './telemetry.service.js';

@ApiTags('bots')
@ApiBearerAuth()
@Controller('bots')
export class TelemetryController {
  constructor(private readonly telemetry: TelemetryService) {}

  @Post(':bot_id/telemetry')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Report trades, order latencies, errors and heartbeats (stored with bounded retention)',
  })
  ingest(@Param('bot_id') botId: string, @Body() body: TelemetryDto) {
    return this.telemetry.ingest(botId, body);
  }
}

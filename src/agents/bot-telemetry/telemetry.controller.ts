import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BotParamsDto, TelemetryDto, type TelemetryAnswer } from './telemetry.dto.js';
import { TelemetryService } from './telemetry.service.js';

@ApiTags('bots')
@ApiBearerAuth()
@Controller('bots')
export class TelemetryController {
  constructor(private readonly telemetry: TelemetryService) {}

  @Post(':bot_id/telemetry')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Report trades, order latencies, errors and heartbeats (1–1000 events; bounded retention per bot)',
  })
  ingest(@Param() params: BotParamsDto, @Body() body: TelemetryDto): Promise<TelemetryAnswer> {
    return this.telemetry.ingest(params.bot_id, body);
  }
}

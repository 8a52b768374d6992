import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthedRequest } from '../../common/auth.js';
import { ApiJsonBody, JsonSchemaPipe } from '../../common/json-schema.js';
import { DEFAULT_TENANT } from '../../common/tenant.js';
import { BotParamsDto, TELEMETRY_SCHEMA, type TelemetryAnswer, type TelemetryDto } from './telemetry.dto.js';
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
      "Report trades, order latencies, errors and heartbeats (1–1000 events; bounded retention per bot); the bot is the key's tenant's",
  })
  @ApiJsonBody(TELEMETRY_SCHEMA)
  ingest(
    @Param() params: BotParamsDto,
    @Body(new JsonSchemaPipe<TelemetryDto>(TELEMETRY_SCHEMA)) body: TelemetryDto,
    @Req() req: AuthedRequest,
  ): Promise<TelemetryAnswer> {
    return this.telemetry.ingest(
      { tenant: req.caller?.tenant ?? DEFAULT_TENANT, botId: params.bot_id },
      body,
    );
  }
}

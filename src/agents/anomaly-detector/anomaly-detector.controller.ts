import { BadRequestException, Body, Controller, Get, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { BOT_ID_MESSAGE, BOT_ID_PATTERN } from '../bot-telemetry/telemetry.dto.js';
import { DetectAnomaliesDto, type DetectAnomaliesAnswer } from './anomaly-detector.dto.js';
import { AnomalyDetectorService } from './anomaly-detector.service.js';
import { AnomalyScanService, type AnomalyAlert, type ScanResult } from './anomaly-scan.service.js';
import type { AuthedRequest } from '../../common/auth.js';

const MAX_LIMIT = 50;

function limitOf(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    throw new BadRequestException(
      `limit must be an integer between 1 and ${MAX_LIMIT}, got "${raw.slice(0, 20)}"`,
    );
  }
  return n;
}

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/anomaly-detector')
export class AnomalyDetectorController {
  constructor(
    private readonly detector: AnomalyDetectorService,
    private readonly scans: AnomalyScanService,
  ) {}

  @Post('detect')
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Rule-based anomalies of a bot's telemetry; a model may explain them (THRESHOLD sampling on the score)",
  })
  detect(@Body() body: DetectAnomaliesDto, @Req() req: AuthedRequest): Promise<DetectAnomaliesAnswer> {
    return this.detector.detect(body, req);
  }

  @Get('recent')
  @ApiOperation({ summary: 'Results of the scheduled scans, newest first: of one bot (?bot_id=) or of all' })
  @ApiQuery({ name: 'bot_id', required: false })
  @ApiQuery({ name: 'limit', required: false, description: `1–${MAX_LIMIT}, default 10` })
  recent(
    @Query('bot_id') botId?: string,
    @Query('limit') limit?: string,
  ): Promise<{ results: ScanResult[] }> {
    if (botId !== undefined && !BOT_ID_PATTERN.test(botId)) throw new BadRequestException(BOT_ID_MESSAGE);
    return this.scans.recent(botId, limitOf(limit, 10)).then((results) => ({ results }));
  }

  @Get('alerts')
  @ApiOperation({
    summary: 'Anomaly alerts sent by the scheduled scans, newest first, with their deliveries',
  })
  @ApiQuery({ name: 'limit', required: false, description: `1–${MAX_LIMIT}, default 20` })
  alerts(@Query('limit') limit?: string): Promise<{ alerts: AnomalyAlert[] }> {
    return this.scans.alerts(limitOf(limit, 20)).then((alerts) => ({ alerts }));
  }
}

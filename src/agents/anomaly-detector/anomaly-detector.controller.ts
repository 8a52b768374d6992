import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Get,
  HttpCode,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { BOT_ID_MESSAGE, BOT_ID_PATTERN } from '../bot-telemetry/telemetry.dto.js';
import { DetectAnomaliesDto, type DetectAnomaliesAnswer } from './anomaly-detector.dto.js';
import { AnomalyDetectorService } from './anomaly-detector.service.js';
import { AnomalyScanService, type AnomalyAlert, type ScanResult } from './anomaly-scan.service.js';
import type { AuthedRequest } from '../../common/auth.js';
import { DEFAULT_TENANT } from '../../common/tenant.js';
import { TENANT_PATTERN } from '../../keys/keys.schema.js';

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

/**
 * Whose scan results and alerts a request reads: `?tenant=` (a bot key only its own, else 403), else a bot
 * key's own tenant, an admin's whole deployment (null) — or, for one bot, the admin's own tenant.
 */
function tenantOf(req: AuthedRequest, raw: string | undefined, oneBot: boolean): string | null {
  const caller = req.caller;
  const own = caller?.tenant ?? DEFAULT_TENANT;
  const admin = caller?.admin ?? true;
  if (raw !== undefined) {
    if (!TENANT_PATTERN.test(raw)) {
      throw new BadRequestException('tenant must be lower-case letters, digits, - and _ (at most 32)');
    }
    if (!admin && raw !== own) throw new ForbiddenException("A bot key reads its own tenant's bots only");
    return raw;
  }
  return admin && !oneBot ? null : own;
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
  @ApiOperation({
    summary:
      "Results of the scheduled scans, newest first: of one bot (?bot_id=) or of all; a bot key sees its tenant's bots only",
  })
  @ApiQuery({ name: 'bot_id', required: false })
  @ApiQuery({ name: 'tenant', required: false, description: 'admin keys: any tenant; bot keys: their own' })
  @ApiQuery({ name: 'limit', required: false, description: `1–${MAX_LIMIT}, default 10` })
  recent(
    @Req() req: AuthedRequest,
    @Query('bot_id') botId?: string,
    @Query('tenant') tenant?: string,
    @Query('limit') limit?: string,
  ): Promise<{ results: ScanResult[] }> {
    if (botId !== undefined && !BOT_ID_PATTERN.test(botId)) throw new BadRequestException(BOT_ID_MESSAGE);
    const owner = tenantOf(req, tenant, botId !== undefined);
    return this.scans.recent(owner, botId, limitOf(limit, 10)).then((results) => ({ results }));
  }

  @Get('alerts')
  @ApiOperation({
    summary:
      "Anomaly alerts sent by the scheduled scans, newest first, with their deliveries; a bot key sees its tenant's only",
  })
  @ApiQuery({ name: 'tenant', required: false, description: 'admin keys: any tenant; bot keys: their own' })
  @ApiQuery({ name: 'limit', required: false, description: `1–${MAX_LIMIT}, default 20` })
  alerts(
    @Req() req: AuthedRequest,
    @Query('tenant') tenant?: string,
    @Query('limit') limit?: string,
  ): Promise<{ alerts: AnomalyAlert[] }> {
    const owner = tenantOf(req, tenant, false);
    return this.scans.alerts(owner, limitOf(limit, 20)).then((alerts) => ({ alerts }));
  }
}

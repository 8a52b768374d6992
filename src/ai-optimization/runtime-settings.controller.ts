import { BadRequestException, Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../common/auth.js';
import { ApiJsonBody } from '../common/json-schema.js';
import { AGENT_TYPE_PATTERN } from '../common/validation.js';
import { SAMPLING_STRATEGIES } from '../config/yaml-config.js';
import { EventStatsService } from '../cost-monitoring/event-stats.service.js';
import { EventThresholdsService } from './events/event-thresholds.service.js';
import { THRESHOLD_CHOICES, THRESHOLD_RANGES, type EventThresholds } from './events/event.types.js';
import { SamplingService, type SamplingStrategy } from './sampling/sampling.service.js';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The documented bodies; the services check them and name every problem in one 400. */
const SAMPLING_BODY = {
  type: 'object',
  required: ['agent_type', 'strategy'],
  properties: {
    agent_type: { type: 'string', pattern: AGENT_TYPE_PATTERN.source, example: 'market_regime' },
    strategy: { enum: [...SAMPLING_STRATEGIES], example: 'PERIODIC' },
    interval_seconds: { type: 'number', description: 'PERIODIC', example: 300 },
    threshold: { type: 'number', description: 'CHANGE_BASED (relative change) and THRESHOLD (score)' },
    min_interval_seconds: { type: 'number', description: 'ADAPTIVE' },
    max_interval_seconds: { type: 'number', description: 'ADAPTIVE' },
    volatility_scale: { type: 'number', description: 'ADAPTIVE: volatility (%) of the shortest interval' },
  },
  example: { agent_type: 'market_regime', strategy: 'PERIODIC', interval_seconds: 300 },
};
const THRESHOLDS_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...Object.fromEntries(
      Object.entries(THRESHOLD_RANGES).map(([name, [minimum, maximum, integer]]) => [
        name,
        { type: integer ? 'integer' : 'number', minimum, maximum },
      ]),
    ),
    ...Object.fromEntries(
      Object.entries(THRESHOLD_CHOICES).map(([name, choices]) => [name, { enum: choices }]),
    ),
  },
  example: { priority_mode: 'adaptive', adaptive_scope: 'symbol', adaptive_window: 720 },
};

/** Run-time settings of the gates, kept in Redis so every instance applies a change at once. */
@ApiTags('ai-cost')
@ApiBearerAuth()
@Controller('ai-cost')
export class RuntimeSettingsController {
  constructor(
    private readonly sampling: SamplingService,
    private readonly thresholds: EventThresholdsService,
    private readonly eventStats: EventStatsService,
  ) {}

  @Get('sampling-strategy')
  @ApiOperation({ summary: 'Sampling strategy of one agent (?agent_type=) or of all agents' })
  @ApiQuery({ name: 'agent_type', required: false, example: 'market_regime' })
  async getSampling(
    @Query('agent_type') agent?: string,
  ): Promise<(SamplingStrategy & { agent_type: string }) | Record<string, SamplingStrategy>> {
    if (agent === undefined) return this.sampling.all();
    if (typeof agent !== 'string' || !AGENT_TYPE_PATTERN.test(agent))
      throw new BadRequestException('agent_type must be lower_snake_case (and not constructor or prototype)');
    return { agent_type: agent, ...(await this.sampling.current(agent)) };
  }

  @Post('sampling-strategy')
  @HttpCode(200)
  @AdminOnly()
  @ApiJsonBody(SAMPLING_BODY)
  async setSampling(@Body() body: unknown): Promise<SamplingStrategy & { agent_type: string }> {
    if (!isRecord(body)) throw new BadRequestException('body must be a JSON object');
    const agent = body.agent_type;
    if (typeof agent !== 'string' || !AGENT_TYPE_PATTERN.test(agent)) {
      throw new BadRequestException(
        'agent_type must be a lower_snake_case string (and not constructor or prototype)',
      );
    }
    return { agent_type: agent, ...(await this.sampling.set(agent, body)) };
  }

  @Get('event-thresholds')
  getThresholds(): Promise<EventThresholds> {
    return this.thresholds.get();
  }

  @Post('event-thresholds')
  @HttpCode(200)
  @AdminOnly()
  @ApiJsonBody(THRESHOLDS_BODY)
  setThresholds(@Body() body: unknown): Promise<EventThresholds> {
    if (!isRecord(body)) throw new BadRequestException('body must be a JSON object');
    return this.thresholds.update(body);
  }

  @Get('event-stats')
  @ApiOperation({
    summary: 'Events by type and effective priority, what the gate did, batches flushed, reduction',
  })
  async getEventStats() {
    return { ...(await this.eventStats.snapshot()), thresholds: await this.thresholds.get() };
  }
}

import { BadRequestException, Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../common/auth.js';
import { AGENT_TYPE_PATTERN } from '../common/validation.js';
import { EventStatsService } from '../cost-monitoring/event-stats.service.js';
import { EventThresholdsService } from './events/event-thresholds.service.js';
import type { EventThresholds } from './events/event.types.js';
import { SamplingService, type SamplingStrategy } from './sampling/sampling.service.js';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

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
  async getSampling(
    @Query('agent_type') agent?: string,
  ): Promise<(SamplingStrategy & { agent_type: string }) | Record<string, SamplingStrategy>> {
    if (agent === undefined) return this.sampling.all();
    if (!AGENT_TYPE_PATTERN.test(agent)) throw new BadRequestException('agent_type must be lower_snake_case');
    return { agent_type: agent, ...(await this.sampling.current(agent)) };
  }

  @Post('sampling-strategy')
  @HttpCode(200)
  @AdminOnly()
  @ApiBody({
    schema: { example: { agent_type: 'market_regime', strategy: 'PERIODIC', interval_seconds: 300 } },
  })
  async setSampling(@Body() body: unknown): Promise<SamplingStrategy & { agent_type: string }> {
    if (!isRecord(body)) throw new BadRequestException('body must be a JSON object');
    const agent = body.agent_type;
    if (typeof agent !== 'string' || !AGENT_TYPE_PATTERN.test(agent)) {
      throw new BadRequestException('agent_type must be a lower_snake_case string');
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
  @ApiBody({ schema: { example: { price_change_pct: 2.5, batch_size: 20 } } })
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

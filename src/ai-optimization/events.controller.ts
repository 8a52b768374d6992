import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthedRequest } from '../common/auth.js';
import { Clock } from '../common/clock.js';
import { BATCH_ID_PATTERN } from '../redis/repositories/batch.repository.js';
import { DEFAULT_TENANT } from '../common/tenant.js';
import { ApiJsonBody, JsonSchemaPipe } from '../common/json-schema.js';
import { AI_EVENT_SCHEMA, type AiEventBody } from './dto/ai-call.body.js';
import { toGatewayRequest } from './dto/to-gateway-request.js';
import { BatchQueue, type BatchView } from './events/batch-queue.service.js';
import { EventGate } from './events/event-gate.service.js';
import type { GatewayResult } from './gateway.types.js';

@ApiTags('ai')
@ApiBearerAuth()
@Controller('ai')
export class EventsController {
  constructor(
    private readonly gate: EventGate,
    private readonly batches: BatchQueue,
    private readonly clock: Clock,
  ) {}

  @Post('events')
  @HttpCode(200)
  @ApiOperation({
    summary: "Event-driven call (the seed's call_ai_with_event): gated by priority, LOW events batched",
  })
  @ApiJsonBody(AI_EVENT_SCHEMA)
  async event(
    @Body(new JsonSchemaPipe<AiEventBody>(AI_EVENT_SCHEMA)) body: AiEventBody,
    @Req() req: AuthedRequest,
  ): Promise<GatewayResult> {
    const { event, ...call } = body;
    return this.gate.handle(toGatewayRequest(call, req), {
      symbol: event.symbol.toUpperCase(),
      eventType: event.event_type,
      priority: event.priority,
      data: event.data ?? {},
      timestamp: event.timestamp ? Date.parse(event.timestamp) : this.clock.now(),
    });
  }

  @Get('batches/:id')
  @ApiOperation({ summary: 'A batch of LOW events: its events, status and answer' })
  async batch(@Param('id') id: string, @Req() req: AuthedRequest): Promise<BatchView> {
    if (!BATCH_ID_PATTERN.test(id)) throw new NotFoundException(`No batch ${id.slice(0, 120)}`);
    const view = await this.batches.view(id);
    // Another tenant's batch (its prompts and answer) does not exist for this caller; admin keys see every one.
    const caller = req.caller;
    const visible = view && (caller?.admin === true || view.tenant === (caller?.tenant ?? DEFAULT_TENANT));
    if (!visible) throw new NotFoundException(`No batch ${id}`);
    return view;
  }
}

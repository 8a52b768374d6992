import { Body, Controller, Get, HttpCode, Post, Req, Res, UseFilters } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiJsonBody } from '../../common/json-schema.js';
import type { FastifyReply } from 'fastify';
import type { AuthedRequest } from '../../common/auth.js';
import { rateLimitHeaders } from '../pipeline/admit.stage.js';
import { MeteredCallPipeline } from '../pipeline/pipeline.js';
import { ProviderRegistry } from '../providers/provider-registry.js';
import { CHAT_BODY_SCHEMA, chatBodyPipe, type ChatBody } from './chat-body.js';
import { asDoorError, doorAnswer, doorOptions, meteredCallOf } from './openai-door.js';
import { OpenAiErrorFilter } from './openai-error.filter.js';
import { openSse, pipeHub, writeReplay } from './sse.js';

/**
 * The OpenAI-compatible door: OpenAI wire in, the metered-call pipeline, OpenAI wire out — so any OpenAI SDK
 * gets the same cache, coalescing, budgets and exact cost as /ai/call.
 */
@ApiTags('openai-compatible')
@ApiBearerAuth()
@UseFilters(OpenAiErrorFilter)
@Controller('v1')
export class OpenAiCompatController {
  constructor(
    private readonly pipeline: MeteredCallPipeline,
    private readonly registry: ProviderRegistry,
  ) {}

  @Get('models')
  models() {
    return {
      object: 'list',
      data: this.registry
        .knownModels()
        .map((m) => ({ id: m.name, object: 'model', created: 0, owned_by: m.provider })),
    };
  }

  @Post('chat/completions')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'OpenAI-compatible chat completions (streaming too) with cache, coalescing, budgets and exact cost',
  })
  @ApiJsonBody(CHAT_BODY_SCHEMA)
  async chat(
    @Body(chatBodyPipe) body: ChatBody,
    @Req() req: AuthedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<unknown> {
    const opts = doorOptions(req.headers, req.caller);
    const call = meteredCallOf(body, opts, req);
    // Everything that can refuse the call runs first, so a refusal is still a plain HTTP error.
    const outcome = await this.pipeline.run(call).catch((err: unknown) => {
      throw asDoorError(err);
    });
    const answer = doorAnswer(outcome, opts);
    if (!call.stream) {
      void reply.headers({
        'x-bastion-cache': answer.cache,
        'x-bastion-cost-usd':
          answer.kind === 'completion' && answer.costUsd !== null ? String(answer.costUsd) : 'unknown',
        'x-bastion-overhead-ms': String(Math.round(answer.overheadMs)),
      });
      return answer.kind === 'completion' ? answer.completion : undefined;
    }
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    reply.hijack();
    // A hijacked answer skips Fastify's hooks: it carries the rate-limit headers itself.
    const rate = outcome.trace.rate ? rateLimitHeaders(outcome.trace.rate) : {};
    openSse(reply.raw, answer.cache, answer.overheadMs, rate);
    if (answer.kind === 'completion') writeReplay(reply.raw, answer.completion, includeUsage);
    else await pipeHub(reply.raw, answer.hub, includeUsage);
    return undefined;
  }
}

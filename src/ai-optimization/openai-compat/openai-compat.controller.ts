import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthedRequest } from '../../common/auth.js';
import { doorOptions, OpenAiCompatService, validateChatBody } from './openai-compat.service.js';

@ApiTags('openai-compatible')
@ApiBearerAuth()
@Controller('v1')
export class OpenAiCompatController {
  constructor(private readonly door: OpenAiCompatService) {}

  @Get('models')
  models() {
    return this.door.models();
  }

  @Post('chat/completions')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'OpenAI-compatible chat completions (streaming too) with cache, coalescing, budgets and exact cost',
  })
  async chat(
    @Body() raw: unknown,
    @Req() req: AuthedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<unknown> {
    const body = validateChatBody(raw);
    const opts = doorOptions(req.headers, req.caller?.scope ?? 'open');
    if (body.stream === true) {
      const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
      // Resolves the upstream first: a refusal or an upstream error is still a normal HTTP error here.
      reply.hijack();
      try {
        await this.door.stream(body, opts, reply.raw, streamOptions?.include_usage === true);
      } catch (err) {
        if (reply.raw.headersSent) reply.raw.end();
        else sendOpenAiError(reply, err);
      }
      return undefined;
    }
    const answer = await this.door.complete(body, opts);
    void reply.headers({
      'x-bastion-cache': answer.cache,
      'x-bastion-cost-usd': answer.costUsd === null ? 'unknown' : String(answer.costUsd),
      'x-bastion-overhead-ms': String(answer.overheadMs),
    });
    return answer.completion;
  }
}

/** After hijack the exception filter no longer runs: write the OpenAI error body by hand. */
function sendOpenAiError(reply: FastifyReply, err: unknown): void {
  const e = err as { status?: number; code?: string; message?: string; getStatus?: () => number };
  const status =
    typeof e.status === 'number' ? e.status : typeof e.getStatus === 'function' ? e.getStatus() : 500;
  const body = {
    error: {
      message: e.message ?? 'Unexpected error',
      type: status >= 500 ? 'server_error' : 'invalid_request_error',
      param: null,
      code: e.code ?? null,
    },
  };
  reply.raw.writeHead(status, {
    'content-type': 'application/json',
    ...(e.code === 'budget_exceeded' ? { 'x-should-retry': 'false' } : {}),
  });
  reply.raw.end(JSON.stringify(body));
}

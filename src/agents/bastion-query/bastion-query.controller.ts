import { Body, Controller, HttpCode, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { BastionQueryService, QueryDto, type QueryAnswer } from './bastion-query.service.js';

/** Size of the pieces an answer is streamed in, so a client can render it progressively. */
const SSE_CHUNK_CHARS = 16;

@ApiTags('agents')
@ApiBearerAuth()
@Controller('bastion')
export class BastionQueryController {
  constructor(private readonly query: BastionQueryService) {}

  @Post('query')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Free-text market question answered in the institutional format; stream:true answers as SSE',
  })
  async ask(
    @Body() body: QueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<QueryAnswer | undefined> {
    const answer = await this.query.answer(body);
    if (body.stream !== true) return answer;
    // The answer is complete before the first byte (it may come from the cache): it is sent in sections so a
    // client renders it progressively, then the metadata, then [DONE].
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    for (let i = 0; i < answer.response.length; i += SSE_CHUNK_CHARS) {
      raw.write(
        `data: ${JSON.stringify({ type: 'chunk', content: answer.response.slice(i, i + SSE_CHUNK_CHARS) })}\n\n`,
      );
    }
    const { response: _r, ...rest } = answer;
    raw.write(`data: ${JSON.stringify({ type: 'metadata', ...rest })}\n\n`);
    raw.end('data: [DONE]\n\n');
    return undefined;
  }
}

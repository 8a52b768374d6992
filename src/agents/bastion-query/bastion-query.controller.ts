import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { BastionQueryService, type QueryAnswer } from './bastion-query.service.js';
import { toSseEvents } from './sse.js';
import { QueryDto } from './dto.js';
import type { AuthedRequest } from '../../common/auth.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('bastion')
export class BastionQueryController {
  constructor(private readonly query: BastionQueryService) {}

  @Post('query')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Free-text market question answered in the institutional format (levels, test → break → retest, ' +
      'scenarios, risk shield, verdict); stream:true answers as server-sent events',
  })
  async ask(
    @Body() body: QueryDto,
    @Req() req: AuthedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<QueryAnswer | undefined> {
    // Answered before any byte is sent, so a bad query is still a normal JSON 400 in streaming mode too.
    const answer = await this.query.answer(body, req);
    if (body.stream !== true) return answer;
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    for (const event of toSseEvents(answer)) {
      if (reply.raw.destroyed) break; // the client went away
      reply.raw.write(event);
    }
    reply.raw.end();
    return undefined;
  }
}

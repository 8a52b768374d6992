import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthedRequest } from '../common/auth.js';
import { ApiJsonBody, JsonSchemaPipe } from '../common/json-schema.js';
import { AI_CALL_SCHEMA, type AiCallBody } from './dto/ai-call.body.js';
import { toGatewayRequest } from './dto/to-gateway-request.js';
import { AiGateway } from './gateway.service.js';
import type { GatewayResult } from './gateway.types.js';

@ApiTags('ai')
@ApiBearerAuth()
@Controller('ai')
export class AiController {
  constructor(private readonly gateway: AiGateway) {}

  @Post('call')
  @HttpCode(200)
  @ApiOperation({
    summary: "Call the model through Bastion's cache, coalescing and budgets (the seed's call_ai)",
  })
  @ApiJsonBody(AI_CALL_SCHEMA)
  call(
    @Body(new JsonSchemaPipe<AiCallBody>(AI_CALL_SCHEMA)) body: AiCallBody,
    @Req() req: AuthedRequest,
  ): Promise<GatewayResult> {
    // The caller reads the books with another request: bookkeeping waits until this answer is on its way.
    return this.gateway.call(toGatewayRequest(body, req, true));
  }
}

import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AiCallDto } from './dto/ai-call.dto.js';
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
  call(@Body() body: AiCallDto): Promise<GatewayResult> {
    return this.gateway.call(toGatewayRequest(body));
  }
}

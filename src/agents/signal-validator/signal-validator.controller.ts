import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SignalDto } from './signal-validator.dto.js';
import { SignalValidatorService, type ValidationAnswer } from './signal-validator.service.js';
import type { AuthedRequest } from '../../common/auth.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/signal-validator')
export class SignalValidatorController {
  constructor(private readonly validator: SignalValidatorService) {}

  @Post('validate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Validate a trading signal against named rules; an AI opinion may add context' })
  validate(@Body() body: SignalDto, @Req() req: AuthedRequest): Promise<ValidationAnswer> {
    return this.validator.validate(body, req);
  }
}

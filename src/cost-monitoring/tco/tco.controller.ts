import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { TcoService, type TcoAnswer } from './tco.service.js';

@ApiTags('ai-cost')
@ApiBearerAuth()
@Controller('ai-cost')
export class TcoController {
  constructor(private readonly tco: TcoService) {}

  @Get('tco')
  @ApiOperation({
    summary:
      "A month's whole bill: the LLM cost plus the fixed costs of config/costs.yaml (total = llm + fixed)",
  })
  @ApiQuery({ name: 'month', required: false, description: 'YYYY-MM (UTC); default the current month' })
  get(@Query('month') month?: string): Promise<TcoAnswer> {
    return this.tco.month(month);
  }
}

import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { MarketContextService, type MarketContext } from './market-context.service.js';

@ApiTags('market')
@ApiBearerAuth()
@Controller('market')
export class MarketController {
  constructor(private readonly context: MarketContextService) {}

  @Get(':symbol/context')
  @ApiOperation({
    summary: 'Every configured source in parallel, each under its own deadline, with per-source errors',
  })
  get(@Param('symbol') symbol: string): Promise<MarketContext> {
    return this.context.context(symbol);
  }
}

import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { MarketRegimeDto } from './market-regime.dto.js';
import { MarketRegimeService, type MarketRegimeAnswer } from './market-regime.service.js';
import type { AuthedRequest } from '../../common/auth.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/market-regime')
export class MarketRegimeController {
  constructor(private readonly regime: MarketRegimeService) {}

  @Post('analyze')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Regime of a symbol from candles (request or exchange), with an optional AI comment',
  })
  analyze(@Body() body: MarketRegimeDto, @Req() req: AuthedRequest): Promise<MarketRegimeAnswer> {
    return this.regime.analyze(body, req);
  }
}

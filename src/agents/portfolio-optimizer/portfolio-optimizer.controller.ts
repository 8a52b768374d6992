import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { OptimizePortfolioDto } from './dto.js';
import { PortfolioOptimizerService, type PortfolioAnswer } from './portfolio-optimizer.service.js';
import type { AuthedRequest } from '../../common/auth.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/portfolio-optimizer')
export class PortfolioOptimizerController {
  constructor(private readonly optimizer: PortfolioOptimizerService) {}

  @Post('optimize')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Risk-based target weights with exact caps, rebalance trades, Sharpe, drawdown and insights',
  })
  optimize(@Body() body: OptimizePortfolioDto, @Req() req: AuthedRequest): Promise<PortfolioAnswer> {
    return this.optimizer.optimize(body, req);
  }
}

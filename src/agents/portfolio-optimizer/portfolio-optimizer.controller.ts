import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { OptimizePortfolioDto } from './dto.js';
import { PortfolioOptimizerService, type PortfolioAnswer } from './portfolio-optimizer.service.js';

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
  optimize(@Body() body: OptimizePortfolioDto): Promise<PortfolioAnswer> {
    return this.optimizer.optimize(body);
  }
}

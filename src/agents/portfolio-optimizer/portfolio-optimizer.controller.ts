import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { OptimizeDto, PortfolioOptimizerService } from './portfolio-optimizer.service.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/portfolio-optimizer')
export class PortfolioOptimizerController {
  constructor(private readonly optimizer: PortfolioOptimizerService) {}

  @Post('optimize')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Risk-based target weights with exact caps, rebalance trades, Sharpe and drawdown',
  })
  optimize(@Body() body: OptimizeDto) {
    return this.optimizer.optimize(body);
  }
}

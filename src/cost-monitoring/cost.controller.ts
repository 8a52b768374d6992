import { BadRequestException, Body, Controller, Get, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../common/auth.js';
import { Clock } from '../common/clock.js';
import { AGENT_TYPE_PATTERN } from '../common/validation.js';
import { BudgetService, type BudgetSettings } from './budget.service.js';
import { CostStatsService } from './cost-stats.service.js';
import {
  AlertsQueryDto,
  BudgetAlertQueryDto,
  BudgetsUpdateDto,
  DailyQueryDto,
  MAX_BUDGET_USD,
} from './dto/cost.dto.js';
import { BudgetAlertsService } from './alerts/budget-alerts.service.js';
import { Notifiers } from './alerts/notifiers.js';

@ApiTags('ai-cost')
@ApiBearerAuth()
@Controller('ai-cost')
export class CostController {
  constructor(
    private readonly stats: CostStatsService,
    private readonly budgets: BudgetService,
    private readonly alerts: BudgetAlertsService,
    private readonly notifiers: Notifiers,
    private readonly clock: Clock,
  ) {}

  @Get('stats')
  @ApiOperation({ summary: 'All-time calls, cost, savings by layer, cache rates' })
  getStats() {
    return this.stats.stats();
  }

  @Get('daily')
  @ApiOperation({ summary: "One UTC day's cost (default today) and the history of the last `days` days" })
  getDaily(@Query() query: DailyQueryDto) {
    return this.stats.daily(query.date, query.days ?? 7);
  }

  @Get('agent-breakdown')
  getAgentBreakdown() {
    return this.stats.agentBreakdown();
  }

  @Get('budget-alert')
  @ApiOperation({
    summary: 'Spend against the daily and monthly budgets (query parameters override the configured ones)',
  })
  getBudgetAlert(@Query() query: BudgetAlertQueryDto) {
    return this.stats.budgetAlert(query.daily_budget, query.monthly_budget);
  }

  @Get('alerts')
  @ApiOperation({ summary: 'Budget alerts sent and their deliveries, newest first' })
  async getAlerts(@Query() query: AlertsQueryDto) {
    return { alerts: await this.alerts.list(query.limit ?? 50), channels: this.notifiers.configured };
  }

  @Get('budgets')
  @ApiOperation({
    summary:
      'Budgets in force, with the spend of the current UTC day and month on the budget counters (what a hard budget is held against)',
  })
  getBudgets(): Promise<BudgetSettings & { daily_spent_usd: number; monthly_spent_usd: number }> {
    return this.budgets.withSpend(this.clock.now());
  }

  @Put('budgets')
  @AdminOnly()
  @ApiOperation({ summary: 'Change budgets at run time (admin key); every instance sees the change at once' })
  putBudgets(@Body() body: BudgetsUpdateDto): Promise<BudgetSettings> {
    for (const [agent, budget] of Object.entries(body.agents ?? {})) {
      if (!AGENT_TYPE_PATTERN.test(agent))
        throw new BadRequestException(
          `agents.${agent.slice(0, 64)}: agent names are lower_snake_case (and not constructor or prototype)`,
        );
      if (budget === null) continue;
      if (typeof budget !== 'object' || Array.isArray(budget))
        throw new BadRequestException(`agents.${agent} must be an object or null`);
      for (const [field, value] of Object.entries(budget)) {
        if (field !== 'daily_budget_usd' && field !== 'monthly_budget_usd') {
          throw new BadRequestException(
            `agents.${agent}.${field.slice(0, 64)} is not a budget field (daily_budget_usd, monthly_budget_usd)`,
          );
        }
        if (
          value !== null &&
          (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_BUDGET_USD)
        ) {
          throw new BadRequestException(
            `agents.${agent}.${field} must be a number between 0 and ${MAX_BUDGET_USD}, or null`,
          );
        }
      }
    }
    return this.budgets.update(body);
  }
}

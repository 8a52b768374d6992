import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Get,
  Put,
  Query,
  Req,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly, type AuthedRequest } from '../common/auth.js';
import type { Caller } from '../common/caller.js';
import { Clock } from '../common/clock.js';
import { AGENT_TYPE_PATTERN } from '../common/validation.js';
import { BudgetService, type BudgetSettings, type BudgetsWithSpend } from './budget.service.js';
import { CostStatsService } from './cost-stats.service.js';
import {
  AlertsQueryDto,
  BudgetAlertQueryDto,
  BudgetsUpdateDto,
  DailyQueryDto,
  MAX_BUDGET_USD,
  OwnerQueryDto,
} from './dto/cost.dto.js';
import { BudgetAlertsService } from './alerts/budget-alerts.service.js';
import { Notifiers } from './alerts/notifiers.js';

/**
 * The owner a stats request asks for. A bot key reads its own tenant's figures (the default) and its own key's;
 * only admin keys read the whole deployment's (the default for them) or another tenant's or key's.
 */
function ownerOf(query: OwnerQueryDto, caller: Caller | undefined): string | undefined {
  if (query.tenant !== undefined && query.key_id !== undefined) {
    throw new BadRequestException('Give tenant or key_id, not both');
  }
  const admin = caller?.admin === true;
  if (query.tenant !== undefined) {
    if (!admin && query.tenant !== caller?.tenant) {
      throw new ForbiddenException("A bot key reads its own tenant's figures only");
    }
    return `tenant:${query.tenant}`;
  }
  if (query.key_id !== undefined) {
    if (!admin && query.key_id !== caller?.key?.id)
      throw new ForbiddenException("A bot key reads its own key's figures only");
    return `key:${query.key_id}`;
  }
  return caller && !admin ? `tenant:${caller.tenant}` : undefined;
}

/**
 * Whether `caller` may see an alert of `scope`: admins every one; a bot key the deployment's (global, per agent),
 * its own tenant's and its own key's — never another tenant's or key's.
 */
function mayRead(scope: string, caller: Caller | undefined): boolean {
  if (!caller || caller.admin) return true;
  if (!scope.startsWith('tenant:') && !scope.startsWith('key:')) return true;
  return scope === `tenant:${caller.tenant}` || (caller.key !== null && scope === `key:${caller.key.id}`);
}

const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** A map of name → {daily_budget_usd, monthly_budget_usd} or null, every problem a 400 naming its path. */
function checkBudgetMap(
  field: string,
  map: Record<string, unknown> | undefined,
  names: RegExp,
  rule: string,
): void {
  for (const [name, budget] of Object.entries(map ?? {})) {
    if (!names.test(name) || name === 'constructor' || name === 'prototype') {
      throw new BadRequestException(
        `${field}.${name.slice(0, 64)}: ${rule} (and not constructor or prototype)`,
      );
    }
    if (budget === null) continue;
    if (typeof budget !== 'object' || Array.isArray(budget))
      throw new BadRequestException(`${field}.${name} must be an object or null`);
    for (const [key, value] of Object.entries(budget)) {
      if (key !== 'daily_budget_usd' && key !== 'monthly_budget_usd') {
        throw new BadRequestException(
          `${field}.${name}.${key.slice(0, 64)} is not a budget field (daily_budget_usd, monthly_budget_usd)`,
        );
      }
      if (
        value !== null &&
        (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_BUDGET_USD)
      ) {
        throw new BadRequestException(
          `${field}.${name}.${key} must be a number between 0 and ${MAX_BUDGET_USD}, or null`,
        );
      }
    }
  }
}

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
  @ApiOperation({
    summary: 'All-time calls, cost, savings by layer, cache rates (?tenant= or ?key_id= for one owner)',
  })
  getStats(@Query() query: OwnerQueryDto, @Req() req: AuthedRequest) {
    return this.stats.stats(ownerOf(query, req.caller));
  }

  @Get('daily')
  @ApiOperation({ summary: "One UTC day's cost (default today) and the history of the last `days` days" })
  getDaily(@Query() query: DailyQueryDto, @Req() req: AuthedRequest) {
    return this.stats.daily(query.date, query.days ?? 7, ownerOf(query, req.caller));
  }

  @Get('agent-breakdown')
  getAgentBreakdown(@Query() query: OwnerQueryDto, @Req() req: AuthedRequest) {
    return this.stats.agentBreakdown(ownerOf(query, req.caller));
  }

  @Get('tenants')
  @ApiOperation({ summary: 'The tenants that have made requests (admin keys: all; bot keys: their own)' })
  async getTenants(@Req() req: AuthedRequest) {
    const caller = req.caller;
    const tenants = await this.stats.tenants();
    return { tenants: caller?.admin ? tenants : tenants.filter((t) => t === caller?.tenant) };
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
  async getAlerts(@Query() query: AlertsQueryDto, @Req() req: AuthedRequest) {
    const alerts = (await this.alerts.list(query.limit ?? 50)).filter((a) => mayRead(a.scope, req.caller));
    return { alerts, channels: this.notifiers.configured };
  }

  @Get('budgets')
  @ApiOperation({
    summary:
      'Budgets in force, with the spend of the current UTC day and month on the budget counters (what a hard budget is held against)',
  })
  async getBudgets(@Req() req: AuthedRequest): Promise<BudgetsWithSpend> {
    const budgets = await this.budgets.withSpend(this.clock.now());
    const caller = req.caller;
    if (!caller || caller.admin) return budgets;
    // A bot key sees its own tenant's budget, not the others'.
    const own = budgets.tenants[caller.tenant];
    return { ...budgets, tenants: own ? { [caller.tenant]: own } : {} };
  }

  @Put('budgets')
  @AdminOnly()
  @ApiOperation({ summary: 'Change budgets at run time (admin key); every instance sees the change at once' })
  putBudgets(@Body() body: BudgetsUpdateDto): Promise<BudgetSettings> {
    checkBudgetMap('agents', body.agents, AGENT_TYPE_PATTERN, 'agent names are lower_snake_case');
    checkBudgetMap(
      'tenants',
      body.tenants,
      TENANT_PATTERN,
      'tenants are lower-case letters, digits, - and _',
    );
    return this.budgets.update(body);
  }
}

import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  Matches,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';
import { IsCalendarDate, Optional } from '../../common/validation.js';

/** The largest budget accepted, in USD: far above any LLM bill; larger numbers only overflow what is made of them. */
export const MAX_BUDGET_USD = 1_000_000_000;

/** Whose figures: one tenant's or one managed key's (bot keys: only their own); everybody's without either. */
export class OwnerQueryDto {
  @ApiPropertyOptional({ example: 'alpha', description: "one tenant's figures" })
  @IsOptional()
  @Matches(/^[a-z0-9][a-z0-9_-]{0,31}$/, {
    message: 'tenant must be lower-case letters, digits, - and _ (at most 32)',
  })
  tenant?: string;

  @ApiPropertyOptional({ description: "one managed key's figures (its id)" })
  @IsOptional()
  @Matches(/^[0-9a-f-]{36}$/, { message: 'key_id must be the id of a managed key' })
  key_id?: string;
}

export class DailyQueryDto extends OwnerQueryDto {
  @ApiPropertyOptional({ example: '2026-11-22' })
  @IsOptional()
  @IsCalendarDate({ message: 'date must be YYYY-MM-DD' })
  date?: string;

  @ApiPropertyOptional({ default: 7 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(366)
  days?: number;
}

export class BudgetAlertQueryDto {
  @ApiPropertyOptional({ example: 5.0 })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_BUDGET_USD)
  daily_budget?: number;

  @ApiPropertyOptional({ example: 150.0 })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_BUDGET_USD)
  monthly_budget?: number;
}

/** PUT /ai-cost/budgets: a partial update; null removes a budget. */
export class BudgetsUpdateDto {
  @ApiPropertyOptional({ nullable: true, example: 5 })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_BUDGET_USD)
  daily_budget_usd?: number | null;

  @ApiPropertyOptional({ nullable: true, example: 150 })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_BUDGET_USD)
  monthly_budget_usd?: number | null;

  @ApiPropertyOptional({ enum: ['off', 'soft', 'hard'] })
  @Optional()
  @IsIn(['off', 'soft', 'hard'])
  enforcement?: 'off' | 'soft' | 'hard';

  @ApiPropertyOptional({
    description:
      "Count the fixed costs of config/costs.yaml in the deployment's daily (a day's share) and monthly budgets",
  })
  @Optional()
  @IsBoolean({ message: 'include_fixed_costs must be true or false' })
  include_fixed_costs?: boolean;

  @ApiPropertyOptional({
    description: 'Per-agent budgets: {"market_regime":{"daily_budget_usd":1}}; null removes an agent budget',
  })
  @Optional()
  @IsObject({ message: 'agents must be an object of agent → {daily_budget_usd, monthly_budget_usd} or null' })
  agents?: Record<string, { daily_budget_usd?: number | null; monthly_budget_usd?: number | null } | null>;

  @ApiPropertyOptional({
    description: 'Per-tenant budgets: {"alpha":{"daily_budget_usd":5}}; null removes a tenant budget',
  })
  @Optional()
  @IsObject({
    message: 'tenants must be an object of tenant → {daily_budget_usd, monthly_budget_usd} or null',
  })
  tenants?: Record<string, { daily_budget_usd?: number | null; monthly_budget_usd?: number | null } | null>;
}

export class AlertsQueryDto {
  @ApiPropertyOptional({ default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

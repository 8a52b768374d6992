import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNumber, IsObject, IsOptional, Max, Min, ValidateIf } from 'class-validator';
import { IsCalendarDate, Optional } from '../../common/validation.js';

/** The largest budget accepted, in USD: far above any LLM bill; larger numbers only overflow what is made of them. */
export const MAX_BUDGET_USD = 1_000_000_000;

export class DailyQueryDto {
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
    description: 'Per-agent budgets: {"market_regime":{"daily_budget_usd":1}}; null removes an agent budget',
  })
  @Optional()
  @IsObject({ message: 'agents must be an object of agent → {daily_budget_usd, monthly_budget_usd} or null' })
  agents?: Record<string, { daily_budget_usd?: number | null; monthly_budget_usd?: number | null } | null>;
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

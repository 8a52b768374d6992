import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNumber, IsObject, IsOptional, Matches, Max, Min, ValidateIf } from 'class-validator';

export class DailyQueryDto {
  @ApiPropertyOptional({ example: '2026-11-22' })
  @IsOptional()
  @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'date must be YYYY-MM-DD' })
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
  daily_budget?: number;

  @ApiPropertyOptional({ example: 150.0 })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  monthly_budget?: number;
}

/** PUT /ai-cost/budgets: a partial update; null removes a budget. */
export class BudgetsUpdateDto {
  @ApiPropertyOptional({ nullable: true, example: 5 })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  daily_budget_usd?: number | null;

  @ApiPropertyOptional({ nullable: true, example: 150 })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  monthly_budget_usd?: number | null;

  @ApiPropertyOptional({ enum: ['off', 'soft', 'hard'] })
  @IsOptional()
  @IsIn(['off', 'soft', 'hard'])
  enforcement?: 'off' | 'soft' | 'hard';

  @ApiPropertyOptional({
    description: 'Per-agent budgets: {"market_regime":{"daily_budget_usd":1}}; null removes an agent budget',
  })
  @IsOptional()
  @IsObject()
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

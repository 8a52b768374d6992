import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsNumber, Max, Min } from 'class-validator';
import { MAX_AMOUNT, Optional } from '../../common/validation.js';
import { IsBotId } from '../bot-telemetry/telemetry.dto.js';
import type { Anomaly } from './detectors.js';

/** A week: the telemetry retention, so a longer window would only pretend to look further back. */
export const MAX_TIMEFRAME_MINUTES = 10_080;

export class DetectAnomaliesDto {
  @ApiProperty({ example: 1 })
  @IsInt({ message: 'user_id must be an integer' })
  @Min(0, { message: 'user_id must be at least 0' })
  @Max(Number.MAX_SAFE_INTEGER, { message: `user_id must be at most ${Number.MAX_SAFE_INTEGER}` })
  user_id!: number;

  @ApiProperty({
    oneOf: [
      { type: 'string', example: 'grid-btc-01' },
      { type: 'integer', example: 123 },
    ],
    description: 'A string or (as in the seed guide) a non-negative integer; 123 and "123" are one bot',
  })
  @IsBotId()
  bot_id!: string | number;

  @ApiProperty({ example: 60, minimum: 1, maximum: MAX_TIMEFRAME_MINUTES })
  @IsInt({ message: 'timeframe_minutes must be an integer' })
  @Min(1, { message: 'timeframe_minutes must be at least 1' })
  @Max(MAX_TIMEFRAME_MINUTES, { message: `timeframe_minutes must be at most ${MAX_TIMEFRAME_MINUTES}` })
  timeframe_minutes!: number;

  @ApiPropertyOptional({
    default: true,
    description: 'Ask the model to explain (gated by THRESHOLD sampling)',
  })
  @Optional()
  @IsBoolean({ message: 'include_ai must be a boolean' })
  include_ai?: boolean;

  @ApiPropertyOptional({
    description: 'Account equity in USD: the drawdown limit becomes 5% of it instead of an absolute $500',
    example: 10_000,
  })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'equity_usd must be a finite number' })
  @Min(0.01, { message: 'equity_usd must be positive' })
  @Max(MAX_AMOUNT, { message: `equity_usd must be at most ${MAX_AMOUNT}` })
  equity_usd?: number;
}

export interface AnomalyAnswerItem extends Anomaly {
  /** true when the model's explanation (`ai_explanation` of the answer) covers this anomaly. */
  ai_enhanced: boolean;
}

export interface DetectAnomaliesAnswer {
  /** As the request gave it (a number stays a number). */
  bot_id: string | number;
  user_id: number;
  window: { from: string; to: string; minutes: number };
  /** What the verdicts were computed from. */
  telemetry: {
    trades: number;
    orders: number;
    errors: number;
    last_heartbeat: string | null;
    heartbeat_interval_seconds: number | null;
  };
  anomaly_score: number;
  anomalies: AnomalyAnswerItem[];
  ai_enhanced: boolean;
  /** The gateway's decision (called, response_cache, sampled_out, ...) or not_requested / no_anomalies / error code. */
  ai_reason: string;
  /** Present only when a model answered. */
  ai_explanation?: string;
}

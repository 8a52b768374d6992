import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { SYMBOL_PATTERN } from '../../common/validation.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';
import { MAX_ASSETS, REBALANCE_THRESHOLD, RISK_LEVEL_NAMES, type RiskLevel } from './optimizer.js';

export class PositionDto {
  @ApiProperty({ example: 'BTC' })
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'symbol must look like BTC, BTCUSDT or BTC/USDT' })
  symbol!: string;

  @ApiProperty({ example: 9000, description: 'Current value of the position in USD' })
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'value_usd must be a finite number' })
  @Min(0, { message: 'value_usd must not be negative' })
  value_usd!: number;
}

/** `POST /agents/portfolio-optimizer/optimize`. Cross-field checks live in the service. */
export class OptimizePortfolioDto {
  @ApiProperty({ example: 7 })
  @IsInt({ message: 'user_id must be an integer' })
  @Min(0, { message: 'user_id must not be negative' })
  user_id!: number;

  @ApiProperty({ enum: RISK_LEVEL_NAMES })
  @IsIn(RISK_LEVEL_NAMES, { message: `risk_level must be one of ${RISK_LEVEL_NAMES.join(', ')}` })
  risk_level!: RiskLevel;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean({ message: 'include_ai_insights must be a boolean' })
  include_ai_insights?: boolean;

  @ApiProperty({ type: [PositionDto] })
  @IsArray({ message: 'positions must be an array of {symbol, value_usd}' })
  @ArrayMinSize(1, { message: 'positions must hold at least one position' })
  @ArrayMaxSize(MAX_ASSETS, { message: `positions may hold at most ${MAX_ASSETS} assets` })
  @ValidateNested({ each: true })
  @Type(() => PositionDto)
  positions!: PositionDto[];

  @ApiPropertyOptional({
    description: 'More assets to consider with a current weight of 0 (their candles are needed too)',
    example: ['ETH'],
  })
  @IsOptional()
  @IsArray({ message: 'symbols must be an array of symbols' })
  @ArrayMaxSize(MAX_ASSETS, { message: `symbols may hold at most ${MAX_ASSETS} assets` })
  @IsString({ each: true, message: 'symbols must be strings' })
  @Matches(SYMBOL_PATTERN, { each: true, message: 'symbols must look like BTC, BTCUSDT or BTC/USDT' })
  symbols?: string[];

  @ApiPropertyOptional({
    description:
      'symbol → ccxt OHLCV rows, oldest first: [[ts_ms, open, high, low, close, volume], ...]. ' +
      'Without it the candles are fetched from the exchange.',
  })
  @IsOptional()
  @IsObject({ message: 'candles must be an object of symbol → OHLCV rows' })
  candles?: Record<string, unknown>;

  @ApiPropertyOptional({ enum: TIMEFRAMES, default: '1h' })
  @IsOptional()
  @IsIn(TIMEFRAMES, { message: `timeframe must be one of ${TIMEFRAMES.join(', ')}` })
  timeframe?: Timeframe;

  @ApiPropertyOptional({ default: 500, description: 'Bars fetched per asset when candles are not given' })
  @IsOptional()
  @IsInt({ message: 'lookback_bars must be an integer' })
  @Min(30, { message: 'lookback_bars must be at least 30' })
  @Max(2000, { message: 'lookback_bars must be at most 2000' })
  lookback_bars?: number;

  @ApiPropertyOptional({ default: 0, description: 'Annual risk-free rate as a fraction (0.04 = 4%)' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'risk_free_rate must be a number' })
  @Min(-0.5, { message: 'risk_free_rate must be at least -0.5' })
  @Max(1, { message: 'risk_free_rate must be at most 1' })
  risk_free_rate?: number;

  @ApiPropertyOptional({ default: REBALANCE_THRESHOLD })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'rebalance_threshold must be a number' })
  @Min(0, { message: 'rebalance_threshold must be between 0 and 1' })
  @Max(1, { message: 'rebalance_threshold must be between 0 and 1' })
  rebalance_threshold?: number;
}

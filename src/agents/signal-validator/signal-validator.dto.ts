import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsPositive,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { SYMBOL_PATTERN } from '../../common/validation.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';

export class OpenPositionDto {
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'open_positions.symbol must look like BTC/USDT' })
  symbol!: string;

  @IsIn(['long', 'short'])
  side!: 'long' | 'short';
}

export class RecentExitDto {
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'recent_exits.symbol must look like BTC/USDT' })
  symbol!: string;

  @IsInt()
  @Min(0)
  timestamp!: number;
}

export class SignalDto {
  @ApiProperty({ example: 'BTC/USDT' })
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'symbol must look like BTC, BTCUSDT or BTC/USDT' })
  symbol!: string;

  @ApiProperty({ enum: ['long', 'short'] })
  @IsIn(['long', 'short'], { message: 'side must be long or short' })
  side!: 'long' | 'short';

  @ApiProperty({ example: 97000 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  entry_price!: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  stop_loss?: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  take_profit?: number;

  @ApiPropertyOptional({ description: 'Fraction of equity, 0–1' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  position_size_pct?: number;

  @ApiPropertyOptional({ default: 1 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(200)
  leverage?: number;

  @ApiProperty({ enum: ['trend', 'mean_reversion', 'breakout'] })
  @IsIn(['trend', 'mean_reversion', 'breakout'], {
    message: 'strategy must be trend, mean_reversion or breakout',
  })
  strategy!: 'trend' | 'mean_reversion' | 'breakout';

  @ApiProperty({ enum: TIMEFRAMES })
  @IsIn(TIMEFRAMES, { message: `timeframe must be one of ${TIMEFRAMES.join(', ')}` })
  timeframe!: Timeframe;

  @ApiPropertyOptional({
    description: 'Account equity in USD (context for the model; sizes are fractions of it)',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  equity_usd?: number;

  @ApiPropertyOptional({ description: 'ms since epoch' })
  @IsOptional()
  @IsInt()
  @Min(0)
  signal_timestamp?: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsArray({ message: 'candles must be an array of [timestamp_ms, open, high, low, close, volume] rows' })
  @ArrayMaxSize(5000)
  candles?: unknown[];

  @ApiPropertyOptional({ type: [OpenPositionDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(200)
  @ValidateNested({ each: true })
  @Type(() => OpenPositionDto)
  open_positions?: OpenPositionDto[];

  @ApiPropertyOptional({ type: [RecentExitDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(200)
  @ValidateNested({ each: true })
  @Type(() => RecentExitDto)
  recent_exits?: RecentExitDto[];

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  include_ai?: boolean;
}

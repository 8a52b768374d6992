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
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { SYMBOL_PATTERN } from '../../common/validation.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';

/** The seed guide's `action`; case is not significant. */
export const SEED_ACTIONS = ['BUY', 'SELL', 'buy', 'sell'] as const;

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

  @ApiPropertyOptional({
    enum: ['long', 'short'],
    description: "Required unless the seed's `action` is given",
  })
  @ValidateIf((s: SignalDto) => s.side !== undefined || s.action === undefined)
  @IsIn(['long', 'short'], { message: 'side must be long or short (or give action BUY or SELL)' })
  side?: 'long' | 'short';

  @ApiPropertyOptional({
    enum: SEED_ACTIONS,
    description: "The seed guide's name for the side: BUY = long, SELL = short",
  })
  @IsOptional()
  @IsIn(SEED_ACTIONS, { message: 'action must be BUY or SELL' })
  action?: (typeof SEED_ACTIONS)[number];

  @ApiPropertyOptional({ example: 97000, description: "Required unless the seed's `current_price` is given" })
  @ValidateIf((s: SignalDto) => s.entry_price !== undefined || s.current_price === undefined)
  @IsNumber(
    { allowNaN: false, allowInfinity: false },
    { message: 'entry_price must be a positive number (or give current_price)' },
  )
  @IsPositive({ message: 'entry_price must be a positive number (or give current_price)' })
  entry_price?: number;

  @ApiPropertyOptional({ example: 2500, description: "The seed guide's name for the entry price" })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'current_price must be a positive number' })
  @IsPositive({ message: 'current_price must be a positive number' })
  current_price?: number;

  @ApiPropertyOptional({
    example: 'SIG_001',
    description: "The bot's id of the signal, echoed in the answer",
  })
  @IsOptional()
  @IsString({ message: 'signal_id must be a string' })
  @MaxLength(128, { message: 'signal_id must be at most 128 characters' })
  signal_id?: string;

  @ApiPropertyOptional({ example: 0.75, description: "The bot's own confidence (0–1), echoed in the answer" })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'confidence must be a number' })
  @Min(0, { message: 'confidence must be between 0 and 1' })
  @Max(1, { message: 'confidence must be between 0 and 1' })
  confidence?: number;

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

  @ApiPropertyOptional({
    enum: ['trend', 'mean_reversion', 'breakout'],
    description: 'Default: the setting default_strategy (trend)',
  })
  @IsOptional()
  @IsIn(['trend', 'mean_reversion', 'breakout'], {
    message: 'strategy must be trend, mean_reversion or breakout',
  })
  strategy?: 'trend' | 'mean_reversion' | 'breakout';

  @ApiPropertyOptional({ enum: TIMEFRAMES, description: 'Default: the setting default_timeframe (1h)' })
  @IsOptional()
  @IsIn(TIMEFRAMES, { message: `timeframe must be one of ${TIMEFRAMES.join(', ')}` })
  timeframe?: Timeframe;

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

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsPositive,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { MAX_AMOUNT, NestedArray, Optional, SYMBOL_PATTERN } from '../../common/validation.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';

/** The last instant a JavaScript Date can hold (ms since epoch). */
const MAX_TIMESTAMP_MS = 8.64e15;
/** Open positions and recent exits a bot may list. */
const MAX_LISTED = 200;
const MAX_PRICE_MESSAGE = `must be at most ${MAX_AMOUNT}`;

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
  @Max(MAX_TIMESTAMP_MS)
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
  @Optional()
  @IsIn(SEED_ACTIONS, { message: 'action must be BUY or SELL' })
  action?: (typeof SEED_ACTIONS)[number];

  @ApiPropertyOptional({ example: 97000, description: "Required unless the seed's `current_price` is given" })
  @ValidateIf((s: SignalDto) => s.entry_price !== undefined || s.current_price === undefined)
  @IsNumber(
    { allowNaN: false, allowInfinity: false },
    { message: 'entry_price must be a positive number (or give current_price)' },
  )
  @IsPositive({ message: 'entry_price must be a positive number (or give current_price)' })
  @Max(MAX_AMOUNT, { message: `entry_price ${MAX_PRICE_MESSAGE}` })
  entry_price?: number;

  @ApiPropertyOptional({ example: 2500, description: "The seed guide's name for the entry price" })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'current_price must be a positive number' })
  @IsPositive({ message: 'current_price must be a positive number' })
  @Max(MAX_AMOUNT, { message: `current_price ${MAX_PRICE_MESSAGE}` })
  current_price?: number;

  @ApiPropertyOptional({
    example: 'SIG_001',
    description: "The bot's id of the signal, echoed in the answer",
  })
  @Optional()
  @IsString({ message: 'signal_id must be a string' })
  @MaxLength(128, { message: 'signal_id must be at most 128 characters' })
  signal_id?: string;

  @ApiPropertyOptional({ example: 0.75, description: "The bot's own confidence (0–1), echoed in the answer" })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'confidence must be a number' })
  @Min(0, { message: 'confidence must be between 0 and 1' })
  @Max(1, { message: 'confidence must be between 0 and 1' })
  confidence?: number;

  @ApiPropertyOptional()
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  @Max(MAX_AMOUNT, { message: `stop_loss ${MAX_PRICE_MESSAGE}` })
  stop_loss?: number;

  @ApiPropertyOptional()
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  @Max(MAX_AMOUNT, { message: `take_profit ${MAX_PRICE_MESSAGE}` })
  take_profit?: number;

  @ApiPropertyOptional({ description: 'Fraction of equity, 0–1' })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  position_size_pct?: number;

  @ApiPropertyOptional({ default: 1 })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(200)
  leverage?: number;

  @ApiPropertyOptional({
    enum: ['trend', 'mean_reversion', 'breakout'],
    description: 'Default: the setting default_strategy (trend)',
  })
  @Optional()
  @IsIn(['trend', 'mean_reversion', 'breakout'], {
    message: 'strategy must be trend, mean_reversion or breakout',
  })
  strategy?: 'trend' | 'mean_reversion' | 'breakout';

  @ApiPropertyOptional({ enum: TIMEFRAMES, description: 'Default: the setting default_timeframe (1h)' })
  @Optional()
  @IsIn(TIMEFRAMES, { message: `timeframe must be one of ${TIMEFRAMES.join(', ')}` })
  timeframe?: Timeframe;

  @ApiPropertyOptional({
    description: 'Account equity in USD (context for the model; sizes are fractions of it)',
  })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  @Max(MAX_AMOUNT, { message: `equity_usd ${MAX_PRICE_MESSAGE}` })
  equity_usd?: number;

  @ApiPropertyOptional({ description: 'ms since epoch' })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(MAX_TIMESTAMP_MS)
  signal_timestamp?: number;

  @ApiPropertyOptional()
  @Optional()
  @IsArray({ message: 'candles must be an array of [timestamp_ms, open, high, low, close, volume] rows' })
  @ArrayMaxSize(5000)
  candles?: unknown[];

  @ApiPropertyOptional({ type: [OpenPositionDto] })
  @Optional()
  @NestedArray(() => OpenPositionDto, MAX_LISTED, {
    array: 'open_positions must be an array of {symbol, side}',
    max: `open_positions may hold at most ${MAX_LISTED} positions`,
    item: 'must be an object {symbol, side}',
  })
  open_positions?: OpenPositionDto[];

  @ApiPropertyOptional({ type: [RecentExitDto] })
  @Optional()
  @NestedArray(() => RecentExitDto, MAX_LISTED, {
    array: 'recent_exits must be an array of {symbol, timestamp}',
    max: `recent_exits may hold at most ${MAX_LISTED} exits`,
    item: 'must be an object {symbol, timestamp}',
  })
  recent_exits?: RecentExitDto[];

  @ApiPropertyOptional({ default: true })
  @Optional()
  @IsBoolean()
  include_ai?: boolean;
}

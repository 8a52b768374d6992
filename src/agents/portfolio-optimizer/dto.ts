import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsString,
  Matches,
  Max,
  Min,
} from 'class-validator';
import { checkedType, MAX_AMOUNT, NestedArray, Optional, SYMBOL_PATTERN } from '../../common/validation.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';
import {
  MAX_ASSETS,
  PortfolioInputError,
  REBALANCE_THRESHOLD,
  RISK_LEVEL_NAMES,
  type RiskLevel,
} from './optimizer.js';

/**
 * Candle rows one optimisation may use in all (assets × bars, given or fetched): the optimiser's work grows
 * with assets² × bars, and 20 assets × 2,000 bars held the server for more than 100 ms. 20 assets of the
 * default 500 bars fit, and so do 5 assets of 2,000.
 */
export const MAX_CANDLE_ROWS = 10_000;

/** Refuses an optimisation larger than MAX_CANDLE_ROWS before any candle is fetched. */
export function checkPortfolioSize(assets: number, bars: number): void {
  if (assets * bars > MAX_CANDLE_ROWS) {
    throw new PortfolioInputError(
      `${assets} assets × ${bars} bars is more than ${MAX_CANDLE_ROWS} candles; ` +
        'ask for fewer assets or a smaller lookback_bars',
      { max_candle_rows: MAX_CANDLE_ROWS },
    );
  }
}

/** Rows of the request's candles, counted before class-transformer copies them. */
function candleRows(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null; // IsObject names it
  const rows = Object.values(value).reduce<number>((n, v) => n + (Array.isArray(v) ? v.length : 0), 0);
  return rows > MAX_CANDLE_ROWS
    ? `candles may hold at most ${MAX_CANDLE_ROWS} rows in all, got ${rows}`
    : null;
}

export class PositionDto {
  @ApiProperty({ example: 'BTC' })
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'symbol must look like BTC, BTCUSDT or BTC/USDT' })
  symbol!: string;

  @ApiProperty({ example: 9000, description: 'Current value of the position in USD' })
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'value_usd must be a finite number' })
  @Min(0, { message: 'value_usd must not be negative' })
  @Max(MAX_AMOUNT, { message: `value_usd must be at most ${MAX_AMOUNT}` })
  value_usd!: number;
}

/** `POST /agents/portfolio-optimizer/optimize`. Cross-field checks live in the service. */
export class OptimizePortfolioDto {
  @ApiProperty({ example: 7 })
  @IsInt({ message: 'user_id must be an integer' })
  @Min(0, { message: 'user_id must not be negative' })
  @Max(Number.MAX_SAFE_INTEGER, { message: `user_id must be at most ${Number.MAX_SAFE_INTEGER}` })
  user_id!: number;

  @ApiProperty({ enum: RISK_LEVEL_NAMES })
  @IsIn(RISK_LEVEL_NAMES, { message: `risk_level must be one of ${RISK_LEVEL_NAMES.join(', ')}` })
  risk_level!: RiskLevel;

  @ApiPropertyOptional({ default: false })
  @Optional()
  @IsBoolean({ message: 'include_ai_insights must be a boolean' })
  include_ai_insights?: boolean;

  @ApiProperty({ type: [PositionDto] })
  @ArrayMinSize(1, { message: 'positions must hold at least one position' })
  @NestedArray(() => PositionDto, MAX_ASSETS, {
    array: 'positions must be an array of {symbol, value_usd}',
    max: `positions may hold at most ${MAX_ASSETS} assets`,
    item: 'must be an object {symbol, value_usd}',
  })
  positions!: PositionDto[];

  @ApiPropertyOptional({
    description: 'More assets to consider with a current weight of 0 (their candles are needed too)',
    example: ['ETH'],
  })
  @Optional()
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
  @Optional()
  @IsObject({ message: 'candles must be an object of symbol → OHLCV rows' })
  @checkedType(() => Object, candleRows)
  candles?: Record<string, unknown>;

  @ApiPropertyOptional({ enum: TIMEFRAMES, default: '1h' })
  @Optional()
  @IsIn(TIMEFRAMES, { message: `timeframe must be one of ${TIMEFRAMES.join(', ')}` })
  timeframe?: Timeframe;

  @ApiPropertyOptional({ default: 500, description: 'Bars fetched per asset when candles are not given' })
  @Optional()
  @IsInt({ message: 'lookback_bars must be an integer' })
  @Min(30, { message: 'lookback_bars must be at least 30' })
  @Max(2000, { message: 'lookback_bars must be at most 2000' })
  lookback_bars?: number;

  @ApiPropertyOptional({ default: 0, description: 'Annual risk-free rate as a fraction (0.04 = 4%)' })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'risk_free_rate must be a number' })
  @Min(-0.5, { message: 'risk_free_rate must be at least -0.5' })
  @Max(1, { message: 'risk_free_rate must be at most 1' })
  risk_free_rate?: number;

  @ApiPropertyOptional({ default: REBALANCE_THRESHOLD })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'rebalance_threshold must be a number' })
  @Min(0, { message: 'rebalance_threshold must be between 0 and 1' })
  @Max(1, { message: 'rebalance_threshold must be between 0 and 1' })
  rebalance_threshold?: number;
}

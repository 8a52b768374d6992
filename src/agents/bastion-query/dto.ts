import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsNumber,
  IsPositive,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { NestedObject, Optional, SYMBOL_PATTERN } from '../../common/validation.js';
import {
  MAX_CAPITAL_USD,
  MAX_LEVERAGE,
  MAX_SYMBOLS,
  RISK_TOLERANCES,
  TIMEFRAME_STYLES,
  TRADE_TYPES,
  type RiskTolerance,
  type TimeframeStyle,
  type TradeType,
  type UserContext,
} from './query-processor.js';

export const MAX_QUERY_CHARS = 2000;

/**
 * What the caller states about the trade; every field wins over what is read from the question. The global
 * ValidationPipe prefixes nested messages with `user_context.`, so a 400 names the exact field.
 */
export class UserContextDto implements UserContext {
  @ApiPropertyOptional({ example: 50000 })
  @Optional()
  @IsNumber(
    { allowNaN: false, allowInfinity: false },
    { message: 'capital_usd must be a positive number of USD' },
  )
  @IsPositive({ message: 'capital_usd must be a positive number of USD' })
  @Max(MAX_CAPITAL_USD, { message: `capital_usd must be at most ${MAX_CAPITAL_USD} USD` })
  capital_usd?: number;

  @ApiPropertyOptional({ enum: RISK_TOLERANCES })
  @Optional()
  @IsIn(RISK_TOLERANCES, { message: `risk_tolerance must be one of ${RISK_TOLERANCES.join(', ')}` })
  risk_tolerance?: RiskTolerance;

  @ApiPropertyOptional({ enum: TIMEFRAME_STYLES })
  @Optional()
  @IsIn(TIMEFRAME_STYLES, { message: `timeframe must be one of ${TIMEFRAME_STYLES.join(', ')}` })
  timeframe?: TimeframeStyle;

  @ApiPropertyOptional({ enum: TRADE_TYPES })
  @Optional()
  @IsIn(TRADE_TYPES, { message: `trade_type must be one of ${TRADE_TYPES.join(', ')}` })
  trade_type?: TradeType;

  @ApiPropertyOptional({ example: 5, description: 'Leverage multiple; 1 means none' })
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'leverage must be a number' })
  @Min(1, { message: `leverage must be between 1 and ${MAX_LEVERAGE}` })
  @Max(MAX_LEVERAGE, { message: `leverage must be between 1 and ${MAX_LEVERAGE}` })
  leverage?: number;

  @ApiPropertyOptional({ example: ['BTC'], description: 'Overrides the symbols read from the question' })
  @Optional()
  @IsArray({ message: 'symbols must be an array of symbols' })
  @ArrayMaxSize(MAX_SYMBOLS, { message: `symbols may hold at most ${MAX_SYMBOLS} symbols` })
  @IsString({ each: true, message: 'symbols must be strings' })
  @Matches(SYMBOL_PATTERN, { each: true, message: 'symbols must look like BTC, BTCUSDT or BTC/USDT' })
  symbols?: string[];
}

/** `POST /bastion/query`. */
export class QueryDto {
  @ApiProperty({ example: 'Should I long BTC at $97,000 with $50K?', maxLength: MAX_QUERY_CHARS })
  @IsString({ message: 'query must be a string' })
  @Matches(/\S/, { message: 'query must not be empty' })
  @MaxLength(MAX_QUERY_CHARS, { message: `query must be at most ${MAX_QUERY_CHARS} characters` })
  query!: string;

  @ApiPropertyOptional({ type: UserContextDto })
  @Optional()
  @NestedObject(() => UserContextDto, 'user_context must be an object')
  user_context?: UserContextDto;

  @ApiPropertyOptional({ default: false, description: 'Answer as server-sent events' })
  @Optional()
  @IsBoolean({ message: 'stream must be a boolean' })
  stream?: boolean;
}

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsString, Matches } from 'class-validator';
import { Optional, SYMBOL_PATTERN } from '../../common/validation.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';

export class MarketRegimeDto {
  @ApiProperty({ example: 'BTC/USDT' })
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'symbol must look like BTC, BTCUSDT or BTC/USDT' })
  symbol!: string;

  @ApiProperty({ enum: TIMEFRAMES, example: '1h' })
  @IsIn(TIMEFRAMES, { message: `timeframe must be one of ${TIMEFRAMES.join(', ')}` })
  timeframe!: Timeframe;

  @ApiPropertyOptional({
    description: 'ccxt OHLCV rows, oldest first: [[ts_ms, open, high, low, close, volume], ...]',
  })
  @Optional()
  @IsArray({ message: 'candles must be an array of [timestamp_ms, open, high, low, close, volume] rows' })
  @ArrayMaxSize(5000)
  candles?: unknown[];

  @ApiPropertyOptional({ default: true })
  @Optional()
  @IsBoolean()
  include_ai?: boolean;
}

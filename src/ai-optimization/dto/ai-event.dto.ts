import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsDefined,
  IsIn,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  ValidateNested,
} from 'class-validator';
import { IsSmallObject, SYMBOL_PATTERN } from '../../common/validation.js';
import { EVENT_TYPES, PRIORITIES, type EventType, type Priority } from '../events/event.types.js';
import { AiCallDto } from './ai-call.dto.js';

export class MarketEventDto {
  @ApiProperty({ example: 'BTC/USDT' })
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'event.symbol must look like BTC, BTCUSDT or BTC/USDT' })
  symbol!: string;

  @ApiProperty({ enum: EVENT_TYPES })
  @IsIn(EVENT_TYPES, {
    message: `event_type must be one of ${EVENT_TYPES.join(', ')}`,
  })
  event_type!: EventType;

  @ApiProperty({ enum: PRIORITIES })
  @IsIn(PRIORITIES, { message: `priority must be one of ${PRIORITIES.join(', ')}` })
  priority!: Priority;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { change_percent: 2.4, volatility: 1.1 },
  })
  @IsOptional()
  @IsSmallObject(20_000)
  data?: Record<string, unknown>;

  @ApiPropertyOptional({ example: '2026-11-22T12:00:00Z' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'timestamp must be an ISO 8601 date-time' })
  timestamp?: string;
}

/** Body of POST /ai/events — the seed's `call_ai_with_event`: the /ai/call body plus the event. */
export class AiEventDto extends AiCallDto {
  @ApiProperty({ type: MarketEventDto })
  @IsDefined({ message: 'event is required (symbol, event_type, priority, data, timestamp)' })
  @IsObject({ message: 'event must be an object' })
  @ValidateNested()
  @Type(() => MarketEventDto)
  event!: MarketEventDto;
}

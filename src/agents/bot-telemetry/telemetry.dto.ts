import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  registerDecorator,
  ValidateIf,
  ValidateNested,
  type ValidationOptions,
} from 'class-validator';
import { SYMBOL_PATTERN } from '../../common/validation.js';

export const TELEMETRY_TYPES = ['trade', 'order', 'error', 'heartbeat'] as const;
export type TelemetryType = (typeof TELEMETRY_TYPES)[number];

export const TRADE_SIDES = ['buy', 'sell', 'long', 'short'] as const;

/** Bot ids become part of Redis keys and URLs: a short, unambiguous alphabet only. */
export const BOT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const BOT_ID_MESSAGE = 'bot_id must be 1 to 64 characters of letters, digits, "_" or "-"';

/**
 * A bot id in a body: a string of that alphabet or, as the seed guide sends it, a non-negative integer
 * (`123` and `"123"` name the same bot; keys always use the string).
 */
export function IsBotId(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isBotId',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${BOT_ID_MESSAGE}, or a non-negative integer`, ...options },
      validator: {
        validate: (value: unknown): boolean =>
          (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) ||
          (typeof value === 'string' && BOT_ID_PATTERN.test(value)),
      },
    });
  };
}

export const MAX_EVENTS_PER_BATCH = 1000;

const FINITE = { allowNaN: false, allowInfinity: false } as const;

/** Exchange error codes come as strings ("EAPI:Rate limit") or integers (Binance -1021): accept both, short. */
function IsErrorCode(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isErrorCode',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: `${String(propertyName)} must be an integer or a string of at most 64 characters`,
        ...options,
      },
      validator: {
        validate: (value: unknown): boolean =>
          Number.isInteger(value) || (typeof value === 'string' && value.length > 0 && value.length <= 64),
      },
    });
  };
}

/**
 * One telemetry event. The fields a type needs are required through @ValidateIf on the type, so the
 * ValidationPipe's message names the field and, through the nested path, the event index
 * ("events.3.pnl is required on a trade ..."). A field that is not required for the type is still
 * checked when present, and ignored when stored.
 */
export class TelemetryEventDto {
  @ApiProperty({ enum: TELEMETRY_TYPES })
  @IsIn(TELEMETRY_TYPES, { message: `type must be one of ${TELEMETRY_TYPES.join(', ')}` })
  type!: TelemetryType;

  @ApiProperty({ example: '2026-11-22T12:00:00Z' })
  @IsISO8601({ strict: true }, { message: 'timestamp must be an ISO 8601 date-time' })
  timestamp!: string;

  @ApiPropertyOptional({
    description: 'Realised PnL of the trade in USD; required on a trade',
    example: -12.5,
  })
  @ValidateIf((e: TelemetryEventDto) => e.type === 'trade' || e.pnl !== undefined)
  @IsNumber(FINITE, { message: 'pnl is required on a trade and must be a finite number' })
  pnl?: number;

  @ApiPropertyOptional({ description: 'Order round-trip latency; required on an order', example: 830 })
  @ValidateIf((e: TelemetryEventDto) => e.type === 'order' || e.latency_ms !== undefined)
  @IsNumber(FINITE, { message: 'latency_ms is required on an order and must be a finite number' })
  @Min(0, { message: 'latency_ms must be at least 0' })
  latency_ms?: number;

  @ApiPropertyOptional({ description: 'Error text; required on an error', maxLength: 500 })
  @ValidateIf((e: TelemetryEventDto) => e.type === 'error' || e.message !== undefined)
  @IsString({ message: 'message is required on an error and must be a string' })
  @MaxLength(500, { message: 'message must be at most 500 characters' })
  message?: string;

  @ApiPropertyOptional({ description: 'Exchange or bot error code (string or integer)' })
  @IsOptional()
  @IsErrorCode()
  code?: string | number;

  @ApiPropertyOptional({ example: 'BTC/USDT' })
  @IsOptional()
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'symbol must look like BTC, BTCUSDT or BTC/USDT' })
  symbol?: string;

  @ApiPropertyOptional({ enum: TRADE_SIDES })
  @IsOptional()
  @IsIn(TRADE_SIDES, { message: `side must be one of ${TRADE_SIDES.join(', ')}` })
  side?: (typeof TRADE_SIDES)[number];

  @ApiPropertyOptional({ description: 'Slippage of the fill in basis points', example: 3.2 })
  @IsOptional()
  @IsNumber(FINITE, { message: 'slippage_bps must be a finite number' })
  slippage_bps?: number;

  @ApiPropertyOptional({ description: 'Declared heartbeat interval (heartbeat only)', example: 60 })
  @IsOptional()
  @IsInt({ message: 'interval_seconds must be an integer' })
  @Min(1, { message: 'interval_seconds must be at least 1' })
  @Max(86_400, { message: 'interval_seconds must be at most 86400' })
  interval_seconds?: number;
}

export class TelemetryDto {
  @ApiProperty({ example: 1 })
  @IsInt({ message: 'user_id must be an integer' })
  @Min(0, { message: 'user_id must be at least 0' })
  user_id!: number;

  @ApiProperty({
    type: [TelemetryEventDto],
    minItems: 1,
    maxItems: MAX_EVENTS_PER_BATCH,
    example: [{ type: 'trade', timestamp: '2026-11-22T12:00:00Z', pnl: -12.5 }],
  })
  @IsArray({ message: 'events must be an array' })
  @ArrayMinSize(1, { message: 'events must contain at least 1 event' })
  @ArrayMaxSize(MAX_EVENTS_PER_BATCH, {
    message: `events must contain at most ${MAX_EVENTS_PER_BATCH} events`,
  })
  @ValidateNested({ each: true })
  @Type(() => TelemetryEventDto)
  events!: TelemetryEventDto[];
}

/** The path parameter of /bots/:bot_id/telemetry. */
export class BotParamsDto {
  @ApiProperty({ example: 'grid-btc-01' })
  @Matches(BOT_ID_PATTERN, { message: BOT_ID_MESSAGE })
  bot_id!: string;
}

export interface TelemetryAnswer {
  /** Events stored (validated and inside the retention window). */
  accepted: number;
  /** Events older than the retention window: valid, but not stored. */
  expired: number;
  bot_id: string;
  counts: Record<TelemetryType, number>;
}

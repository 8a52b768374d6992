import { ApiProperty } from '@nestjs/swagger';
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
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

export const TELEMETRY_TYPES = ['trade', 'order', 'error', 'heartbeat'] as const;
export type TelemetryType = (typeof TELEMETRY_TYPES)[number];

export class TelemetryEventDto {
  @IsIn(TELEMETRY_TYPES, {
    message: `type must be one of ${TELEMETRY_TYPES.join(', ')}`,
  })
  type!: TelemetryType;

  @IsISO8601({ strict: true }, { message: 'timestamp must be an ISO 8601 date-time' })
  timestamp!: string;

  @ValidateIf((e: TelemetryEventDto) => e.type === 'trade' || e.pnl !== undefined)
  @IsNumber(
    { allowNaN: false, allowInfinity: false },
    { message: 'pnl is required on a trade and must be a number' },
  )
  pnl?: number;

  @ValidateIf((e: TelemetryEventDto) => e.type === 'order' || e.latency_ms !== undefined)
  @IsNumber(
    { allowNaN: false, allowInfinity: false },
    { message: 'latency_ms is required on an order and must be a number' },
  )
  @Min(0)
  latency_ms?: number;

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  slippage_bps?: number;

  @IsOptional()
  @IsString()
  @MaxLength(500)
  message?: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  interval_seconds?: number;

  @IsOptional()
  @IsString()
  @MaxLength(30)
  symbol?: string;
}

export class TelemetryDto {
  @ApiProperty({ example: 1 })
  @IsInt()
  @Min(0)
  user_id!: number;

  @ApiProperty({ example: [{ type: 'trade', timestamp: '2026-11-22T12:00:00Z', pnl: -12.5 }] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => TelemetryEventDto)
  events!: TelemetryEventDto[];
}

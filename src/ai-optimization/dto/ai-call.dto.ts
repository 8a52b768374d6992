import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
} from 'class-validator';
import {
  AGENT_TYPE_PATTERN,
  IsNumberRecord,
  IsSmallObject,
  SYMBOL_PATTERN,
} from '../../common/validation.js';

/** Body of POST /ai/call — the seed's `call_ai` (DESIGN 4.1). */
export class AiCallDto {
  @ApiProperty({ example: 'market_regime' })
  @IsString()
  @Matches(AGENT_TYPE_PATTERN, {
    message: 'agent_type must be lower_snake_case (a-z, 0-9, _), at most 64 characters',
  })
  agent_type!: string;

  @ApiProperty({ example: 'Analyze current BTC market regime' })
  @IsString()
  @MinLength(1)
  @MaxLength(100_000)
  prompt!: string;

  @ApiPropertyOptional({
    description: 'Static instructions; keep dynamic values out of it so the prefix cache hits',
  })
  @IsOptional()
  @IsString()
  @MaxLength(100_000)
  system_prompt?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { price: 45000 } })
  @IsOptional()
  @IsSmallObject(200_000)
  context?: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'market_analysis', default: 'general' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z][a-z0-9_]{0,63}$/, {
    message: 'response_type must be lower_snake_case, at most 64 characters',
  })
  response_type?: string;

  @ApiPropertyOptional({ example: 'BTC/USDT' })
  @IsOptional()
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'symbol must look like BTC, BTCUSDT or BTC/USDT' })
  symbol?: string;

  @ApiPropertyOptional({ nullable: true, example: null })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(200)
  model?: string | null;

  @ApiPropertyOptional({ default: 512 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65_536)
  max_tokens?: number;

  @ApiPropertyOptional({ default: 0 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(2)
  temperature?: number;

  @ApiPropertyOptional({
    default: false,
    description: 'Ask for a JSON object answer (response_format json_object)',
  })
  @IsOptional()
  @IsBoolean()
  json?: boolean;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  cache?: boolean;

  @ApiPropertyOptional({ example: 300 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(7 * 24 * 3600)
  cache_ttl_seconds?: number;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'number' },
    example: { price: 45000 },
  })
  @IsOptional()
  @IsNumberRecord()
  sampling_features?: Record<string, number>;

  @ApiPropertyOptional({ nullable: true })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  score?: number | null;
}

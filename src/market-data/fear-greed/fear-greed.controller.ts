import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { fromVendor } from '../vendor-http.js';
import { FEAR_GREED_MAX_LIMIT, type FearGreedReading, FearGreedSource } from './fear-greed.source.js';

export class FearGreedQueryDto {
  @ApiPropertyOptional({ default: 1, minimum: 1, maximum: FEAR_GREED_MAX_LIMIT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(FEAR_GREED_MAX_LIMIT)
  limit?: number;
}

@ApiTags('market')
@ApiBearerAuth()
@Controller('market/fear-greed')
export class FearGreedController {
  constructor(private readonly fearGreed: FearGreedSource) {}

  @Get()
  @ApiOperation({ summary: 'The last `limit` daily Fear & Greed readings (alternative.me), newest first' })
  index(@Query() query: FearGreedQueryDto): Promise<{ source: string; data: FearGreedReading[] }> {
    return fromVendor(async () => ({
      source: this.fearGreed.name,
      data: await this.fearGreed.index(query.limit ?? 1),
    }));
  }
}

import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { fromVendor } from '../vendor-http.js';
import {
  WHALE_ALERTS_KEPT,
  WHALE_DEFAULT_MIN_VALUE,
  WhaleAlertSource,
  windowStart,
} from './whale-alert.source.js';
import { WhaleAlertStream } from './whale-alert.stream.js';

/** An optional integer query parameter in [min, max]; anything else is a 400 that names the parameter. */
function intIn(name: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new BadRequestException(`${name} must be an integer between ${min} and ${max}`);
  return n;
}

/** Lowest `min_value` the legacy free plan accepts; a lower one would only earn a vendor error. */
const MIN_VALUE_FLOOR = 100_000;
const MIN_VALUE_CEILING = 10_000_000_000;
/** The plans behind the v1 API serve about an hour of history. */
const MAX_MINUTES = 60;

/** An unconfigured source is a 503 naming the variable to set; vendor failures are 502 (504 on timeout). */
@ApiTags('market')
@ApiBearerAuth()
@Controller('market/whale-alert')
export class WhaleAlertController {
  constructor(
    private readonly whales: WhaleAlertSource,
    private readonly stream: WhaleAlertStream,
  ) {}

  @Get('transactions')
  @ApiOperation({ summary: 'Large on-chain transfers of the last `minutes` (REST v1, all pages)' })
  @ApiQuery({ name: 'min_value', required: false, description: 'USD, 100000–10000000000 (default 500000)' })
  @ApiQuery({ name: 'currency', required: false, description: 'symbol such as btc (default all)' })
  @ApiQuery({ name: 'minutes', required: false, description: '1–60 (default 60)' })
  transactions(
    @Query('min_value') minValue?: string,
    @Query('currency') currency?: string,
    @Query('minutes') minutes?: string,
  ) {
    const min = intIn('min_value', minValue, MIN_VALUE_FLOOR, MIN_VALUE_CEILING, WHALE_DEFAULT_MIN_VALUE);
    const window = intIn('minutes', minutes, 1, MAX_MINUTES, MAX_MINUTES);
    if (currency !== undefined && !/^[a-zA-Z0-9]{1,15}$/.test(currency))
      throw new BadRequestException('currency must be 1–15 letters or digits, like btc');
    return fromVendor(async () => ({
      source: 'whale_alert',
      data: await this.whales.transactions({
        start: windowStart(window),
        minValue: min,
        currency: currency?.toLowerCase(),
      }),
    }));
  }

  @Get('alerts')
  @ApiOperation({ summary: 'Newest alerts received from the Whale Alert stream, newest first' })
  @ApiQuery({ name: 'limit', required: false, description: `1–${WHALE_ALERTS_KEPT} (default 50)` })
  alerts(@Query('limit') limit?: string) {
    const n = intIn('limit', limit, 1, WHALE_ALERTS_KEPT, 50);
    return fromVendor(async () => ({
      source: 'whale_alert',
      stream: this.stream.status(),
      data: await this.whales.recentAlerts(n),
    }));
  }

  @Get('status')
  @ApiOperation({ summary: 'Whale Alert REST status (chains followed) and the live stream state' })
  status() {
    return fromVendor(async () => ({
      source: 'whale_alert',
      rest: await this.whales.status(),
      stream: this.stream.status(),
    }));
  }
}

import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { DomainError } from '../../common/errors.js';
import { vendorFailureToHttp } from '../vendor-http.js';
import { WhaleAlertSource } from './whale-alert.source.js';
import { WhaleAlertStream } from './whale-alert.stream.js';

function intIn(name: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new BadRequestException(`${name} must be an integer between ${min} and ${max}`);
  return n;
}

@ApiTags('market')
@ApiBearerAuth()
@Controller('market/whale-alert')
export class WhaleAlertController {
  constructor(
    private readonly whales: WhaleAlertSource,
    private readonly stream: WhaleAlertStream,
  ) {}

  private ensureEnabled(): void {
    if (!this.whales.enabled)
      throw new DomainError(
        'source_disabled',
        'whale_alert is not configured (set WHALE_ALERT_API_KEY)',
        503,
      );
  }

  @Get('transactions')
  async transactions(
    @Query('min_value') minValue?: string,
    @Query('currency') currency?: string,
    @Query('minutes') minutes?: string,
  ) {
    this.ensureEnabled();
    const min = intIn('min_value', minValue, 100_000, 10_000_000_000, 500_000);
    const window = intIn('minutes', minutes, 1, 60, 60);
    if (currency !== undefined && !/^[a-zA-Z0-9]{1,10}$/.test(currency))
      throw new BadRequestException('currency must be a ticker like btc');
    const start = Math.floor(Date.now() / 60_000) * 60 - window * 60;
    try {
      return {
        source: 'whale_alert',
        data: await this.whales.transactions({ start, minValue: min, currency: currency?.toLowerCase() }),
      };
    } catch (err) {
      throw vendorFailureToHttp(err);
    }
  }

  @Get('alerts')
  async alerts(@Query('limit') limit?: string) {
    return {
      source: 'whale_alert',
      stream: this.stream.status(),
      data: await this.whales.recentAlerts(intIn('limit', limit, 1, 200, 50)),
    };
  }

  @Get('status')
  async status() {
    this.ensureEnabled();
    try {
      return { rest: await this.whales.status(), stream: this.stream.status() };
    } catch (err) {
      throw vendorFailureToHttp(err);
    }
  }
}

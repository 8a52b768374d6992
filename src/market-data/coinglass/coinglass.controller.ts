import { BadRequestException, Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DomainError } from '../../common/errors.js';
import { parseSymbol } from '../symbols.js';
import { vendorFailureToHttp } from '../vendor-http.js';
import {
  COINGLASS_EXCHANGES,
  COINGLASS_INTERVALS,
  COINGLASS_RANGES,
  CoinglassSource,
  type CoinglassExchange,
  type CoinglassInterval,
  type CoinglassRange,
} from './coinglass.source.js';

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value))
    throw new BadRequestException(`${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

@ApiTags('market')
@ApiBearerAuth()
@Controller('market/coinglass')
export class CoinglassController {
  constructor(private readonly coinglass: CoinglassSource) {}

  private async run<T>(work: () => Promise<T>): Promise<{ source: string; data: T }> {
    if (!this.coinglass.enabled)
      throw new DomainError('source_disabled', 'coinglass is not configured (set COINGLASS_API_KEY)', 503);
    try {
      return { source: 'coinglass', data: await work() };
    } catch (err) {
      throw vendorFailureToHttp(err);
    }
  }

  @Get(':symbol/liquidations')
  @ApiOperation({ summary: 'Liquidation history of the pair and the per-exchange totals for a range' })
  liquidations(
    @Param('symbol') raw: string,
    @Query('exchange') exchange?: string,
    @Query('interval') interval?: string,
    @Query('range') range?: string,
  ) {
    const symbol = parseSymbol(raw);
    const ex = oneOf<CoinglassExchange>('exchange', exchange, COINGLASS_EXCHANGES, 'Binance');
    const iv = oneOf<CoinglassInterval>('interval', interval, COINGLASS_INTERVALS, '4h');
    const rg = oneOf<CoinglassRange>('range', range, COINGLASS_RANGES, '24h');
    return this.run(async () => ({
      history: await this.coinglass.liquidationHistory(symbol, ex, iv),
      exchanges: await this.coinglass.liquidationExchanges(symbol, rg),
    }));
  }

  @Get(':symbol/open-interest')
  openInterest(@Param('symbol') raw: string, @Query('interval') interval?: string) {
    const symbol = parseSymbol(raw);
    const iv = oneOf<CoinglassInterval>('interval', interval, COINGLASS_INTERVALS, '4h');
    return this.run(async () => ({
      history: await this.coinglass.openInterestHistory(symbol, iv),
      exchanges: await this.coinglass.openInterestExchanges(symbol),
    }));
  }

  @Get(':symbol/funding')
  funding(
    @Param('symbol') raw: string,
    @Query('exchange') exchange?: string,
    @Query('interval') interval?: string,
  ) {
    const symbol = parseSymbol(raw);
    const ex = oneOf<CoinglassExchange>('exchange', exchange, COINGLASS_EXCHANGES, 'Binance');
    const iv = oneOf<CoinglassInterval>('interval', interval, COINGLASS_INTERVALS, '8h');
    return this.run(async () => ({
      exchanges: await this.coinglass.fundingExchanges(symbol),
      history: await this.coinglass.fundingHistory(symbol, ex, iv),
    }));
  }

  @Get(':symbol/long-short')
  longShort(
    @Param('symbol') raw: string,
    @Query('exchange') exchange?: string,
    @Query('interval') interval?: string,
  ) {
    const symbol = parseSymbol(raw);
    const ex = oneOf<CoinglassExchange>('exchange', exchange, COINGLASS_EXCHANGES, 'Binance');
    const iv = oneOf<CoinglassInterval>('interval', interval, COINGLASS_INTERVALS, '4h');
    return this.run(() => this.coinglass.longShortRatio(symbol, ex, iv));
  }
}

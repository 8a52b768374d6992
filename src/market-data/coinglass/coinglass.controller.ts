import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { parseSymbol } from '../symbols.js';
import { fromVendor } from '../vendor-http.js';
import {
  COINGLASS_EXCHANGES,
  COINGLASS_INTERVALS,
  COINGLASS_MAX_LIMIT,
  COINGLASS_RANGES,
  parseCoinglassLimit,
  parseCoinglassParam,
} from './coinglass.params.js';
import type {
  FundingByExchange,
  LiquidationByExchange,
  LiquidationPoint,
  LongShortPoint,
  OhlcPoint,
  OpenInterestByExchange,
} from './coinglass.parsers.js';
import { CoinglassSource } from './coinglass.source.js';

export interface CoinglassAnswer<T> {
  source: 'coinglass';
  symbol: string;
  data: T;
}

/** A query parameter from its list, or the default when absent; anything else is a 400 naming the list. */
function optionalParam<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  return value === undefined || value === '' ? fallback : parseCoinglassParam(name, value, allowed);
}

const optionalLimit = (value: string | undefined): number | undefined =>
  value === undefined || value === '' ? undefined : parseCoinglassLimit(value);

/**
 * Coinglass per-source routes: thin, everything is validated before the source is asked, and vendor
 * failures become 502/504 with the vendor's reason (never its key) through fromVendor.
 */
@ApiTags('market')
@ApiBearerAuth()
@Controller('market/coinglass')
export class CoinglassController {
  constructor(private readonly coinglass: CoinglassSource) {}

  @Get(':symbol/liquidations')
  @ApiOperation({
    summary: 'Liquidation history of the pair on one exchange and per-exchange totals over a range',
  })
  @ApiParam({ name: 'symbol', example: 'BTCUSDT' })
  @ApiQuery({ name: 'exchange', required: false, enum: COINGLASS_EXCHANGES })
  @ApiQuery({ name: 'interval', required: false, enum: COINGLASS_INTERVALS })
  @ApiQuery({ name: 'range', required: false, enum: COINGLASS_RANGES })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1–${COINGLASS_MAX_LIMIT}` })
  async liquidations(
    @Param('symbol') raw: string,
    @Query('exchange') exchange?: string,
    @Query('interval') interval?: string,
    @Query('range') range?: string,
    @Query('limit') limit?: string,
  ): Promise<CoinglassAnswer<{ history: LiquidationPoint[]; exchanges: LiquidationByExchange[] }>> {
    const symbol = parseSymbol(raw);
    const options = {
      exchange: optionalParam('exchange', exchange, COINGLASS_EXCHANGES, 'Binance'),
      interval: optionalParam('interval', interval, COINGLASS_INTERVALS, '4h'),
      limit: optionalLimit(limit),
    };
    const rg = optionalParam('range', range, COINGLASS_RANGES, '24h');
    return this.answer(symbol.unified, async () => ({
      history: await this.coinglass.liquidationHistory(symbol, options),
      exchanges: await this.coinglass.liquidationExchanges(symbol, rg),
    }));
  }

  @Get(':symbol/open-interest')
  @ApiOperation({ summary: 'Aggregated open-interest OHLC (USD) and current open interest per exchange' })
  @ApiParam({ name: 'symbol', example: 'BTCUSDT' })
  @ApiQuery({ name: 'interval', required: false, enum: COINGLASS_INTERVALS })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1–${COINGLASS_MAX_LIMIT}` })
  async openInterest(
    @Param('symbol') raw: string,
    @Query('interval') interval?: string,
    @Query('limit') limit?: string,
  ): Promise<CoinglassAnswer<{ history: OhlcPoint[]; exchanges: OpenInterestByExchange[] }>> {
    const symbol = parseSymbol(raw);
    const options = {
      interval: optionalParam('interval', interval, COINGLASS_INTERVALS, '4h'),
      limit: optionalLimit(limit),
    };
    return this.answer(symbol.unified, async () => ({
      history: await this.coinglass.openInterestAggregated(symbol, options),
      exchanges: await this.coinglass.openInterestExchanges(symbol),
    }));
  }

  @Get(':symbol/funding')
  @ApiOperation({
    summary: 'Current funding per exchange and funding OHLC of the pair, in percent per interval',
  })
  @ApiParam({ name: 'symbol', example: 'BTCUSDT' })
  @ApiQuery({ name: 'exchange', required: false, enum: COINGLASS_EXCHANGES })
  @ApiQuery({ name: 'interval', required: false, enum: COINGLASS_INTERVALS })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1–${COINGLASS_MAX_LIMIT}` })
  async funding(
    @Param('symbol') raw: string,
    @Query('exchange') exchange?: string,
    @Query('interval') interval?: string,
    @Query('limit') limit?: string,
  ): Promise<CoinglassAnswer<{ exchanges: FundingByExchange[]; history: OhlcPoint[] }>> {
    const symbol = parseSymbol(raw);
    const options = {
      exchange: optionalParam('exchange', exchange, COINGLASS_EXCHANGES, 'Binance'),
      interval: optionalParam('interval', interval, COINGLASS_INTERVALS, '8h'),
      limit: optionalLimit(limit),
    };
    return this.answer(symbol.unified, async () => ({
      exchanges: await this.coinglass.fundingExchanges(symbol),
      history: await this.coinglass.fundingHistory(symbol, options),
    }));
  }

  @Get(':symbol/long-short')
  @ApiOperation({ summary: 'Global long/short account ratio history of the pair on one exchange' })
  @ApiParam({ name: 'symbol', example: 'BTCUSDT' })
  @ApiQuery({ name: 'exchange', required: false, enum: COINGLASS_EXCHANGES })
  @ApiQuery({ name: 'interval', required: false, enum: COINGLASS_INTERVALS })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1–${COINGLASS_MAX_LIMIT}` })
  async longShort(
    @Param('symbol') raw: string,
    @Query('exchange') exchange?: string,
    @Query('interval') interval?: string,
    @Query('limit') limit?: string,
  ): Promise<CoinglassAnswer<LongShortPoint[]>> {
    const symbol = parseSymbol(raw);
    const options = {
      exchange: optionalParam('exchange', exchange, COINGLASS_EXCHANGES, 'Binance'),
      interval: optionalParam('interval', interval, COINGLASS_INTERVALS, '4h'),
      limit: optionalLimit(limit),
    };
    return this.answer(symbol.unified, () => this.coinglass.longShortRatio(symbol, options));
  }

  /**
   * Runs after the input checks, so a bad request is a 400 even when the source is not configured (the
   * source then refuses before any call: 503 source_disabled). The two parts of a route run one after the
   * other: both are usually cache hits, and a plan error on the first should not spend the key's per-minute
   * quota on the second.
   */
  private answer<T>(symbol: string, work: () => Promise<T>): Promise<CoinglassAnswer<T>> {
    return fromVendor(async () => ({ source: 'coinglass', symbol, data: await work() }));
  }
}

import { BadRequestException, Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { parseSymbol } from '../symbols.js';
import {
  HELSINKI_STATIC_ENDPOINTS,
  HELSINKI_STATIC_PATHS,
  HELSINKI_SYMBOL_ENDPOINTS,
  type HelsinkiAnswer,
  HelsinkiSource,
  isHelsinkiStaticEndpoint,
  isHelsinkiSymbolEndpoint,
} from './helsinki.source.js';
import { fromVendor } from '../vendor-http.js';

/**
 * Pass-through to the Helsinki quant server (answers cached 30 s per symbol, 60 s market-wide).
 *
 * - `GET /market/helsinki/:endpoint/:symbol` — `:endpoint` is the last segment of `/quant/<endpoint>/{BASE}`
 *   (`cvd`, `large-trades`, `full`, …); `:symbol` is any spelling parseSymbol accepts (`BTC`, `BTC/USDT`
 *   URL-encoded, `BTCUSDT`) and reaches the vendor as its base asset.
 * - `GET /market/helsinki/static/:endpoint` — market-wide endpoints, named by their vendor path with `/`
 *   turned into `-` and `quant/` dropped: `derivatives-funding` → `/derivatives/funding`,
 *   `funding-arb` → `/quant/funding-arb`, `sentiment-fear-greed` → `/sentiment/fear-greed`,
 *   `options-skew` → `/options/skew` (the full map is HELSINKI_STATIC_PATHS). The literal `static` segment
 *   wins over `:endpoint` in the router, and no symbol endpoint is called `static`.
 */
@ApiTags('market')
@ApiBearerAuth()
@Controller('market/helsinki')
export class HelsinkiController {
  constructor(private readonly helsinki: HelsinkiSource) {}

  @Get('static/:endpoint')
  @ApiOperation({ summary: 'A market-wide Helsinki endpoint (funding, OI, dominance, gas, …)' })
  @ApiParam({ name: 'endpoint', enum: HELSINKI_STATIC_ENDPOINTS })
  staticEndpoint(@Param('endpoint') endpoint: string): Promise<HelsinkiAnswer> {
    if (!isHelsinkiStaticEndpoint(endpoint)) {
      throw new BadRequestException(`endpoint must be one of: ${HELSINKI_STATIC_ENDPOINTS.join(', ')}`);
    }
    return fromVendor(() => this.helsinki.staticEndpoint(endpoint));
  }

  @Get(':endpoint/:symbol')
  @ApiOperation({ summary: 'A per-symbol Helsinki quant endpoint (CVD, order book, smart money, …)' })
  @ApiParam({ name: 'endpoint', enum: HELSINKI_SYMBOL_ENDPOINTS })
  @ApiParam({ name: 'symbol', example: 'BTCUSDT' })
  symbolEndpoint(
    @Param('endpoint') endpoint: string,
    @Param('symbol') symbol: string,
  ): Promise<HelsinkiAnswer> {
    if (!isHelsinkiSymbolEndpoint(endpoint)) {
      throw new BadRequestException(
        `endpoint must be one of: ${HELSINKI_SYMBOL_ENDPOINTS.join(', ')} ` +
          `(market-wide ones live under /market/helsinki/static/: ${Object.keys(HELSINKI_STATIC_PATHS).join(', ')})`,
      );
    }
    const parsed = parseSymbol(symbol);
    return fromVendor(() => this.helsinki.symbolEndpoint(endpoint, parsed));
  }
}

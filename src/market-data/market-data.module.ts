import { Module } from '@nestjs/common';
import { CoinglassController } from './coinglass/coinglass.controller.js';
import { CoinglassSource } from './coinglass/coinglass.source.js';
import { FearGreedController } from './fear-greed/fear-greed.controller.js';
import { FearGreedSource } from './fear-greed/fear-greed.source.js';
import { HelsinkiController } from './helsinki/helsinki.controller.js';
import { HelsinkiSource } from './helsinki/helsinki.source.js';
import { marketConfig, type MarketConfig } from '../config/namespaces.js';
import { Clock } from '../common/clock.js';
import { CANDLE_SOURCE, type CandleSource } from './candles/candle-source.js';
import { CcxtCandleSource } from './candles/ccxt-candle-source.js';
import { MarketCache } from './market-cache.js';
import { MarketContextService } from './market-context.service.js';
import { MARKET_SOURCES, type MarketSource } from './market-source.js';
import { MarketController } from './market.controller.js';
import { WhaleAlertController } from './whale-alert/whale-alert.controller.js';
import { WhaleAlertSource } from './whale-alert/whale-alert.source.js';
import { WhaleAlertStream } from './whale-alert/whale-alert.stream.js';
import { MarketCacheRepository } from '../redis/repositories/market-cache.repository.js';
import { WhaleAlertRepository } from '../redis/repositories/whale-alert.repository.js';
import { WhaleLeaseRepository } from '../redis/repositories/whale-lease.repository.js';

/**
 * Market data vendors behind one MarketSource interface; a new vendor is one class added to MARKET_SOURCES.
 * The Whale Alert stream raises its events through MARKET_EVENT_SINK (provided globally by the AI layer),
 * so this module imports nothing from it.
 */
@Module({
  controllers: [
    MarketController,
    HelsinkiController,
    FearGreedController,
    CoinglassController,
    WhaleAlertController,
  ],
  providers: [
    MarketCacheRepository,
    WhaleAlertRepository,
    WhaleLeaseRepository,
    MarketCache,
    HelsinkiSource,
    FearGreedSource,
    CoinglassSource,
    WhaleAlertSource,
    WhaleAlertStream,
    {
      provide: MARKET_SOURCES,
      inject: [HelsinkiSource, CoinglassSource, WhaleAlertSource, FearGreedSource],
      useFactory: (...sources: MarketSource[]): MarketSource[] => sources,
    },
    MarketContextService,
    {
      // Candles from the exchange through ccxt (public endpoints, no keys); requests may also carry candles.
      provide: CANDLE_SOURCE,
      inject: [marketConfig.KEY, Clock],
      useFactory: (config: MarketConfig, clock: Clock): CandleSource =>
        new CcxtCandleSource({ exchangeId: config.exchangeId }, clock),
    },
  ],
  exports: [MarketContextService, MARKET_SOURCES, CANDLE_SOURCE],
})
export class MarketDataModule {}

import { Module } from '@nestjs/common';

/** Market data vendors (Helsinki, Coinglass, Whale Alert, Fear & Greed, candles) arrive with issue #4. */
@Module({})
export class MarketDataModule {}

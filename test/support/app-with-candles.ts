import { randomUUID } from 'node:crypto';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module.js';
import type { Clock } from '../../src/common/clock.js';
import { CcxtCandleSource } from '../../src/market-data/candles/ccxt-candle-source.js';
import { CANDLE_SOURCE } from '../../src/market-data/candles/candle-source.js';
import { RedisService } from '../../src/redis/redis.service.js';
import { ADMIN_KEY, BOT_KEY, LogCapture, TEST_REDIS_URL } from './app.js';

export interface CandleApp {
  url: string;
  request(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * The whole app against real Redis, with candles fetched by the real ccxt client from a fake Binance
 * (test/fakes/binance.ts): for requests that bring no candles, as the seed guide's examples do.
 */
export async function startAppWithFakeExchange(opts: {
  binanceApiBase: string;
  clock: Clock;
  env?: Record<string, string>;
}): Promise<CandleApp> {
  const prefix = `bastion-test:${randomUUID().slice(0, 8)}:`;
  const env = {
    NODE_ENV: 'test',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    API_KEYS: BOT_KEY,
    ADMIN_API_KEYS: ADMIN_KEY,
    BUDGET_CHECK_CRON: '0 0 0 1 1 *',
    FEAR_GREED_URL: 'http://127.0.0.1:9/fng/',
    ...opts.env,
  };
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot(env, { clock: opts.clock, logStream: new LogCapture() })],
  })
    .overrideProvider(CANDLE_SOURCE)
    .useValue(
      new CcxtCandleSource(
        { exchangeId: 'binance', urls: { api: { public: opts.binanceApiBase } } },
        opts.clock,
      ),
    )
    .compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    logger: false,
  });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    url,
    async request(method, path, body, key = BOT_KEY) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    async close() {
      await app
        .get(RedisService)
        .deleteAllWithPrefix()
        .catch(() => undefined);
      await app.close();
    },
  };
}

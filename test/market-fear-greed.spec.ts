/**
 * Medium test: FearGreedSource and FearGreedController against the fake alternative.me API and a real Redis.
 */
import { randomUUID } from 'node:crypto';
import { ValidationPipe } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AllExceptionsFilter } from '../src/common/exception.filter.js';
import { Scrubber } from '../src/common/secrets.js';
import { loadAppConfig } from '../src/config/app-config.js';
import { marketConfig } from '../src/config/namespaces.js';
import { FearGreedController } from '../src/market-data/fear-greed/fear-greed.controller.js';
import { FearGreedSource } from '../src/market-data/fear-greed/fear-greed.source.js';
import { MarketCache } from '../src/market-data/market-cache.js';
import { MarketCacheRepository } from '../src/redis/repositories/market-cache.repository.js';
import { parseSymbol } from '../src/market-data/symbols.js';
import { VendorError } from '../src/market-data/vendor-http.js';
import { RedisService } from '../src/redis/redis.service.js';
import { type FakeFearGreed, FAKE_FNG_LATEST, startFakeFearGreed } from './fakes/fear-greed.js';
import { TEST_REDIS_URL } from './support/app.js';

/** Short deadline so the hang case stays fast; production keeps 3000 ms (asserted below). */
const DEADLINE_MS = 300;
/** Scheduling slack on a busy CI machine. */
const MARGIN_MS = 700;

let fake: FakeFearGreed;
let redis: RedisService;
let cache: MarketCache;
let source: FearGreedSource;

async function rejection(work: Promise<unknown>): Promise<{ err: unknown; elapsed: number }> {
  const started = Date.now();
  try {
    await work;
  } catch (err) {
    return { err, elapsed: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  fake = await startFakeFearGreed();
  const config = loadAppConfig({
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
    FEAR_GREED_URL: `${fake.url}/fng/`,
  });
  redis = new RedisService(config);
  await redis.connect();
  cache = new MarketCache(new MarketCacheRepository(redis));
  source = new FearGreedSource(config, cache, { deadlineMs: DEADLINE_MS });
});

beforeEach(async () => {
  fake.reset();
  await redis.deleteAllWithPrefix();
});

afterAll(async () => {
  await redis.deleteAllWithPrefix();
  await redis.onApplicationShutdown();
  await fake.close();
});

describe('FearGreedSource', () => {
  it('is always enabled and keeps the 3000 ms production deadline by default', () => {
    const production = new FearGreedSource(loadAppConfig({}), cache);
    expect(production).toMatchObject({ name: 'fear_greed', enabled: true, deadlineMs: 3000 });
  });

  it('resolves through Nest DI without the optional options provider', async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [
        FearGreedSource,
        { provide: MarketCache, useValue: cache },
        { provide: marketConfig.KEY, useValue: loadAppConfig({}) },
      ],
    }).compile();
    expect(moduleRef.get(FearGreedSource)).toMatchObject({ enabled: true, deadlineMs: 3000 });
    await moduleRef.close();
  });

  it('turns the all-string answer into typed readings, newest first', async () => {
    const readings = await source.index(3);
    expect(fake.calls).toEqual(['/fng/?limit=3']);
    expect(readings).toEqual([
      {
        value: 47,
        classification: 'Neutral',
        timestamp: new Date(FAKE_FNG_LATEST * 1000).toISOString(),
        time_until_update_seconds: 78730,
      },
      {
        value: 46,
        classification: 'Fear',
        timestamp: new Date((FAKE_FNG_LATEST - 86400) * 1000).toISOString(),
        time_until_update_seconds: null,
      },
      {
        value: 39,
        classification: 'Fear',
        timestamp: new Date((FAKE_FNG_LATEST - 2 * 86400) * 1000).toISOString(),
        time_until_update_seconds: null,
      },
    ]);
    expect(readings[0].timestamp).toBe('2026-05-07T00:00:00.000Z');
  });

  it('keeps the configured path when the URL has no trailing slash', async () => {
    const bare = new FearGreedSource(
      loadAppConfig({ REDIS_URL: TEST_REDIS_URL, FEAR_GREED_URL: `${fake.url}/fng` }),
      cache,
    );
    await bare.index(2);
    expect(fake.calls).toEqual(['/fng/?limit=2']);
  });

  it('serves a repeated call from Redis for 5 minutes', async () => {
    await source.index(1);
    await source.index(1);
    const context = await source.context(parseSymbol('ETH'), AbortSignal.timeout(1000));
    expect(context).toEqual({ value: 47, classification: 'Neutral', timestamp: '2026-05-07T00:00:00.000Z' });
    expect(fake.calls).toEqual(['/fng/?limit=1']);
    const ttl = await redis.client.ttl(redis.keys.market('fear_greed:index:1'));
    expect(ttl).toBeGreaterThan(250);
    expect(ttl).toBeLessThanOrEqual(300);
  });

  it('never asks for the whole history or more than a year', async () => {
    for (const limit of [0, -1, 1.5, 366]) {
      const { err } = await rejection(source.index(limit));
      expect(err).toMatchObject({ code: 'invalid_limit', status: 400 });
    }
    expect(fake.calls).toEqual([]);
  });

  describe('vendor failures', () => {
    it('treats metadata.error over HTTP 200 as a business error, not cached', async () => {
      fake.fail('business_error');
      const { err } = await rejection(source.index(1));
      expect(err).toBeInstanceOf(VendorError);
      expect(err).toMatchObject({ source: 'fear_greed', reason: 'business_error' });
      expect((err as Error).message).toContain('Rate limit exceeded');

      fake.reset();
      await expect(source.index(1)).resolves.toHaveLength(1);
      expect(fake.calls).toHaveLength(1);
    });

    it('turns HTTP 500 into an http_error', async () => {
      fake.fail('status500');
      const { err } = await rejection(source.index(1));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'http_error', status: 500 });
      await expect(source.healthy()).resolves.toBe(false);
    });

    it('turns a hang into a timeout within the deadline', async () => {
      fake.fail('hang');
      const { err, elapsed } = await rejection(source.context(parseSymbol('BTC'), AbortSignal.timeout(5000)));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
      expect(elapsed).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    });

    it('reports healthy while the vendor answers', async () => {
      await expect(source.healthy()).resolves.toBe(true);
    });
  });
});

describe('FearGreedController', () => {
  let app: NestFastifyApplication;
  let base: string;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      controllers: [FearGreedController],
      providers: [{ provide: FearGreedSource, useValue: source }],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    app.useGlobalFilters(new AllExceptionsFilter(new Scrubber([])));
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
    // Over a real socket: fastify.inject() needs an ESM-only dependency that Jest's ESM mode cannot require.
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app.close();
  });

  async function get(path: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: await res.json() };
  }

  it('answers the latest reading by default and `limit` readings on request', async () => {
    const latest = await get('/market/fear-greed');
    expect(latest.status).toBe(200);
    expect(latest.body).toEqual({
      source: 'fear_greed',
      data: [
        {
          value: 47,
          classification: 'Neutral',
          timestamp: '2026-05-07T00:00:00.000Z',
          time_until_update_seconds: 78730,
        },
      ],
    });
    const year = await get('/market/fear-greed?limit=365');
    expect(year.status).toBe(200);
    expect(year.body.data).toHaveLength(365);
    expect(fake.calls).toEqual(['/fng/?limit=1', '/fng/?limit=365']);
  });

  it('answers 400 for a limit outside 1..365', async () => {
    for (const limit of ['0', '366', 'abc', '2.5']) {
      const res = await get(`/market/fear-greed?limit=${limit}`);
      expect(res.status).toBe(400);
      expect(res.body.statusCode).toBe(400);
    }
    expect(fake.calls).toEqual([]);
  });

  it('answers 502 for a vendor error and 504 for a timeout', async () => {
    fake.fail('business_error');
    const failed = await get('/market/fear-greed?limit=2');
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ code: 'vendor_error', reason: 'business_error' });
    expect(JSON.stringify(failed.body)).not.toContain(fake.url);

    fake.fail('hang');
    const slow = await get('/market/fear-greed?limit=3');
    expect(slow.status).toBe(504);
    expect(slow.body).toMatchObject({ statusCode: 504, error: 'Gateway Timeout', code: 'vendor_error' });
  });
});

/**
 * Medium test: HelsinkiSource and HelsinkiController against the fake quant server and a real Redis.
 */
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { DomainError } from '../src/common/errors.js';
import { loadAppConfig } from '../src/config/app-config.js';
import { marketConfig } from '../src/config/namespaces.js';
import { HelsinkiController } from '../src/market-data/helsinki/helsinki.controller.js';
import {
  HELSINKI_STATIC_ENDPOINTS,
  HELSINKI_STATIC_PATHS,
  HelsinkiSource,
  type HelsinkiStaticEndpoint,
  type HelsinkiSymbolEndpoint,
} from '../src/market-data/helsinki/helsinki.source.js';
import { MarketCache } from '../src/market-data/market-cache.js';
import { MarketCacheRepository } from '../src/redis/repositories/market-cache.repository.js';
import { parseSymbol } from '../src/market-data/symbols.js';
import { VendorError } from '../src/market-data/vendor-http.js';
import { RedisService } from '../src/redis/redis.service.js';
import { type FakeHelsinki, startFakeHelsinki } from './fakes/helsinki.js';
import { TEST_REDIS_URL } from './support/app.js';
import { getJson, startControllerApp } from './support/controller-app.js';

/** Short deadline so the hang cases stay fast; production keeps 3000 ms (asserted below). */
const DEADLINE_MS = 300;
/** Scheduling slack on a busy CI machine. */
const MARGIN_MS = 700;

const BTC = parseSymbol('BTC/USDT');
const ETH = parseSymbol('ETHUSDT');
const SOL = parseSymbol('sol');

let fake: FakeHelsinki;
let redis: RedisService;
let cache: MarketCache;
let source: HelsinkiSource;
let disabled: HelsinkiSource;

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
  fake = await startFakeHelsinki();
  const config = loadAppConfig({
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
    HELSINKI_VM_URL: fake.url,
  });
  redis = new RedisService(config);
  await redis.connect();
  cache = new MarketCache(new MarketCacheRepository(redis));
  source = new HelsinkiSource(config, cache, { deadlineMs: DEADLINE_MS });
  disabled = new HelsinkiSource({ ...config, helsinkiVmUrl: undefined }, cache);
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

describe('HelsinkiSource', () => {
  it('is enabled by HELSINKI_VM_URL and keeps the 3000 ms production deadline by default', () => {
    const config = loadAppConfig({ HELSINKI_VM_URL: fake.url });
    const production = new HelsinkiSource(config, cache);
    expect(production).toMatchObject({ name: 'helsinki', enabled: true, deadlineMs: 3000 });
    expect(disabled.enabled).toBe(false);
  });

  it('resolves through Nest DI without the optional options provider', async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [
        HelsinkiSource,
        { provide: MarketCache, useValue: cache },
        { provide: marketConfig.KEY, useValue: loadAppConfig({ HELSINKI_VM_URL: fake.url }) },
      ],
    }).compile();
    expect(moduleRef.get(HelsinkiSource)).toMatchObject({ enabled: true, deadlineMs: 3000 });
    await moduleRef.close();
  });

  it('asks the vendor for the base asset of any symbol spelling', async () => {
    const answer = await source.symbolEndpoint('cvd', BTC);
    await source.symbolEndpoint('large-trades', parseSymbol('btc-usdt'));
    expect(fake.calls).toEqual(['/quant/cvd/BTC', '/quant/large-trades/BTC']);
    // Per-endpoint answers are passed through as the vendor sent them.
    expect(answer).toMatchObject({ source: 'helsinki', endpoint: '/quant/cvd/BTC', cached: false });
    expect(answer.data).toMatchObject({ symbol: 'BTC', cvd: '15234.72' });
  });

  it('serves a repeated call from Redis for 30 s and coalesces concurrent ones', async () => {
    await source.symbolEndpoint('orderbook', BTC);
    const again = await source.symbolEndpoint('orderbook', parseSymbol('BTCUSDT'));
    expect(again.cached).toBe(true);
    expect(fake.calls).toEqual(['/quant/orderbook/BTC']);
    const ttl = await redis.client.ttl(redis.keys.market('helsinki:orderbook:BTC'));
    expect(ttl).toBeGreaterThan(25);
    expect(ttl).toBeLessThanOrEqual(30);

    const burst = await Promise.all(Array.from({ length: 5 }, () => source.symbolEndpoint('greeks', ETH)));
    expect(burst.every((a) => (a.data as { symbol: string }).symbol === 'ETH')).toBe(true);
    expect(fake.calls.filter((p) => p === '/quant/greeks/ETH')).toHaveLength(1);
  });

  it('serves every market-wide endpoint from its vendor path, cached 60 s', async () => {
    for (const name of HELSINKI_STATIC_ENDPOINTS) await source.staticEndpoint(name);
    expect(fake.calls).toEqual(Object.values(HELSINKI_STATIC_PATHS));
    const gas = await source.staticEndpoint('gas');
    expect(gas).toMatchObject({ cached: true, endpoint: '/quant/gas' });
    const ttl = await redis.client.ttl(redis.keys.market('helsinki:static:gas'));
    expect(ttl).toBeGreaterThan(30);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('rejects an endpoint outside the list at run time, before any request', async () => {
    for (const name of ['nope', '../health', 'cvd/../../health', 'static']) {
      const { err } = await rejection(source.symbolEndpoint(name as HelsinkiSymbolEndpoint, BTC));
      expect(err).toBeInstanceOf(DomainError);
      expect(err).toMatchObject({ code: 'unknown_endpoint', status: 400 });
    }
    const { err } = await rejection(source.staticEndpoint('toString' as HelsinkiStaticEndpoint));
    expect(err).toMatchObject({ code: 'unknown_endpoint', status: 400 });
    expect(fake.calls).toEqual([]);
  });

  describe('context()', () => {
    it('normalises numeric strings into numbers (current field spellings)', async () => {
      const { raw, normalized } = await source.context(BTC, AbortSignal.timeout(2000));
      expect(fake.calls).toEqual(['/quant/full/BTC']);
      expect(normalized).toEqual({
        price: 97123.5,
        smart_money_bias: 'bullish',
        funding_rate: 0.00012,
        liquidation_levels: { long: [95000, 94250.5, 93000], short: [99000, 100500] },
        volatility_regime: 'elevated',
        fear_greed: 47,
      });
      expect(raw).toMatchObject({ symbol: 'BTC', price: '97123.5' });
    });

    it('reads older spellings and tolerates a missing block', async () => {
      const { normalized } = await source.context(ETH, AbortSignal.timeout(2000));
      expect(normalized).toEqual({
        price: 3521.25,
        smart_money_bias: 'bearish',
        funding_rate: -0.0002,
        liquidation_levels: { long: [3400, 3300], short: [] },
        volatility_regime: null,
        fear_greed: 40,
      });
    });

    it('answers nulls and empty lists when every field is missing', async () => {
      const { normalized } = await source.context(SOL, AbortSignal.timeout(2000));
      expect(fake.calls).toEqual(['/quant/full/SOL']);
      expect(normalized).toEqual({
        price: null,
        smart_money_bias: null,
        funding_rate: null,
        liquidation_levels: { long: [], short: [] },
        volatility_regime: null,
        fear_greed: null,
      });
    });

    it('falls back to the smaller endpoints when /quant/full is broken', async () => {
      fake.fail('/quant/full/BTC', 'status500');
      const { raw, normalized } = await source.context(BTC, AbortSignal.timeout(2000));
      expect(raw).toMatchObject({ partial: true });
      expect(fake.calls.slice(1).sort()).toEqual([
        '/quant/basis/BTC',
        '/quant/liquidation-map/BTC',
        '/quant/smart-money/BTC',
        '/quant/volatility/BTC',
      ]);
      expect(normalized).toMatchObject({
        price: 97123.5,
        smart_money_bias: 'bullish',
        funding_rate: 0.00012,
        liquidation_levels: { long: [95000, 94250.5, 93000], short: [99000, 100500] },
        volatility_regime: 'elevated',
        fear_greed: null,
      });
    });

    it('does not spend the deadline on fallbacks after a timeout', async () => {
      fake.fail('/quant/full/BTC', 'hang');
      const { err, elapsed } = await rejection(source.context(BTC, AbortSignal.timeout(5000)));
      expect(err).toMatchObject({ name: 'VendorError', source: 'helsinki', reason: 'timeout' });
      expect(elapsed).toBeLessThan(DEADLINE_MS + MARGIN_MS);
      expect(fake.calls).toEqual(['/quant/full/BTC']);
    });

    it("gives up when the caller's own signal fires first", async () => {
      fake.fail('/quant/full/ETH', 'hang');
      const { err, elapsed } = await rejection(source.context(ETH, AbortSignal.timeout(50)));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'timeout' });
      expect(elapsed).toBeLessThan(DEADLINE_MS);
    });
  });

  describe('vendor failures', () => {
    it('turns HTTP 500 into an http_error and does not cache it', async () => {
      fake.fail('/quant/vwap/BTC', 'status500');
      const { err } = await rejection(source.symbolEndpoint('vwap', BTC));
      expect(err).toBeInstanceOf(VendorError);
      expect(err).toMatchObject({ reason: 'http_error', status: 500 });
      expect((err as Error).message).not.toContain(fake.url);

      fake.reset();
      const answer = await source.symbolEndpoint('vwap', BTC);
      expect(answer.cached).toBe(false);
      expect(fake.calls).toEqual(['/quant/vwap/BTC']);
    });

    it('turns a hang into a timeout within the deadline', async () => {
      fake.fail('/quant/momentum/BTC', 'hang');
      const { err, elapsed } = await rejection(source.symbolEndpoint('momentum', BTC));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
      expect(elapsed).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    });

    it('turns a body that is not JSON into malformed', async () => {
      fake.fail('/quant/drawdown/BTC', 'malformed');
      const { err } = await rejection(source.symbolEndpoint('drawdown', BTC));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'malformed' });
    });
  });

  describe('healthy() and a missing HELSINKI_VM_URL', () => {
    it('reports the /health answer', async () => {
      await expect(source.healthy()).resolves.toBe(true);
      fake.fail('/health', 'status500');
      await expect(source.healthy()).resolves.toBe(false);
      expect(fake.calls).toEqual(['/health', '/health']);
    });

    it('is disabled, not failing, without a URL, and never calls out', async () => {
      await expect(disabled.healthy()).resolves.toBe(false);
      const { err } = await rejection(disabled.context(BTC, AbortSignal.timeout(1000)));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'disabled' });
      expect(fake.calls).toEqual([]);
    });
  });
});

describe('HelsinkiController', () => {
  let app: NestFastifyApplication;
  let disabledApp: NestFastifyApplication;

  const start = (value: HelsinkiSource): Promise<NestFastifyApplication> =>
    startControllerApp(HelsinkiController, { provide: HelsinkiSource, useValue: value });
  const get = getJson;

  beforeAll(async () => {
    app = await start(source);
    disabledApp = await start(disabled);
  });

  afterAll(async () => {
    await app.close();
    await disabledApp.close();
  });

  it('serves a symbol endpoint for an encoded unified symbol', async () => {
    const res = await get(app, '/market/helsinki/smart-money/BTC%2FUSDT');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ endpoint: '/quant/smart-money/BTC', data: { bias: 'BULLISH' } });
    expect(fake.calls).toEqual(['/quant/smart-money/BTC']);
  });

  it('serves a market-wide endpoint under static/', async () => {
    const res = await get(app, '/market/helsinki/static/derivatives-funding');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ endpoint: '/derivatives/funding', cached: false });
  });

  it('answers 400 naming the allowed endpoints, and for a bad symbol', async () => {
    const unknown = await get(app, '/market/helsinki/funding/BTC');
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toContain('cvd, orderbook, large-trades');
    const unknownStatic = await get(app, '/market/helsinki/static/nope');
    expect(unknownStatic.status).toBe(400);
    expect(unknownStatic.body.message).toContain('derivatives-funding');
    const badSymbol = await get(app, '/market/helsinki/cvd/..%2F..%2Fhealth');
    expect(badSymbol.status).toBe(400);
    expect(fake.calls).toEqual([]);
  });

  it('answers 502 for a vendor error and 504 for a timeout, without the vendor address', async () => {
    fake.fail('/quant/basis/BTC', 'status500');
    const failed = await get(app, '/market/helsinki/basis/BTC');
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ statusCode: 502, error: 'Bad Gateway', code: 'vendor_error' });
    expect(JSON.stringify(failed.body)).not.toContain(fake.url);

    fake.fail('/quant/basis/ETH', 'hang');
    const slow = await get(app, '/market/helsinki/basis/ETH');
    expect(slow.status).toBe(504);
    expect(slow.body).toMatchObject({ code: 'vendor_error', reason: 'timeout' });
  });

  it('answers 503 when HELSINKI_VM_URL is not set', async () => {
    const res = await get(disabledApp, '/market/helsinki/cvd/BTC');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'helsinki is not configured (set HELSINKI_VM_URL)',
    });
  });
});

/**
 * Medium test: CoinglassSource and CoinglassController against the fake Coinglass v4 and a real Redis.
 */
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { DomainError } from '../src/common/errors.js';
import { type AppConfig, loadAppConfig } from '../src/config/app-config.js';
import { marketConfig } from '../src/config/namespaces.js';
import { CoinglassController } from '../src/market-data/coinglass/coinglass.controller.js';
import type {
  CoinglassExchange,
  CoinglassInterval,
  CoinglassRange,
} from '../src/market-data/coinglass/coinglass.params.js';
import { summarizeCoinglass } from '../src/market-data/coinglass/coinglass.context.js';
import { CoinglassSource } from '../src/market-data/coinglass/coinglass.source.js';
import { MarketCache } from '../src/market-data/market-cache.js';
import { MarketCacheRepository } from '../src/redis/repositories/market-cache.repository.js';
import { parseSymbol } from '../src/market-data/symbols.js';
import { VendorError } from '../src/market-data/vendor-http.js';
import { RedisService } from '../src/redis/redis.service.js';
import { type FakeCoinglass, startFakeCoinglass } from './fakes/coinglass.js';
import { TEST_REDIS_URL } from './support/app.js';
import { getJson, startControllerApp } from './support/controller-app.js';

const API_KEY = 'cg-test-key-123';
/** Short deadline so the hang cases stay fast; production keeps 4000 ms (asserted below). */
const DEADLINE_MS = 300;
/** Scheduling slack on a busy CI machine. */
const MARGIN_MS = 700;

const BTC = parseSymbol('BTC/USDT');
const ETH = parseSymbol('ethusdt');

const P = {
  liqHistory: '/api/futures/liquidation/history',
  liqAggregated: '/api/futures/liquidation/aggregated-history',
  liqExchanges: '/api/futures/liquidation/exchange-list',
  oiAggregated: '/api/futures/open-interest/aggregated-history',
  oiExchanges: '/api/futures/open-interest/exchange-list',
  fundingExchanges: '/api/futures/funding-rate/exchange-list',
  fundingHistory: '/api/futures/funding-rate/history',
  longShort: '/api/futures/global-long-short-account-ratio/history',
  coins: '/api/futures/supported-coins',
};

let fake: FakeCoinglass;
let redis: RedisService;
let config: AppConfig;
let cache: MarketCache;
let source: CoinglassSource;
let disabled: CoinglassSource;
/** Every error message seen in this file, checked for the key at the end. */
const messages: string[] = [];

async function rejection(work: Promise<unknown>): Promise<{ err: VendorError; elapsed: number }> {
  const started = Date.now();
  try {
    await work;
  } catch (err) {
    if (err instanceof Error) messages.push(err.message);
    return { err: err as VendorError, elapsed: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

const query = (i: number): URLSearchParams => new URLSearchParams(fake.calls[i].query);

beforeAll(async () => {
  fake = await startFakeCoinglass({ apiKey: API_KEY });
  config = loadAppConfig({
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
    COINGLASS_API_KEY: API_KEY,
    COINGLASS_BASE_URL: fake.url,
  });
  redis = new RedisService(config);
  await redis.connect();
  cache = new MarketCache(new MarketCacheRepository(redis));
  source = new CoinglassSource(config, cache, { deadlineMs: DEADLINE_MS });
  disabled = new CoinglassSource({ ...config, coinglass: undefined }, cache);
});

beforeEach(async () => {
  fake.reset();
  await redis.deleteAllWithPrefix(); // a fresh cache per test
});

afterAll(async () => {
  for (const m of messages) expect(m).not.toContain(API_KEY);
  await redis.deleteAllWithPrefix();
  await redis.onApplicationShutdown();
  await fake.close();
});

describe('CoinglassSource', () => {
  it('is enabled by COINGLASS_API_KEY and keeps the 4000 ms production deadline by default', async () => {
    expect(new CoinglassSource(config, cache)).toMatchObject({
      name: 'coinglass',
      enabled: true,
      deadlineMs: 4000,
    });
    expect(disabled.enabled).toBe(false);
    const moduleRef = await Test.createTestingModule({
      providers: [
        CoinglassSource,
        { provide: MarketCache, useValue: cache },
        { provide: marketConfig.KEY, useValue: config },
      ],
    }).compile();
    expect(moduleRef.get(CoinglassSource)).toMatchObject({ enabled: true, deadlineMs: 4000 });
    await moduleRef.close();
  });

  it('sends the key only in the CG-API-KEY header and asks for the right symbol spelling', async () => {
    await source.liquidationHistory(BTC, { interval: '1h', limit: 50 });
    await source.liquidationExchanges(BTC, '4h');
    await source.liquidationAggregated(ETH, { exchanges: ['OKX', 'Binance', 'OKX'], interval: '12h' });
    expect(fake.calls.map((c) => c.path)).toEqual([P.liqHistory, P.liqExchanges, P.liqAggregated]);
    for (const call of fake.calls) {
      expect(call.headers['cg-api-key']).toBe(API_KEY);
      expect(call.query).not.toContain(API_KEY);
      expect(decodeURIComponent(call.query)).not.toContain(API_KEY);
    }
    expect(Object.fromEntries(query(0))).toEqual({
      exchange: 'Binance',
      symbol: 'BTCUSDT',
      interval: '1h',
      limit: '50',
    });
    expect(Object.fromEntries(query(1))).toEqual({ symbol: 'BTC', range: '4h' });
    expect(Object.fromEntries(query(2))).toEqual({
      exchange_list: 'OKX,Binance',
      symbol: 'ETH',
      interval: '12h',
    });
    expect(source.lastRateLimit()).toEqual({ max: 80, used: 3 });
  });

  it('parses numeric strings and reads both liquidation key spellings', async () => {
    // Pair history: snake_case keys, the first row as numeric strings.
    expect(await source.liquidationHistory(BTC)).toEqual([
      { time: 1747598400000, long_liquidation_usd: 2369935.19562, short_liquidation_usd: 6947459.43674 },
      { time: 1747612800000, long_liquidation_usd: 1234567.5, short_liquidation_usd: 765432.25 },
    ]);
    // Exchange list: the camelCase keys of the real payload.
    const exchanges = await source.liquidationExchanges(BTC);
    expect(exchanges[0]).toEqual({
      exchange: 'All',
      liquidation_usd: 159220969.68,
      long_liquidation_usd: 134120774.28,
      short_liquidation_usd: 25100195.39,
    });
    expect(await source.liquidationAggregated(BTC)).toEqual([
      { time: 1747598400000, long_liquidation_usd: 2469489.04784, short_liquidation_usd: 4688197.81167 },
    ]);
    expect(Object.fromEntries(query(2))).toMatchObject({
      exchange_list: 'Binance,OKX,Bybit',
      interval: '4h',
    });
  });

  it('normalises open interest, funding and long/short with numbers as numbers and nulls kept', async () => {
    const oi = await source.openInterestAggregated(BTC, { interval: '1d' });
    expect(oi.at(-1)).toEqual({
      time: 1747598400000,
      open: 68596490975,
      high: 70045961758,
      low: 68045912734,
      close: 70030764119,
    });
    const oiList = await source.openInterestExchanges(BTC);
    expect(oiList[0]).toMatchObject({
      exchange: 'All',
      open_interest_usd: 67130599066.23,
      open_interest_change_percent_24h: 0.66,
    });
    expect(oiList[1]).toMatchObject({ exchange: 'Binance', open_interest_quantity: null }); // absent → null

    const history = await source.fundingHistory(BTC); // strings upstream
    expect(history.at(-1)).toEqual({
      time: 1747238400000,
      open: 0.004372,
      high: 0.008807,
      low: 0.004038,
      close: 0.004038,
    });
    expect(Object.fromEntries(query(2))).toEqual({ exchange: 'Binance', symbol: 'BTCUSDT', interval: '8h' });

    const funding = await source.fundingExchanges(BTC);
    expect(query(3).toString()).toBe(''); // the exchange list takes no parameters
    expect(funding).toContainEqual({
      exchange: 'dYdX',
      margin: 'stablecoin',
      funding_rate_percent: 0.0019890625,
      funding_rate_interval_hours: 1,
      next_funding_time: null,
    });
    expect(funding.filter((f) => f.margin === 'token')).toEqual([
      {
        exchange: 'Binance',
        margin: 'token',
        funding_rate_percent: -0.012,
        funding_rate_interval_hours: 8,
        next_funding_time: 1763164800000,
      },
    ]);
    expect(await source.fundingExchanges(ETH)).toHaveLength(1); // the same cached list, filtered per coin
    expect(await source.fundingExchanges(parseSymbol('DOGE'))).toEqual([]);
    expect(fake.calls.filter((c) => c.path === P.fundingExchanges)).toHaveLength(1);

    const ls = await source.longShortRatio(BTC, { exchange: 'OKX', interval: '1h' });
    expect(ls.at(-1)).toEqual({
      time: 1747598400000,
      long_percent: 38.5,
      short_percent: 61.5,
      long_short_ratio: 0.63,
    });
    expect(Object.fromEntries(new URLSearchParams(fake.calls.at(-1)?.query))).toEqual({
      exchange: 'OKX',
      symbol: 'BTCUSDT',
      interval: '1h',
    });
  });

  it('checks enum parameters before building any URL, accepting any letter case', async () => {
    const cases: Array<() => Promise<unknown>> = [
      () => source.liquidationHistory(BTC, { interval: '2d' as CoinglassInterval }),
      () => source.liquidationHistory(BTC, { exchange: 'Binance&symbol=ETH' as CoinglassExchange }),
      () => source.liquidationExchanges(BTC, '7d' as CoinglassRange),
      () => source.liquidationAggregated(BTC, { exchanges: [] }),
      () => source.openInterestAggregated(BTC, { limit: 1001 }),
      () => source.fundingHistory(BTC, { limit: 0 }),
    ];
    for (const call of cases) {
      const { err } = await rejection(call());
      expect(err).toBeInstanceOf(DomainError);
      expect(err).toMatchObject({ code: 'invalid_parameter', status: 400 });
    }
    const { err } = await rejection(source.longShortRatio(BTC, { interval: '5d' as CoinglassInterval }));
    expect(err.message).toBe('interval must be one of 1m, 3m, 5m, 15m, 30m, 1h, 4h, 6h, 8h, 12h, 1d, 1w');
    expect(fake.calls).toEqual([]);

    await source.longShortRatio(BTC, {
      exchange: 'okx' as CoinglassExchange,
      interval: '4H' as CoinglassInterval,
    });
    expect(query(0).get('exchange')).toBe('OKX');
    expect(query(0).get('interval')).toBe('4h');
  });

  it('serves a repeat within the TTL from Redis (60 s history, 30 s lists) without reaching the vendor', async () => {
    const first = await source.liquidationHistory(BTC);
    const firstList = await source.openInterestExchanges(BTC);
    const calls = fake.calls.length;
    expect(await source.liquidationHistory(parseSymbol('btc-usdt'))).toEqual(first);
    expect(await source.openInterestExchanges(parseSymbol('BTC'))).toEqual(firstList);
    expect(fake.calls).toHaveLength(calls);

    const keys = await redis.client.keys(redis.keys.market('coinglass:*'));
    const ttls = await Promise.all(keys.map(async (k) => [k, await redis.client.ttl(k)] as const));
    for (const [k, ttl] of ttls) {
      expect(k).not.toContain(API_KEY);
      const max = k.includes('/history?') ? 60 : 30;
      expect(ttl).toBeGreaterThan(max - 5);
      expect(ttl).toBeLessThanOrEqual(max);
    }
    expect(ttls).toHaveLength(2);

    const burst = await Promise.all(Array.from({ length: 5 }, () => source.fundingHistory(ETH)));
    expect(burst.every((b) => b.length === 2)).toBe(true);
    expect(fake.calls.filter((c) => c.path === P.fundingHistory)).toHaveLength(1);
  });

  describe('vendor failures', () => {
    it('treats a plan error over HTTP 200 as business_error and does not cache it', async () => {
      fake.mode('plan-error-200');
      const { err } = await rejection(source.longShortRatio(BTC));
      expect(err).toBeInstanceOf(VendorError);
      expect(err).toMatchObject({ source: 'coinglass', reason: 'business_error', status: 200 });
      expect(err.message).toBe(`coinglass ${P.longShort}: Upgrade plan (code 401)`);

      fake.mode('ok');
      await expect(source.longShortRatio(BTC)).resolves.toHaveLength(2);
      expect(fake.calls).toHaveLength(2);
    });

    it('reads the envelope of a plan error sent as HTTP 401 too', async () => {
      fake.mode('plan-error-401');
      const { err } = await rejection(source.openInterestAggregated(BTC));
      expect(err).toMatchObject({ reason: 'business_error', status: 401 });
      expect(err.message).toContain('Upgrade plan (code 401)');
    });

    it('reports a wrong key as a business error without repeating it', async () => {
      const wrong = new CoinglassSource(
        { ...config, coinglass: { apiKey: 'cg-wrong-key-999', baseUrl: fake.url } },
        cache,
        { deadlineMs: DEADLINE_MS },
      );
      const { err } = await rejection(wrong.liquidationExchanges(ETH, '1h'));
      expect(err).toMatchObject({ reason: 'business_error' });
      expect(err.message).toBe(`coinglass ${P.liqExchanges}: Invalid API key provided (code 400)`);
      expect(err.message).not.toContain('cg-wrong-key-999');
    });

    it('turns HTTP 500 into http_error', async () => {
      fake.mode('http500');
      const { err } = await rejection(source.fundingHistory(BTC));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'http_error', status: 500 });
      expect(err.message).not.toContain(fake.url);
    });

    it('turns a hang into a timeout within the deadline', async () => {
      fake.mode('hang');
      const { err, elapsed } = await rejection(source.liquidationHistory(BTC));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
      expect(elapsed).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    });

    it('turns a truncated body into malformed', async () => {
      fake.mode('malformed');
      const { err, elapsed } = await rejection(source.openInterestExchanges(BTC));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'malformed' });
      expect(elapsed).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    });
  });

  describe('context()', () => {
    it('summarises liquidations, open interest, OI-weighted funding and the latest long/short', async () => {
      const ctx = await source.context(BTC, AbortSignal.timeout(2000));
      expect(ctx).toEqual({
        liquidations_24h: { total_usd: 159220969.68, long_usd: 134120774.28, short_usd: 25100195.39 },
        open_interest_usd: 67130599066.23,
        open_interest_change_24h_percent: 0.66,
        // Binance and dYdX carry equal OI; Bitunix has none (left out); token-margined rates are not mixed in.
        funding_rate_percent: expect.closeTo((0.008631 + 0.0019890625) / 2, 12),
        funding_rate_basis: 'oi_weighted',
        long_short_ratio: 0.63,
        long_percent: 38.5,
        short_percent: 61.5,
        partial_errors: {},
      });
      expect(fake.calls.map((c) => c.path).sort()).toEqual(
        [P.liqExchanges, P.oiExchanges, P.fundingExchanges, P.longShort].sort(),
      );
    });

    it('returns the other parts when one fails, and falls back to Binance funding without OI weights', async () => {
      fake.mode('plan-error-200', P.longShort);
      fake.mode('http500', P.oiExchanges);
      const ctx = await source.context(BTC, AbortSignal.timeout(2000));
      expect(ctx).toMatchObject({
        liquidations_24h: { total_usd: 159220969.68 },
        open_interest_usd: null,
        funding_rate_percent: 0.008631,
        funding_rate_basis: 'binance',
        long_short_ratio: null,
        long_percent: null,
      });
      expect(ctx.partial_errors).toEqual({
        long_short: {
          reason: 'business_error',
          message: `coinglass ${P.longShort}: Upgrade plan (code 401)`,
        },
        open_interest: { reason: 'http_error', message: `coinglass ${P.oiExchanges} answered HTTP 500` },
      });
    });

    it('throws a VendorError only when every part failed', async () => {
      fake.mode('plan-error-200');
      const { err } = await rejection(source.context(BTC, AbortSignal.timeout(2000)));
      expect(err).toBeInstanceOf(VendorError);
      expect(err).toMatchObject({ source: 'coinglass', reason: 'business_error' });
    });

    it("gives up when the caller's signal fires first", async () => {
      fake.mode('hang');
      const { err, elapsed } = await rejection(source.context(ETH, AbortSignal.timeout(50)));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'timeout' });
      expect(elapsed).toBeLessThan(DEADLINE_MS);
      // The shared vendor calls carry on under the source's own deadline, then fail without filling the cache
      // (and without leaking into the next test, which a still-pending coalesced call would).
      await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS + 100));
      fake.reset();
      await expect(source.fundingExchanges(ETH)).resolves.not.toHaveLength(0);
      expect(fake.calls.map((c) => c.path)).toEqual([P.fundingExchanges]);
    });
  });

  describe('summarizeCoinglass()', () => {
    const empty = { status: 'fulfilled' as const, value: [] };

    it('reports no_data when every part answered but none carries a figure for the coin', () => {
      const parts = { liquidations: empty, open_interest: empty, funding: empty, long_short: empty };
      expect(() => summarizeCoinglass('DOGE/USDT', parts)).toThrow(
        expect.objectContaining({
          name: 'VendorError',
          reason: 'no_data',
          message: 'coinglass has no figure for DOGE/USDT',
        }),
      );
    });

    it('keeps a snapshot with one figure, listing the failed parts', () => {
      const failure = new VendorError('coinglass', 'timeout', 'coinglass /x timed out after 4000 ms');
      const ctx = summarizeCoinglass('BTC/USDT', {
        liquidations: { status: 'rejected', reason: failure },
        open_interest: { status: 'rejected', reason: failure },
        funding: { status: 'rejected', reason: failure },
        long_short: {
          status: 'fulfilled',
          value: [{ time: 1, long_percent: 40, short_percent: 60, long_short_ratio: 0.67 }],
        },
      });
      expect(ctx).toMatchObject({ long_short_ratio: 0.67, open_interest_usd: null });
      expect(Object.keys(ctx.partial_errors)).toEqual(['liquidations', 'open_interest', 'funding']);
    });
  });

  describe('healthy() and a missing COINGLASS_API_KEY', () => {
    it('reports a code "0" answer of the supported-coins list', async () => {
      await expect(source.healthy()).resolves.toBe(true);
      expect(fake.calls.map((c) => c.path)).toEqual([P.coins]);
      await redis.deleteAllWithPrefix();
      fake.mode('plan-error-200');
      await expect(source.healthy()).resolves.toBe(false);
    });

    it('is disabled, not failing, without a key, and never calls out', async () => {
      await expect(disabled.healthy()).resolves.toBe(false);
      const { err } = await rejection(disabled.context(BTC, AbortSignal.timeout(1000)));
      expect(err).toMatchObject({ name: 'VendorError', reason: 'disabled' });
      expect(fake.calls).toEqual([]);
    });
  });
});

describe('CoinglassController', () => {
  let app: NestFastifyApplication;
  let disabledApp: NestFastifyApplication;

  const start = (value: CoinglassSource): Promise<NestFastifyApplication> =>
    startControllerApp(CoinglassController, { provide: CoinglassSource, useValue: value });
  const get = getJson;

  beforeAll(async () => {
    app = await start(source);
    disabledApp = await start(disabled);
  });

  afterAll(async () => {
    await app.close();
    await disabledApp.close();
  });

  it('serves the four routes with normalised numbers', async () => {
    const liq = await get(app, '/market/coinglass/btc/liquidations?exchange=binance&interval=1h&range=4h');
    expect(liq.status).toBe(200);
    expect(liq.body).toMatchObject({ source: 'coinglass', symbol: 'BTC/USDT' });
    expect(liq.body.data.history[0]).toEqual({
      time: 1747598400000,
      long_liquidation_usd: 2369935.19562,
      short_liquidation_usd: 6947459.43674,
    });
    expect(liq.body.data.exchanges[0].long_liquidation_usd).toBe(134120774.28);
    expect(Object.fromEntries(query(0))).toEqual({ exchange: 'Binance', symbol: 'BTCUSDT', interval: '1h' });
    expect(Object.fromEntries(query(1))).toEqual({ symbol: 'BTC', range: '4h' });

    const oi = await get(app, '/market/coinglass/BTCUSDT/open-interest?limit=2');
    expect(oi.body.data.history.at(-1).close).toBe(70030764119);
    const funding = await get(app, '/market/coinglass/BTC%2FUSDT/funding');
    expect(funding.body.data.history.at(-1).close).toBe(0.004038);
    const ls = await get(app, '/market/coinglass/BTC/long-short?interval=4h');
    expect(ls.body.data.at(-1).long_short_ratio).toBe(0.63);
  });

  it('answers 400 naming the allowed values, before any vendor call', async () => {
    const badInterval = await get(app, '/market/coinglass/BTC/funding?interval=2d');
    expect(badInterval.status).toBe(400);
    expect(badInterval.body.message).toMatch(/^interval must be one of 1m, 3m, .*, 1w$/);
    const badRange = await get(app, '/market/coinglass/BTC/liquidations?range=7d');
    expect(badRange.body.message).toBe('range must be one of 1h, 4h, 12h, 24h');
    const badExchange = await get(app, '/market/coinglass/BTC/long-short?exchange=Nope');
    expect(badExchange.status).toBe(400);
    expect(badExchange.body.message).toContain('Binance, OKX, Bybit');
    expect((await get(app, '/market/coinglass/BTC/open-interest?limit=5000')).status).toBe(400);
    expect((await get(app, '/market/coinglass/..%2Fadmin/funding')).status).toBe(400);
    expect(fake.calls).toEqual([]);
  });

  it('answers 502 for a vendor error and 504 for a timeout, without the key', async () => {
    fake.mode('plan-error-200');
    const failed = await get(app, '/market/coinglass/BTC/long-short');
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({
      code: 'vendor_error',
      source: 'coinglass',
      reason: 'business_error',
    });
    expect(failed.body.message).toContain('Upgrade plan (code 401)');

    fake.mode('hang');
    const slow = await get(app, '/market/coinglass/ETH/long-short');
    expect(slow.status).toBe(504);
    expect(slow.body).toMatchObject({ code: 'vendor_error', reason: 'timeout' });
    for (const body of [failed.body, slow.body]) expect(JSON.stringify(body)).not.toContain(API_KEY);
  });

  it('answers 503 when COINGLASS_API_KEY is not set', async () => {
    const res = await get(disabledApp, '/market/coinglass/BTC/funding');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      statusCode: 503,
      code: 'source_disabled',
      message: 'coinglass is not configured (set COINGLASS_API_KEY)',
    });
    expect(fake.calls).toEqual([]);
  });
});

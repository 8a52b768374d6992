import { startFakeFearGreed, type FakeFearGreed } from './fakes/fear-greed.js';
import { startFakeHelsinki, type FakeHelsinki } from './fakes/helsinki.js';
import { startTestApp, type TestApp } from './support/app.js';

/**
 * GET /market/:symbol/context with every configured source faked. Sources that need a key and are not
 * configured here are reported as disabled, which is not an error.
 */
describe('Market context', () => {
  let helsinki: FakeHelsinki;
  let fng: FakeFearGreed;
  let bastion: TestApp;

  beforeAll(async () => {
    helsinki = await startFakeHelsinki();
    fng = await startFakeFearGreed();
    bastion = await startTestApp({
      env: { HELSINKI_VM_URL: helsinki.url, FEAR_GREED_URL: `${fng.url}/fng/` },
    });
  });
  afterAll(async () => {
    await bastion.close();
    await helsinki.close();
    await fng.close();
  });
  beforeEach(async () => {
    helsinki.reset();
    fng.reset();
    await bastion.redis.deleteAllWithPrefix(); // a fresh cache per test
  });

  const get = (symbol: string) => bastion.request('GET', `/market/${symbol}/context`);

  it('returns every source with numbers as numbers, then serves the repeat from the cache', async () => {
    const res = await get('BTC');
    expect(res.status).toBe(200);
    expect(res.body.symbol).toBe('BTC/USDT');
    expect(res.body.data_sources).toEqual(['fear_greed', 'helsinki']);
    expect(res.body.errors).toEqual({});
    const h = res.body.data.helsinki.normalized;
    expect(typeof h.price).toBe('number');
    expect(typeof res.body.data.fear_greed.value).toBe('number');
    expect(res.body.latency_ms.total).toBeGreaterThanOrEqual(0);
    const vendorCalls = helsinki.calls.length + fng.calls.length;
    expect(vendorCalls).toBeGreaterThan(0);

    const again = await get('btc-usdt');
    expect(again.body.data).toEqual(res.body.data);
    expect(helsinki.calls.length + fng.calls.length).toBe(vendorCalls); // within the TTL: no vendor reached
  });

  it.each([
    ['a 500', 'status500' as const, 'http_error'],
    ['a hang', 'hang' as const, 'timeout'],
    ['a malformed body', 'malformed' as const, 'malformed'],
  ])('keeps answering when Helsinki fails with %s, within its deadline', async (_name, mode, reason) => {
    helsinki.fail('/quant/full/BTC', mode);
    for (const endpoint of ['smart-money', 'liquidation-map', 'volatility', 'basis'])
      helsinki.fail(`/quant/${endpoint}/BTC`, mode);
    const started = Date.now();
    const res = await get('BTC');
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body.data_sources).toEqual(['fear_greed']);
    expect(res.body.errors.helsinki.reason).toBe(reason);
    expect(typeof res.body.data.fear_greed.value).toBe('number');
    expect(elapsed).toBeLessThan(3000 + 1000); // Helsinki's deadline plus a margin
  });

  it('reports a business error answered over HTTP 200 under errors', async () => {
    fng.fail('business_error');
    const res = await get('ETH');
    expect(res.status).toBe(200);
    expect(res.body.errors.fear_greed.reason).toBe('business_error');
    expect(res.body.data_sources).toEqual(['helsinki']);
  });

  it.each(['..%2Fadmin', 'BTC%2F..', 'A'.repeat(40), '%20', 'BTC%3Fx%3D1'])(
    'rejects the symbol %s with a 400 and no outbound request',
    async (symbol) => {
      const res = await get(symbol);
      expect(res.status).toBe(400);
      expect(helsinki.calls).toHaveLength(0);
      expect(fng.calls).toHaveLength(0);
    },
  );

  it('reports each source in readiness without an optional one making Bastion unready', async () => {
    helsinki.fail('/health', 'status500');
    const res = await bastion.request('GET', '/health/ready', undefined, null);
    expect(res.status).toBe(200);
    expect(res.body.details.market_sources).toMatchObject({
      status: 'up',
      helsinki: 'down',
      fear_greed: 'up',
    });
  });
});

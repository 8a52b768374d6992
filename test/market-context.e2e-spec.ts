import { startFakeCoinglass, type FakeCoinglass } from './fakes/coinglass.js';
import { startFakeFearGreed, type FakeFearGreed } from './fakes/fear-greed.js';
import { startFakeHelsinki, type FakeHelsinki } from './fakes/helsinki.js';
import { FAKE_WHALE_KEY, startFakeWhaleAlert, type FakeWhaleAlert } from './fakes/whale-alert.js';
import { startTestApp, type TestApp } from './support/app.js';

/**
 * GET /market/:symbol/context with every configured source faked. Sources that need a key and are not
 * configured here are reported as disabled, which is not an error.
 */
describe('Market context', () => {
  let helsinki: FakeHelsinki;
  let fng: FakeFearGreed;
  let coinglass: FakeCoinglass;
  let whales: FakeWhaleAlert;
  let bastion: TestApp;
  const CG_KEY = 'cg-test-key-abcdef123456';

  beforeAll(async () => {
    helsinki = await startFakeHelsinki();
    fng = await startFakeFearGreed();
    coinglass = await startFakeCoinglass({ apiKey: CG_KEY });
    whales = await startFakeWhaleAlert();
    bastion = await startTestApp({
      env: {
        HELSINKI_VM_URL: helsinki.url,
        FEAR_GREED_URL: `${fng.url}/fng/`,
        COINGLASS_API_KEY: CG_KEY,
        COINGLASS_BASE_URL: coinglass.url,
        WHALE_ALERT_API_KEY: FAKE_WHALE_KEY,
        WHALE_ALERT_BASE_URL: whales.restUrl,
      },
    });
  });
  afterAll(async () => {
    await bastion.close();
    await helsinki.close();
    await fng.close();
    await coinglass.close();
    await whales.close();
  });
  beforeEach(async () => {
    helsinki.reset();
    fng.reset();
    coinglass.reset();
    await bastion.redis.deleteAllWithPrefix(); // a fresh cache per test
  });

  const get = (symbol: string) => bastion.request('GET', `/market/${symbol}/context`);

  it('returns every source with numbers as numbers, then serves the repeat from the cache', async () => {
    const res = await get('BTC');
    expect(res.status).toBe(200);
    expect(res.body.symbol).toBe('BTC/USDT');
    expect(res.body.data_sources).toEqual(['coinglass', 'fear_greed', 'helsinki', 'whale_alert']);
    expect(res.body.disabled_sources).toEqual([]);
    expect(typeof res.body.data.whale_alert.volume_usd_1h).toBe('number');
    expect(res.body.errors).toEqual({});
    const cg = res.body.data.coinglass;
    expect(cg).toMatchObject({ open_interest_usd: 67130599066.23, long_short_ratio: 0.63 });
    expect(cg.liquidations_24h).toEqual({
      total_usd: 159220969.68,
      long_usd: 134120774.28,
      short_usd: 25100195.39,
    }); // camelCase keys read
    expect(cg.funding_rate_percent).toBeCloseTo((0.008631 + 0.0019890625) / 2, 12);
    expect(coinglass.calls.every((c) => c.key === CG_KEY && !c.query.includes(CG_KEY))).toBe(true);
    const h = res.body.data.helsinki.normalized;
    expect(typeof h.price).toBe('number');
    expect(typeof res.body.data.fear_greed.value).toBe('number');
    expect(res.body.latency_ms.total).toBeGreaterThanOrEqual(0);
    const vendorCalls = helsinki.calls.length + fng.calls.length + coinglass.calls.length;
    expect(vendorCalls).toBeGreaterThan(0);

    const again = await get('btc-usdt');
    expect(again.body.data).toEqual(res.body.data);
    expect(helsinki.calls.length + fng.calls.length + coinglass.calls.length).toBe(vendorCalls); // within the TTL: no vendor reached
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
    expect(res.body.data_sources).toEqual(['coinglass', 'fear_greed', 'whale_alert']);
    expect(res.body.errors.helsinki.reason).toBe(reason);
    expect(typeof res.body.data.fear_greed.value).toBe('number');
    expect(elapsed).toBeLessThan(3000 + 1000); // Helsinki's deadline plus a margin
    // The vendor call is shared by every caller on its key and ends at the source's own 3 s deadline, which on a
    // loaded machine can be after this caller gave up: let a hung one end so the next case does not join it.
    if (mode === 'hang')
      await new Promise((r) => setTimeout(r, Math.max(0, started + 3000 + 500 - Date.now())));
  });

  it('reports a business error answered over HTTP 200 under errors', async () => {
    fng.fail('business_error');
    const res = await get('ETH');
    expect(res.status).toBe(200);
    expect(res.body.errors.fear_greed.reason).toBe('business_error');
    expect(res.body.data_sources).toEqual(['coinglass', 'helsinki', 'whale_alert']);
  });

  it('treats a Coinglass plan error over HTTP 200 as a failure of that source only, and never shows the key', async () => {
    coinglass.mode('plan-error-200');
    const res = await get('BTC');
    expect(res.status).toBe(200);
    expect(res.body.errors.coinglass).toEqual({
      reason: 'business_error',
      message: expect.stringMatching(/Upgrade plan \(code 401\)/),
    });
    expect(res.body.data_sources).toEqual(['fear_greed', 'helsinki', 'whale_alert']);
    const direct = await bastion.request('GET', '/market/coinglass/BTCUSDT/long-short?interval=4h');
    expect(direct.status).toBe(502);
    expect(direct.body.code).toBe('vendor_error');
    coinglass.mode('ok');
    const ok = await bastion.request('GET', '/market/coinglass/btc/liquidations?range=4h');
    expect(ok.status).toBe(200);
    expect(ok.body.data.history[0]).toEqual({
      time: 1747598400000,
      long_liquidation_usd: 2369935.19562,
      short_liquidation_usd: 6947459.43674,
    });
    expect(coinglass.calls.at(-2)?.query).toContain('symbol=BTCUSDT');
    const badEnum = await bastion.request('GET', '/market/coinglass/BTC/funding?interval=2d');
    expect(badEnum.status).toBe(400);
    expect(badEnum.body.message).toMatch(/interval must be one of/);
    for (const text of [JSON.stringify(res.body), JSON.stringify(direct.body), bastion.logs.text])
      expect(text).not.toContain(CG_KEY);
  });

  it('lists Coinglass under errors with the reason when every endpoint fails', async () => {
    coinglass.mode('http500');
    const res = await get('BTC');
    expect(res.status).toBe(200);
    expect(res.body.errors.coinglass).toEqual({
      reason: 'http_error',
      message: expect.stringMatching(/answered HTTP 500/),
    });
    expect(res.body.data.coinglass).toBeUndefined();
    expect(res.body.data_sources).not.toContain('coinglass');
  });

  it('lists Coinglass under errors, not as an all-null block, when what answered has no figure for the coin', async () => {
    // Funding answers (its list has no DOGE entry); every other part fails.
    for (const path of [
      '/api/futures/liquidation/exchange-list',
      '/api/futures/open-interest/exchange-list',
      '/api/futures/global-long-short-account-ratio/history',
    ])
      coinglass.mode('http500', path);
    const res = await get('DOGE');
    expect(res.status).toBe(200);
    expect(coinglass.calls.map((c) => c.path)).toContain('/api/futures/funding-rate/exchange-list');
    expect(res.body.errors.coinglass).toEqual({
      reason: 'http_error',
      message: expect.stringMatching(/^coinglass has no figure for DOGE\/USDT \(liquidations: .*HTTP 500/),
    });
    expect(res.body.data.coinglass).toBeUndefined();
    expect(res.body.data_sources).not.toContain('coinglass');
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
      coinglass: 'up',
      whale_alert: 'up',
    });
  });
});

import { startFakeFearGreed, type FakeFearGreed } from './fakes/fear-greed.js';
import { FAKE_WHALE_KEY, startFakeWhaleAlert, type FakeWhaleAlert } from './fakes/whale-alert.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DisposableRedis, randomPort, waitFor } from './support/redis-server.js';

/**
 * Market data and budget alerts while Redis is gone: vendor answers keep coming (straight from the vendor,
 * uncached), and the lists that only Redis holds answer 503 store_unavailable, not 500 and not an empty list.
 */
describe('Market data and alerts while Redis is down', () => {
  let redis: DisposableRedis;
  let fng: FakeFearGreed;
  let whales: FakeWhaleAlert;
  let bastion: TestApp;
  let redisUp = false;

  beforeAll(async () => {
    redis = new DisposableRedis(randomPort());
    await redis.start();
    redisUp = true;
    fng = await startFakeFearGreed();
    whales = await startFakeWhaleAlert();
    bastion = await startTestApp({
      env: {
        REDIS_URL: redis.url,
        FEAR_GREED_URL: `${fng.url}/fng/`,
        WHALE_ALERT_API_KEY: FAKE_WHALE_KEY,
        WHALE_ALERT_BASE_URL: whales.restUrl,
      },
    });
  });
  afterAll(async () => {
    if (!redisUp) await redis.start(); // the app shuts down against a live Redis, as in production
    await bastion?.close({ keepKeys: true });
    await redis.kill();
    await fng.close();
    await whales.close();
  });

  const ready = async (): Promise<number> =>
    (await bastion.request('GET', '/health/ready', undefined, null)).status;

  it('answers market routes from the vendor, and the stored lists with 503 store_unavailable', async () => {
    const first = await bastion.request('GET', '/market/fear-greed');
    expect(first.status).toBe(200);
    await bastion.request('GET', '/market/fear-greed');
    expect(fng.calls).toHaveLength(1); // the repeat came from the cache
    expect((await bastion.request('GET', '/ai-cost/alerts')).status).toBe(200);
    expect((await bastion.request('GET', '/market/whale-alert/alerts')).status).toBe(200);

    await redis.kill();
    redisUp = false;
    await waitFor(async () => (await ready()) === 503, 5000, 'readiness did not turn 503');

    const vendorCalls = fng.calls.length;
    const during = await bastion.request('GET', '/market/fear-greed');
    expect(during.status).toBe(200);
    expect(during.body).toEqual(first.body);
    expect(fng.calls).toHaveLength(vendorCalls + 1); // no cache: the vendor was asked
    const context = await bastion.request('GET', '/market/BTC/context');
    expect(context.status).toBe(200);
    expect(context.body.data_sources).toEqual(['fear_greed', 'whale_alert']);
    expect(context.body.data.whale_alert).toMatchObject({ transactions_1h: 2, recent_alerts: [] });

    for (const path of ['/ai-cost/alerts', '/market/whale-alert/alerts']) {
      const res = await bastion.request('GET', path);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ statusCode: 503, code: 'store_unavailable' });
      expect(res.body.message).toMatch(/Redis.*unavailable/);
    }

    await redis.start();
    redisUp = true;
    await waitFor(async () => (await ready()) === 200, 10_000, 'not ready again within 10 s');
    const after = await bastion.request('GET', '/ai-cost/alerts');
    expect(after.status).toBe(200);
    expect(after.body.alerts).toEqual([]);
  });
});

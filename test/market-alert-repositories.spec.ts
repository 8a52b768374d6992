import { randomUUID } from 'node:crypto';
import { loadAppConfig } from '../src/config/app-config.js';
import { StoreUnavailableError } from '../src/redis/failure-policy.js';
import { RedisService } from '../src/redis/redis.service.js';
import { AlertRepository } from '../src/redis/repositories/alert.repository.js';
import { MarketCacheRepository } from '../src/redis/repositories/market-cache.repository.js';
import { WhaleAlertRepository } from '../src/redis/repositories/whale-alert.repository.js';
import { WhaleLeaseRepository } from '../src/redis/repositories/whale-lease.repository.js';
import { DisposableRedis, randomPort, waitFor } from './support/redis-server.js';

/**
 * The market cache, Whale Alert and budget-alert repositories against a private Redis that is killed
 * mid-test: each operation does what src/redis/failure-policy.ts declares for it.
 */
describe('Market and alert repositories when Redis goes away', () => {
  let server: DisposableRedis;
  let redis: RedisService;
  let cache: MarketCacheRepository;
  let whales: WhaleAlertRepository;
  let lease: WhaleLeaseRepository;
  let token: number;
  let alerts: AlertRepository;
  let up = false;
  const window = { scope: 'global', periodId: '2026-11-22' };

  beforeAll(async () => {
    server = new DisposableRedis(randomPort());
    await server.start();
    up = true;
    redis = new RedisService(
      loadAppConfig({ REDIS_URL: server.url, REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:` }),
    );
    await redis.connect();
    cache = new MarketCacheRepository(redis);
    whales = new WhaleAlertRepository(redis);
    lease = new WhaleLeaseRepository(redis);
    alerts = new AlertRepository(redis);
  });
  afterAll(async () => {
    if (!up) await server.start();
    await redis.onApplicationShutdown();
    await server.kill();
  });

  it('works while Redis is up', async () => {
    await cache.write('k', { a: 1 }, 60);
    await expect(cache.read('k')).resolves.toEqual({ value: { a: 1 } });
    token = (await lease.acquire('me', 10_000)) as number;
    expect(token).toBeGreaterThan(0);
    await expect(whales.record(token, 'alert-1', '"first"', 2, 60)).resolves.toBe('stored');
    await expect(whales.record(token, 'alert-1', '"first"', 2, 60)).resolves.toBe('duplicate');
    await expect(whales.record(token, 'alert-2', '"second"', 2, 60)).resolves.toBe('stored');
    await expect(whales.record(token, 'alert-3', '"third"', 2, 60)).resolves.toBe('stored');
    await expect(whales.recent(10)).resolves.toEqual(['"third"', '"second"']);
    // Highest threshold first: the first claim sends, every later one (any instance) does not.
    await expect(alerts.claim(window, [80, 50], Date.now(), 60)).resolves.toBe(true);
    await expect(alerts.claim(window, [80, 50], Date.now(), 60)).resolves.toBe(false);
    await expect(alerts.claim(window, [50], Date.now(), 60)).resolves.toBe(false); // marked, never late
    await alerts.record('id-1', '{"id":"id-1"}', { list: true, keep: 10 });
    await expect(alerts.list(10)).resolves.toEqual(['{"id":"id-1"}']);
  });

  it('fails each operation as declared while Redis is down', async () => {
    await server.kill();
    up = false;
    await waitFor(() => Promise.resolve(!redis.ready), 5000, 'the client did not notice the outage');

    // open: a miss, the answer served uncached, the alert processed as new (even one seen before).
    await expect(cache.read('k')).resolves.toBeNull();
    await expect(cache.write('k', { a: 2 }, 60)).resolves.toBeUndefined();
    await expect(whales.record(token, 'alert-1', '"first"', 2, 60)).resolves.toBe('stored');
    // The stream lease cannot be taken back in its absence: released, it lapses by itself.
    await expect(lease.release('me')).resolves.toBeUndefined();
    await expect(alerts.record('id-2', '{"id":"id-2"}', { list: true, keep: 10 })).resolves.toBeUndefined();

    // closed: no marker, so no alert; unavailable: 503 store_unavailable instead of an empty list.
    for (const [op, work] of [
      ['alert.claim', alerts.claim({ ...window, periodId: '2026-11-23' }, [80], Date.now(), 60)],
      // closed: nobody takes the Whale Alert stream, and a holder learns that it could not renew.
      ['whale_stream.acquire', lease.acquire('other', 10_000)],
      ['whale_stream.renew', lease.renew('me', 10_000)],
      ['whale_alert.recent', whales.recent(10)],
      ['alert.list', alerts.list(10)],
    ] as const) {
      const err = await work.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err).toMatchObject({ operation: op, code: 'store_unavailable', status: 503 });
    }

    await server.start();
    up = true;
    await waitFor(() => redis.ping(), 10_000, 'the client did not reconnect');
    // The claim refused during the outage is made by the first check after it, once.
    await expect(alerts.claim({ ...window, periodId: '2026-11-23' }, [80], Date.now(), 60)).resolves.toBe(
      true,
    );
    await expect(alerts.claim({ ...window, periodId: '2026-11-23' }, [80], Date.now(), 60)).resolves.toBe(
      false,
    );
  });
});

import { randomUUID } from 'node:crypto';
import { loadAppConfig } from '../src/config/app-config.js';
import { RedisService } from '../src/redis/redis.service.js';
import { WhaleAlertRepository } from '../src/redis/repositories/whale-alert.repository.js';
import { WhaleLeaseRepository } from '../src/redis/repositories/whale-lease.repository.js';
import { TEST_REDIS_URL } from './support/app.js';

/**
 * The Whale Alert stream lease and its fencing on real Redis: one holder at a time, renewals only by the
 * holder, a lapsed lease taken by another with a higher token, and alerts refused from the older token.
 */
describe('Whale Alert stream lease', () => {
  let redis: RedisService;
  let lease: WhaleLeaseRepository;
  let alerts: WhaleAlertRepository;

  beforeAll(async () => {
    redis = new RedisService(
      loadAppConfig({
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
      }),
    );
    await redis.connect();
    lease = new WhaleLeaseRepository(redis);
    alerts = new WhaleAlertRepository(redis);
  });
  afterAll(async () => {
    await redis.deleteAllWithPrefix();
    await redis.onApplicationShutdown();
  });

  it('has one holder at a time; only the holder renews; a lapsed lease goes to another with a higher token', async () => {
    const first = await lease.acquire('a', 300);
    expect(first).not.toBeNull();
    await expect(lease.acquire('b', 300)).resolves.toBeNull();
    await expect(lease.renew('b', 300)).resolves.toBe(false);
    await expect(lease.renew('a', 300)).resolves.toBe(true);

    await new Promise((r) => setTimeout(r, 450)); // `a` stopped renewing (killed)
    const second = await lease.acquire('b', 10_000);
    expect(second).toBe((first as number) + 1);
    await expect(lease.renew('a', 10_000)).resolves.toBe(false); // `a` wakes up: no longer the holder

    // `b` gave up while its renewal was in flight: it takes its own lease again, with a new token.
    await expect(lease.acquire('b', 10_000)).resolves.toBe((second as number) + 1);
    await expect(lease.acquire('a', 10_000)).resolves.toBeNull();
  });

  it('stores an alert once, and never from a holder whose token is stale', async () => {
    await redis.deleteAllWithPrefix();
    const old = (await lease.acquire('a', 200)) as number;
    await new Promise((r) => setTimeout(r, 300));
    const current = (await lease.acquire('b', 10_000)) as number;

    // `a` was paused past its lease and still has the alert in hand: refused, nothing listed or marked.
    await expect(alerts.record(old, 'x1', '"x1 from a"', 10, 60)).resolves.toBe('stale');
    await expect(alerts.recent(10)).resolves.toEqual([]);
    await expect(alerts.record(current, 'x1', '"x1 from b"', 10, 60)).resolves.toBe('stored');
    await expect(alerts.record(current, 'x1', '"x1 from b"', 10, 60)).resolves.toBe('duplicate');
    await expect(alerts.recent(10)).resolves.toEqual(['"x1 from b"']);
  });

  it('a release gives the lease back only from its holder', async () => {
    await redis.deleteAllWithPrefix();
    await lease.acquire('a', 10_000);
    await lease.release('b'); // not the holder: nothing happens
    await expect(lease.acquire('c', 10_000)).resolves.toBeNull();
    await lease.release('a');
    await expect(lease.acquire('c', 10_000)).resolves.not.toBeNull();
  });

  it('works on the embedded store: the one process takes the lease and stores its alerts', async () => {
    const embedded = new RedisService(loadAppConfig({}));
    await embedded.connect();
    try {
      expect(embedded.embedded).toBe(true);
      const own = new WhaleLeaseRepository(embedded);
      const token = await own.acquire('only', 10_000);
      expect(token).toBe(1);
      await expect(own.renew('only', 10_000)).resolves.toBe(true);
      const list = new WhaleAlertRepository(embedded);
      await expect(list.record(token as number, 'y', '"y"', 10, 60)).resolves.toBe('stored');
      await expect(list.record(token as number, 'y', '"y"', 10, 60)).resolves.toBe('duplicate');
      await expect(list.record(0, 'z', '"z"', 10, 60)).resolves.toBe('stale');
      await expect(list.recent(10)).resolves.toEqual(['"y"']);
      await own.release('only');
      await expect(own.acquire('only', 10_000)).resolves.toBe(2);
    } finally {
      await embedded.onApplicationShutdown();
    }
  });
});

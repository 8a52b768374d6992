import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { EventGate } from '../src/ai-optimization/events/event-gate.service.js';
import { EventGateSink } from '../src/ai-optimization/events/market-event-sink.js';
import { Clock } from '../src/common/clock.js';
import { loadAppConfig } from '../src/config/app-config.js';
import { WhaleAlertStream } from '../src/market-data/whale-alert/whale-alert.stream.js';
import { RedisService } from '../src/redis/redis.service.js';
import { WhaleAlertRepository } from '../src/redis/repositories/whale-alert.repository.js';
import { WhaleLeaseRepository } from '../src/redis/repositories/whale-lease.repository.js';
import {
  FAKE_WHALE_KEY,
  startFakeWhaleAlert,
  streamAlert,
  type FakeWhaleAlert,
} from './fakes/whale-alert.js';
import { DisposableRedis, randomPort, waitFor } from './support/redis-server.js';

/**
 * Two WhaleAlertStreams of one deployment (one key prefix) against the fake vendor and a private Redis the
 * test can kill: the holder hands over on shutdown, a holder replaced while paused stops at its first stale
 * write, and a holder that cannot renew closes its stream before its lease could lapse.
 */

const alert = (hash: string) => streamAlert({ hash });

const gate = { handle: () => Promise.resolve({ response: null, metadata: {} }) } as unknown as EventGate;

describe('The Whale Alert stream holder', () => {
  let server: DisposableRedis;
  let fake: FakeWhaleAlert;
  let redis: RedisService;
  let alerts: WhaleAlertRepository;
  let lease: WhaleLeaseRepository;
  const streams: WhaleAlertStream[] = [];
  let config: ReturnType<typeof loadAppConfig>;

  /** An instance of the deployment: its own stream on the shared Redis connection (each has its holder id). */
  const instance = (): WhaleAlertStream => {
    const stream = new WhaleAlertStream(config, alerts, new EventGateSink(gate), new Clock(), lease);
    stream.setBackoff(20, 200);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    Logger.overrideLogger(false);
    server = new DisposableRedis(randomPort());
    await server.start();
    fake = await startFakeWhaleAlert();
    config = loadAppConfig({
      REDIS_URL: server.url,
      REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
      WHALE_ALERT_API_KEY: FAKE_WHALE_KEY,
      WHALE_ALERT_BASE_URL: fake.restUrl,
      WHALE_ALERT_WS_URL: fake.wsUrl,
    });
    redis = new RedisService(config);
    await redis.connect();
    alerts = new WhaleAlertRepository(redis);
    lease = new WhaleLeaseRepository(redis);
  });
  afterAll(async () => {
    for (const stream of streams) await stream.onApplicationShutdown();
    await redis.onApplicationShutdown();
    await fake.close();
    await server.kill();
  });
  beforeEach(async () => {
    for (const stream of streams.splice(0)) await stream.onApplicationShutdown();
    await redis.deleteAllWithPrefix();
    fake.streamKeys.length = 0;
  });

  it('only the holder connects; on shutdown it hands over, and the next instance connects at its next tick', async () => {
    const first = instance();
    const second = instance();
    await first.tick();
    await second.tick();
    await waitFor(() => Promise.resolve(first.status().subscribed), 5000, 'the holder did not subscribe');
    expect(first.status().holder).toBe(true);
    expect(second.status()).toMatchObject({ enabled: true, holder: false, connected: false });
    await second.tick(); // still held: nothing happens
    expect(fake.streamKeys).toHaveLength(1);

    await first.onApplicationShutdown();
    await second.tick();
    await waitFor(
      () => Promise.resolve(second.status().subscribed),
      5000,
      'the next instance did not subscribe',
    );
    expect(second.status().holder).toBe(true);
    expect(fake.connections()).toBe(1);
  });

  it('a holder replaced while it was paused stops at its first stale write, which is not stored', async () => {
    const paused = instance();
    await paused.tick();
    await waitFor(() => Promise.resolve(paused.status().subscribed), 5000, 'the holder did not subscribe');

    // Its lease lapsed while it was paused, and another instance took the stream.
    await redis.client.del(redis.keys.whaleStreamLease());
    await expect(lease.acquire('successor', 10_000)).resolves.not.toBeNull();

    fake.pushAlert(alert('0xlate'));
    await waitFor(() => Promise.resolve(!paused.status().holder), 5000, 'the stale holder kept the stream');
    await waitFor(() => Promise.resolve(fake.connections() === 0), 5000, 'the stale holder stayed connected');
    expect(paused.status().alerts_received).toBe(0);
    await expect(alerts.recent(10)).resolves.toEqual([]);
  });

  it('a holder that cannot renew (Redis down) closes its stream before its lease could lapse, and takes it back after', async () => {
    const holder = instance();
    await holder.tick();
    await waitFor(() => Promise.resolve(holder.status().subscribed), 5000, 'the holder did not subscribe');

    await server.kill();
    const down = Date.now();
    await holder.tick(); // the renewal fails: the stream stays up for now
    expect(holder.status().connected).toBe(true);
    await waitFor(() => Promise.resolve(fake.connections() === 0), 15_000, 'the stream outlived its lease');
    expect(Date.now() - down).toBeLessThan(10_000); // closed before a successor could have taken the lapsed lease
    expect(holder.status().holder).toBe(false);

    await server.start();
    await waitFor(() => redis.ping(), 10_000, 'the client did not reconnect');
    await holder.tick(); // the old lease has lapsed with the restart (no persistence): taken again
    await waitFor(() => Promise.resolve(holder.status().subscribed), 5000, 'the holder did not come back');
  }, 40_000);
});

import { randomUUID } from 'node:crypto';
import { loadAppConfig } from '../src/config/app-config.js';
import { RedisService } from '../src/redis/redis.service.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startFakeWhaleAlert, streamAlert, type FakeWhaleAlert } from './fakes/whale-alert.js';
import { BOT_KEY, ADMIN_KEY, TEST_REDIS_URL } from './support/app.js';
import { buildOnce, ChildBastion } from './support/child-bastion.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';

/**
 * One Whale Alert stream per deployment: three Bastion processes share one Redis key prefix and one Whale
 * Alert key; the vendor sees one stream connection. When its holder is killed (SIGKILL: no shutdown hook, the
 * lease just stops being renewed), another instance connects within 15 s, and an alert the vendor replays to
 * the new holder is not stored a second time.
 */

const WA_KEY = 'wa-test-key-scale-0001';

const alert = (hash: string) => streamAlert({ hash });

interface StreamView {
  holder: boolean;
  connected: boolean;
  subscribed: boolean;
  alerts_received: number;
  duplicates: number;
}

/** The stream state and the stored alerts as an instance's /market/whale-alert/alerts shows them. */
async function alertsOn(bastion: ChildBastion): Promise<{ stream: StreamView; hashes: string[] }> {
  const res = await fetch(`${bastion.url}/market/whale-alert/alerts?limit=50`, {
    headers: { authorization: `Bearer ${BOT_KEY}` },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { stream: StreamView; data: { hash: string }[] };
  return { stream: body.stream, hashes: body.data.map((a) => a.hash) };
}

/** Watches the vendor's side for `ms`: the most stream connections open at any moment. */
async function mostConnections(fake: FakeWhaleAlert, ms: number): Promise<number> {
  let most = fake.connections();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    most = Math.max(most, fake.connections());
  }
  return most;
}

describe('One Whale Alert stream across three instances', () => {
  // Compiling the server for the child processes takes a while on a loaded machine: not on the test's clock.
  beforeAll(() => buildOnce(), 180_000);
  const prefix = `bastion-test:whale-${randomUUID().slice(0, 8)}:`;
  let fake: FakeWhaleAlert;
  let deepseek: FakeLlm;
  const instances: ChildBastion[] = [];

  beforeAll(async () => {
    fake = await startFakeWhaleAlert({ apiKey: WA_KEY });
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterAll(async () => {
    for (const bastion of instances) await bastion.kill();
    await fake.close();
    await deepseek.close();
    const redis = new RedisService(loadAppConfig({ REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix }));
    await redis.connect();
    await redis.deleteAllWithPrefix();
    await redis.onApplicationShutdown();
  });

  it('the vendor sees one connection; killing its holder, another instance connects within 15 s and stores each alert once', async () => {
    const env = {
      ...providerEnv({ deepseek }),
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      API_KEYS: BOT_KEY,
      ADMIN_API_KEYS: ADMIN_KEY,
      BUDGET_CHECK_CRON: '0 0 0 1 1 *',
      FEAR_GREED_URL: 'http://127.0.0.1:9/fng/',
      WHALE_ALERT_API_KEY: WA_KEY,
      WHALE_ALERT_BASE_URL: fake.restUrl,
      WHALE_ALERT_WS_URL: fake.wsUrl,
      // The alerts stay below the event threshold: this test is about the stream, not the event gate.
      WHALE_ALERT_EVENT_MIN_USD: '100000000000',
    };
    for (let i = 0; i < 3; i++) {
      const bastion = new ChildBastion(env);
      instances.push(bastion);
      await bastion.start();
    }

    // One connection, and it stays the only one while every instance keeps trying for the lease.
    await waitFor(() => Promise.resolve(fake.subscriptions.length === 1), 10_000, 'no instance subscribed');
    expect(await mostConnections(fake, 5000)).toBe(1);
    expect(fake.streamKeys).toEqual([WA_KEY]); // no second connection was even attempted
    const views = await Promise.all(instances.map(alertsOn));
    expect(views.map((v) => v.stream.holder).filter(Boolean)).toHaveLength(1);
    const holder = instances[views.findIndex((v) => v.stream.holder)];
    const others = instances.filter((b) => b !== holder);
    expect(views.find((v) => v.stream.holder)?.stream).toMatchObject({ connected: true, subscribed: true });

    fake.pushAlert(alert('0xbefore'));
    await waitFor(
      async () => (await alertsOn(others[0])).hashes.includes('0xbefore'),
      5000,
      'the alert was not stored',
    );

    await holder.kill();
    await waitFor(
      () => Promise.resolve(fake.connections() === 1 && fake.subscriptions.length === 2),
      15_000,
      'no other instance took over the stream within 15 s',
    );
    expect(await mostConnections(fake, 3000)).toBe(1);
    expect(fake.streamKeys).toHaveLength(2);
    const after = await Promise.all(others.map(alertsOn));
    expect(after.map((v) => v.stream.holder).filter(Boolean)).toHaveLength(1);
    const successor = others[after.findIndex((v) => v.stream.holder)];

    // The vendor replays the last alert to the new connection, then sends a new one: each is listed once.
    fake.pushAlert(alert('0xbefore'));
    fake.pushAlert(alert('0xafter'));
    await waitFor(
      async () => (await alertsOn(successor)).stream.alerts_received === 1,
      5000,
      'the new alert was not stored',
    );
    const { stream, hashes } = await alertsOn(successor);
    expect(stream.duplicates).toBe(1);
    expect(hashes).toEqual(['0xafter', '0xbefore']);
  }, 120_000); // three processes booting and a takeover on a loaded machine
});

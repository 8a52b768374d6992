import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';
import { DisposableRedis, randomPort, waitFor } from './support/redis-server.js';

describe('The agents when Redis goes away (a private redis-server, killed mid-test)', () => {
  let redis: DisposableRedis;
  let bastion: TestApp;

  beforeAll(async () => {
    redis = new DisposableRedis(randomPort());
    await redis.start();
  });
  afterAll(async () => {
    await bastion?.close({ keepKeys: true });
    await redis.kill();
  });

  it('settings fall back to the file (open), changes and telemetry are refused with 503 store_unavailable', async () => {
    bastion = await startTestApp({ env: { REDIS_URL: redis.url } });
    const patched = await bastion.request(
      'PATCH',
      '/agents/settings/portfolio_optimizer',
      { max_position_size: 0.25 },
      ADMIN_KEY,
    );
    expect(patched.status).toBe(200);
    expect(
      (await bastion.request('GET', '/agents/settings/portfolio_optimizer')).body.max_position_size,
    ).toBe(0.25);

    await redis.kill();
    await waitFor(
      async () => (await bastion.request('GET', '/health/ready', undefined, null)).status === 503,
      5000,
      'readiness did not turn 503',
    );
    // agent_settings.read is `open`: the file's settings apply while the run-time change cannot be read.
    const read = await bastion.request('GET', '/agents/settings/portfolio_optimizer');
    expect(read.status).toBe(200);
    expect(read.body.max_position_size).toBe(0.3);
    // agent_settings.write and telemetry.write are `unavailable`: a 503 that says why, never a 500.
    const write = await bastion.request(
      'PATCH',
      '/agents/settings/portfolio_optimizer',
      { rebalance_threshold: 0.2 },
      ADMIN_KEY,
    );
    expect(write.status).toBe(503);
    expect(write.body).toMatchObject({ code: 'store_unavailable' });
    expect(write.body.message).toMatch(/unavailable for agent_settings\.write/);
    const telemetry = await bastion.request('POST', '/bots/bot-1/telemetry', {
      user_id: 1,
      events: [{ type: 'heartbeat', timestamp: new Date().toISOString() }],
    });
    expect(telemetry.status).toBe(503);
    expect(telemetry.body.message).toMatch(/unavailable for telemetry\.write/);
    const recent = await bastion.request('GET', '/agents/anomaly-detector/recent?bot_id=bot-1');
    expect(recent.status).toBe(503);

    await redis.start();
    await waitFor(
      async () => (await bastion.request('GET', '/health/ready', undefined, null)).status === 200,
      10_000,
      'readiness did not recover',
    );
    // A fresh redis-server (no persistence): nothing stored survives, and the file still applies.
    expect(
      (await bastion.request('GET', '/agents/settings/portfolio_optimizer')).body.max_position_size,
    ).toBe(0.3);
  });
});

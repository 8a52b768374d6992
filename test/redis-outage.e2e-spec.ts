import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { DisposableRedis, randomPort, waitFor } from './support/redis-server.js';

describe('Redis goes away while Bastion runs', () => {
  let redis: DisposableRedis;
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    redis = new DisposableRedis(randomPort());
    await redis.start();
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterAll(async () => {
    await bastion?.close({ keepKeys: true });
    await redis.kill();
    await deepseek.close();
  });

  const ready = async (): Promise<number> =>
    (await bastion.request('GET', '/health/ready', undefined, null)).status;

  it('keeps answering under a soft budget, reports not-ready, and recovers by itself', async () => {
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        REDIS_URL: redis.url,
        BUDGET_ENFORCEMENT: 'soft',
        DAILY_BUDGET_USD: '5',
      },
    });
    expect(await ready()).toBe(200);
    const before = await bastion.request('POST', '/ai/call', {
      agent_type: 'regime_probe',
      prompt: 'before outage',
    });
    expect(before.body.metadata.reason).toBe('called');

    await redis.kill();
    await waitFor(async () => (await ready()) === 503, 5000, 'readiness did not turn 503');
    const readyBody = (await bastion.request('GET', '/health/ready', undefined, null)).body;
    expect(readyBody.error.redis.status).toBe('down');

    const during = await bastion.request('POST', '/ai/call', {
      agent_type: 'regime_probe',
      prompt: 'during outage',
    });
    expect(during.status).toBe(200);
    expect(during.body.metadata.reason).toBe('called');
    expect(during.body.response).toMatch(/^Answer #2/);

    await redis.start();
    const recoveredIn = await waitFor(
      async () => (await ready()) === 200,
      10_000,
      'not ready again within 10 s',
    );
    expect(recoveredIn).toBeLessThan(10_000);
    const after = await bastion.request('POST', '/ai/call', {
      agent_type: 'regime_probe',
      prompt: 'after outage',
    });
    expect(after.body.metadata.reason).toBe('called');
    const again = await bastion.request('POST', '/ai/call', {
      agent_type: 'regime_probe',
      prompt: 'after outage',
    });
    expect(again.body.metadata.reason).toBe('response_cache'); // the cache works again
  });

  it('fails closed under a hard budget while Redis is down', async () => {
    await bastion.close({ keepKeys: true });
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        REDIS_URL: redis.url,
        BUDGET_ENFORCEMENT: 'hard',
        DAILY_BUDGET_USD: '5',
      },
    });
    await redis.kill();
    await waitFor(async () => (await ready()) === 503, 5000, 'readiness did not turn 503');
    deepseek.reset();
    const refused = await bastion.request('POST', '/ai/call', {
      agent_type: 'regime_probe',
      prompt: 'hard and down',
    });
    expect(refused.status).toBe(200);
    expect(refused.body.metadata.reason).toBe('budget_exceeded');
    expect(refused.body.metadata.message).toMatch(/unreachable/);
    expect(deepseek.calls).toHaveLength(0);
    await redis.start();
  });
});

import { randomUUID } from 'node:crypto';
import { loadAppConfig } from '../src/config/app-config.js';
import { RedisService } from '../src/redis/redis.service.js';
import {
  ConversationRepository,
  type PrecallPlan,
} from '../src/redis/repositories/conversation.repository.js';
import { SettingsRepository } from '../src/redis/repositories/settings.repository.js';
import { TEST_STORE_NAME, testStoreEnv } from './support/app.js';

/**
 * The gateway's pre-call script, one round trip with each step deciding in its order, on a real Redis (in the
 * cluster project a Redis Cluster, where it runs as one call per slot) and on the embedded store (which runs
 * the same Lua).
 */
describe.each([
  [TEST_STORE_NAME, testStoreEnv()],
  ['the embedded store', { REDIS_URL: 'memory://' }],
])('the pre-call step on %s', (_store, storeEnv) => {
  const config = loadAppConfig({
    ...storeEnv,
    REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
  });
  const redis = new RedisService(config);
  const settings = new SettingsRepository(redis);
  const conversations = new ConversationRepository(redis);
  const now = Date.parse('2026-11-22T12:00:00Z');
  let symbol = 0;

  const plan = (over: Partial<PrecallPlan> = {}): PrecallPlan => ({
    conversation: { tenant: 'default', agent: 'probe', symbol: `S${symbol}` },
    settingsVersion: settings.snapshot.version,
    cacheKey: null,
    intervalMs: null,
    sampling: null,
    reservation: null,
    lastAnswerOnGo: false,
    inflight: null,
    now,
    ...over,
  });

  beforeAll(async () => {
    await redis.connect();
    await settings.reload();
  });
  beforeEach(() => symbol++);
  afterAll(async () => {
    await redis.deleteAllWithPrefix();
    await redis.onApplicationShutdown();
  });

  /** The change the CHANGE_BASED sampler measures from `before` to `after`. */
  async function changeBetween(before: Record<string, number>, after: Record<string, number>) {
    symbol++;
    const first = await conversations.precall(
      plan({ sampling: { kind: 'change', threshold: 0, features: before } }),
    );
    expect(first).toMatchObject({ kind: 'go', change: null }); // the first call always goes
    const second = await conversations.precall(
      plan({ sampling: { kind: 'change', threshold: 1e9, features: after } }),
    );
    // Any finite change stays below the threshold; an infinite one (a new feature) calls.
    if (second.kind !== 'sampled_out' && second.kind !== 'go') throw new Error(`unexpected ${second.kind}`);
    expect(second.kind).toBe(second.change === Infinity ? 'go' : 'sampled_out');
    return second.change;
  }

  it('CHANGE_BASED measures the largest relative change of any feature', async () => {
    expect(await changeBetween({ price: 100, rsi: 50 }, { price: 110, rsi: 51 })).toBeCloseTo(0.1, 12);
    expect(await changeBetween({ price: 100 }, { price: 100, volume: 5 })).toBe(Infinity);
    expect(await changeBetween({ price: 0 }, { price: 0 })).toBe(0);
  });

  it('CHANGE_BASED calls at the threshold and keeps the features of the last call', async () => {
    const at = (features: Record<string, number>) =>
      conversations.precall(plan({ sampling: { kind: 'change', threshold: 0.15, features } }));
    expect((await at({ rsi: 50 })).kind).toBe('go');
    expect((await at({ rsi: 55 })).kind).toBe('sampled_out'); // 10% < 15%
    expect((await at({ rsi: 57.5 })).kind).toBe('go'); // 15% of the last call's 50
    expect((await at({ rsi: 60 })).kind).toBe('sampled_out'); // 4.3% of 57.5
  });

  it('a cached answer wins over every claim, and claims nothing', async () => {
    const cacheKey = conversations.cacheKey(plan().conversation, 'general', 'h1');
    await redis.client.set(cacheKey, '{"response":"cached"}');
    const hit = await conversations.precall(
      plan({ cacheKey, intervalMs: 60_000, sampling: { kind: 'interval', ms: 60_000 } }),
    );
    expect(hit).toEqual({ kind: 'hit', cached: '{"response":"cached"}' });
    // Nothing was claimed: a call without the cache still goes through both.
    const go = await conversations.precall(
      plan({ intervalMs: 60_000, sampling: { kind: 'interval', ms: 60_000 } }),
    );
    expect(go.kind).toBe('go');
  });

  it('the event interval filters before the sampler, with the last answer attached', async () => {
    const c = plan().conversation;
    await redis.client.set(redis.keys.lastAnswer(c.tenant, c.agent, c.symbol), '{"response":"older"}');
    expect((await conversations.precall(plan({ intervalMs: 60_000 }))).kind).toBe('go');
    const filtered = await conversations.precall(plan({ intervalMs: 60_000, sampling: { kind: 'deny' } }));
    expect(filtered).toEqual({ kind: 'filtered', last: '{"response":"older"}' });
    const later = await conversations.precall(plan({ intervalMs: 60_000, now: now + 60_000 }));
    expect(later.kind).toBe('go');
  });

  it('answers "stale" without claiming anything when the settings changed since the plan was made', async () => {
    await settings.setEventThresholds({ min_ai_interval: 5 });
    const stale = await conversations.precall(
      plan({ settingsVersion: 'an older version', sampling: { kind: 'interval', ms: 60_000 } }),
    );
    expect(stale).toEqual({ kind: 'stale', version: settings.snapshot.version });
    expect((await conversations.precall(plan({ sampling: { kind: 'interval', ms: 60_000 } }))).kind).toBe(
      'go',
    );
  });

  it('an identical call in flight elsewhere makes the next one wait, claiming nothing, until its marker goes', async () => {
    const cacheKey = conversations.cacheKey(plan().conversation, 'general', 'h-inflight');
    const marker = (token: string) => ({ key: conversations.inflightKey(cacheKey), token, leaseMs: 10_000 });
    const claims = { cacheKey, intervalMs: 60_000, sampling: { kind: 'interval', ms: 60_000 } } as const;
    expect((await conversations.precall(plan({ ...claims, inflight: marker('leader') }))).kind).toBe('go');
    expect(await redis.client.pttl(marker('leader').key)).toBeGreaterThan(9_000);
    expect(await conversations.precall(plan({ ...claims, inflight: marker('follower') }))).toEqual({
      kind: 'wait',
    });
    // The follower's renewal and release touch nothing that is not its own.
    expect(await conversations.renewInflight(marker('follower'))).toBe(false);
    expect(await conversations.renewInflight(marker('leader'))).toBe(true);
    conversations.releaseInflight(marker('follower'));
    conversations.releaseInflight(marker('leader')); // sent on the same connection, so before the next read
    expect(await redis.client.get(marker('leader').key)).toBeNull();
    // The follower claimed nothing while it waited: once the marker is gone, only the leader's claims filter it.
    expect((await conversations.precall(plan({ ...claims, inflight: marker('follower') }))).kind).toBe(
      'filtered',
    );
  });

  it('a follower gets the answer the leader stores, or learns the leader is gone, or stops at its deadline', async () => {
    const cacheKey = conversations.cacheKey(plan().conversation, 'general', 'h-wait');
    const claim = { key: conversations.inflightKey(cacheKey), token: 'leader', leaseMs: 10_000 };
    await redis.client.set(claim.key, 'leader', 'PX', 10_000);
    expect(await conversations.awaitLeader(cacheKey, claim.key, Date.now() + 60)).toEqual({
      kind: 'timeout',
    });
    const waiting = conversations.awaitLeader(cacheKey, claim.key, Date.now() + 5_000);
    await conversations.postcall({
      conversation: plan().conversation,
      cache: { key: cacheKey, value: '{"response":"stored"}', ttlSeconds: 60 },
      lastAnswer: null,
      inflight: claim,
    });
    expect(await waiting).toEqual({ kind: 'answer', cached: '{"response":"stored"}' });
    expect(await redis.client.get(claim.key)).toBeNull(); // released with the answer
    const other = conversations.cacheKey(plan().conversation, 'general', 'h-gone');
    await redis.client.set(conversations.inflightKey(other), 'leader', 'PX', 10_000);
    const abandoned = conversations.awaitLeader(other, conversations.inflightKey(other), Date.now() + 5_000);
    conversations.releaseInflight({ ...claim, key: conversations.inflightKey(other) });
    expect(await abandoned).toEqual({ kind: 'leader_gone' });
  });
});

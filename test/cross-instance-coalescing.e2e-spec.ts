import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { buildOnce, ChildBastion } from './support/child-bastion.js';
import { ADMIN_KEY, BOT_KEY, scanKeys, startTestApp, testStoreEnv, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';

/**
 * Coalescing across instances when the leader does not deliver: identical requests on other instances wait
 * for the answer the leading instance stores; when that instance crashes mid-call or its call fails, one of
 * them takes over and the rest share its answer — nobody hangs, and the upstream is asked once more, not once
 * per waiting request.
 */

/** A models file like the tests' own with other deadlines (the leader's call must outlast the test's steps). */
function modelsFile(defaults: { timeoutMs: number; retryBudgetMs: number; maxAttempts: number }): string {
  const text = readFileSync('test/fixtures/models.test.yaml', 'utf8')
    .replace(/timeout_ms: \d+/, `timeout_ms: ${defaults.timeoutMs}`)
    .replace(/retry_budget_ms: \d+/, `retry_budget_ms: ${defaults.retryBudgetMs}`)
    .replace(/max_attempts: \d+/, `max_attempts: ${defaults.maxAttempts}`);
  const path = join(mkdtempSync(join(tmpdir(), 'bastion-models-')), 'models.yaml');
  writeFileSync(path, text);
  return path;
}

/** The in-flight markers under an instance's prefix (one per identical call being made). */
const inflightMarkers = (app: TestApp): Promise<string[]> => scanKeys(app.redis, `${app.prefix}*:inflight`);

const ask = (probe: string) => ({ agent_type: probe, symbol: 'BTC', prompt: 'Validate long BTC 97000' });

describe('Coalescing across instances when the leader does not deliver', () => {
  // Compiling the server for the child processes takes a while on a loaded machine: not on the test's clock.
  beforeAll(() => buildOnce(), 180_000);
  // One upstream (calls are identical only to the same upstream): the leader's request hangs, later ones answer.
  let upstream: FakeLlm;

  beforeEach(async () => {
    upstream = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY, latencyMs: 300 });
    upstream.inject({ kind: 'hang', times: 1 });
  });
  afterEach(() => upstream.close());

  it('a leader killed mid-call: once its lease lapses one waiting request calls, and the others share its answer', async () => {
    const a = await startTestApp({ env: providerEnv({ deepseek: upstream }) });
    const b = await startTestApp({ env: providerEnv({ deepseek: upstream }), prefix: a.prefix });
    const doomed = new ChildBastion({
      NODE_ENV: 'test',
      ...testStoreEnv(),
      REDIS_KEY_PREFIX: a.prefix,
      API_KEYS: BOT_KEY,
      ADMIN_API_KEYS: ADMIN_KEY,
      BUDGET_CHECK_CRON: '0 0 0 1 1 *',
      ...providerEnv({ deepseek: upstream }),
      MODELS_CONFIG_PATH: modelsFile({ timeoutMs: 120_000, retryBudgetMs: 120_000, maxAttempts: 1 }),
    });
    try {
      await doomed.start();
      const abandoned = fetch(`${doomed.url}/ai/call`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${BOT_KEY}` },
        body: JSON.stringify(ask('takeover_probe')),
      }).then(
        () => 'answered',
        () => 'connection lost',
      );
      await waitFor(
        () => Promise.resolve(upstream.calls.length === 1),
        10_000,
        'the doomed instance never called',
      );
      expect(await inflightMarkers(a)).toHaveLength(1);
      await doomed.kill();
      expect(await abandoned).toBe('connection lost');

      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => [a, b][i % 2].request('POST', '/ai/call', ask('takeover_probe'))),
      );
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(upstream.calls).toHaveLength(2); // the hung call and the one that answered
      expect(new Set(results.map((r) => r.body.response)).size).toBe(1);
      const reasons = results.map((r) => r.body.metadata.reason as string).sort();
      expect(reasons).toEqual(['called', 'coalesced', 'coalesced', 'coalesced', 'coalesced', 'coalesced']);
      expect(await inflightMarkers(a)).toHaveLength(0); // the new leader released its marker with the answer
    } finally {
      await doomed.kill();
      await b.close({ keepKeys: true });
      await a.close();
    }
  }, 60_000);

  it('a leader whose call fails gives its marker back at once, and a waiting instance makes the call', async () => {
    const failing = modelsFile({ timeoutMs: 800, retryBudgetMs: 800, maxAttempts: 1 });
    const a = await startTestApp({
      env: { ...providerEnv({ deepseek: upstream }), MODELS_CONFIG_PATH: failing },
    });
    const b = await startTestApp({ env: providerEnv({ deepseek: upstream }), prefix: a.prefix });
    try {
      const leader = a.request('POST', '/ai/call', ask('failover_probe'));
      await waitFor(
        () => Promise.resolve(upstream.calls.length === 1),
        5_000,
        'the first instance never called',
      );
      const followers = Promise.all(
        Array.from({ length: 4 }, () => b.request('POST', '/ai/call', ask('failover_probe'))),
      );
      const failed = await leader;
      expect(failed.status).toBe(504);
      // Released with the failure, not left to lapse: the followers do not wait out the lease.
      await waitFor(
        async () => (await inflightMarkers(a)).length === 0 || upstream.calls.length > 1,
        2_000,
        'the failed leader kept its in-flight marker',
      );
      const answered = await followers;
      expect(answered.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(upstream.calls).toHaveLength(2); // the hung call and the one that answered
      expect(answered.map((r) => r.body.metadata.reason as string).sort()).toEqual([
        'called',
        'coalesced',
        'coalesced',
        'coalesced',
      ]);
    } finally {
      await b.close({ keepKeys: true });
      await a.close();
    }
  }, 30_000);
});

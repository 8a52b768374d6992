import { readFileSync } from 'node:fs';
import { parseCandleCsv } from '../src/market-data/candles/csv-candle-source.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { rateHeaders, type CreatedKey } from './support/managed-keys.js';

/**
 * An agent's AI enhancement runs as the HTTP request that asked for it: the caller's tenant decides whose
 * cache and last answers it may use, and the caller's key is counted, its rate-limit headers on the agent's
 * answer. (The request is handed down explicitly, not through AsyncLocalStorage: this is what would break.)
 */

const candles = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8')).candles.slice(
  0,
  200,
);
const analyze = { symbol: 'BTC/USDT', timeframe: '1h', candles };

describe('Agents run as their caller', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });

  const keyOf = async (fields: Record<string, unknown>): Promise<CreatedKey> => {
    const res = await bastion.request('POST', '/admin/keys', fields, ADMIN_KEY);
    expect(res.status).toBe(201);
    return res.body as CreatedKey;
  };

  it("counts the caller's key, carries its rate-limit headers, and keeps each tenant's answers apart", async () => {
    const alpha = await keyOf({ name: 'regime alpha', tenant: 'alpha', rpm: 1, tpm: 100_000 });
    const beta = await keyOf({ name: 'regime beta', tenant: 'beta' });
    const path = '/agents/market-regime/analyze';

    const first = await bastion.request('POST', path, analyze, alpha.key);
    expect(first.status).toBe(200);
    expect([first.body.ai_enhanced, first.body.ai_reason]).toEqual([true, 'called']);
    const h = rateHeaders(first.headers);
    expect([h.limitRequests, h.remainingRequests]).toEqual(['1', '0']);
    expect(deepseek.calls).toHaveLength(1);

    // Another tenant asking the very same thing neither reads alpha's cache nor is sampled out by alpha's call.
    const other = await bastion.request('POST', path, analyze, beta.key);
    expect([other.status, other.body.ai_enhanced, other.body.ai_reason]).toEqual([200, true, 'called']);
    expect(deepseek.calls).toHaveLength(2);

    // Alpha's key allows one request a minute: the agent still answers, without the model, and says why.
    const second = await bastion.request('POST', path, analyze, alpha.key);
    expect(second.status).toBe(200);
    expect([second.body.ai_enhanced, second.body.ai_reason]).toEqual([false, 'rate_limit_exceeded']);
    expect(second.body.regime_type).toBe(first.body.regime_type);
    expect(deepseek.calls).toHaveLength(2);
  });
});

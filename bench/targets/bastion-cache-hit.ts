/**
 * Bastion's POST /ai/call answered from the response cache: the real app (createApp) against a fake
 * DeepSeek upstream, one call to fill the cache, then the same body repeated.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app.factory.js';
import { loadAppConfig } from '../../src/config/app-config.js';
import { RedisService } from '../../src/redis/redis.service.js';
import { startFakeLlm } from '../../test/fakes/llm-upstream.js';
import type { BenchTarget, Log, StartedTarget } from './target.js';

const API_KEY = 'bench-key';
const UPSTREAM_KEY = 'bench-upstream-key';
const BODY = JSON.stringify({
  agent_type: 'market_regime',
  prompt: 'Analyze current BTC market regime',
  symbol: 'BTC/USDT',
  context: { price: 45000 },
});
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };

async function callOnce(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: HEADERS, body: BODY });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

export function bastionCacheHit(redisUrl: string): BenchTarget {
  return {
    id: 'bastion-cache-hit',
    label: 'Bastion POST /ai/call (cache hit)',
    async start(log: Log): Promise<StartedTarget> {
      const fake = await startFakeLlm({ personality: 'deepseek', apiKey: UPSTREAM_KEY });
      const prefix = `bench:${randomUUID().slice(0, 8)}:`;
      const config = loadAppConfig({
        NODE_ENV: 'test',
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefix,
        API_KEYS: API_KEY,
        LOG_LEVEL: 'warn',
        DEEPSEEK_API_KEY: UPSTREAM_KEY,
        DEEPSEEK_BASE_URL: fake.baseURL,
      });
      const app = await createApp(config);
      const stop = async (): Promise<void> => {
        await app
          .get(RedisService)
          .deleteAllWithPrefix()
          .catch((err: Error) => log(`could not delete the bench's Redis keys (${prefix}*): ${err.message}`));
        await app.close();
        await fake.close();
      };
      try {
        await app.listen(0, '127.0.0.1');
        const { port } = app.getHttpServer().address() as AddressInfo;
        const url = `http://127.0.0.1:${port}/ai/call`;
        log(
          `Bastion listening on 127.0.0.1:${port}, Redis prefix ${prefix}, fake DeepSeek at ${fake.baseURL}`,
        );

        const first = await callOnce(url);
        if (first.status !== 200 || first.body?.metadata?.reason !== 'called') {
          throw new Error(`cache-filling call failed: ${first.status} ${JSON.stringify(first.body)}`);
        }
        const second = await callOnce(url);
        if (second.status !== 200 || second.body?.metadata?.reason !== 'response_cache') {
          throw new Error(
            `expected a response-cache hit, got ${second.status} ${JSON.stringify(second.body)}`,
          );
        }
        log(`cache filled (1 upstream call); repeat answered with metadata.reason="response_cache"`);

        return {
          load: {
            url,
            method: 'POST',
            headers: HEADERS,
            body: BODY,
            expectBodyContains: '"reason":"response_cache"',
          },
          verify() {
            const upstreamCalls = fake.calls.length;
            log(`fake upstream received ${upstreamCalls} call(s) in total (expected exactly 1)`);
            if (upstreamCalls !== 1) {
              throw new Error(`the fake upstream received ${upstreamCalls} calls instead of 1`);
            }
            return Promise.resolve({ upstreamCalls, redisPrefix: prefix });
          },
          stop,
        };
      } catch (err) {
        await stop();
        throw err;
      }
    },
  };
}

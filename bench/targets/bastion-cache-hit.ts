/**
 * Bastion's POST /ai/call answered from the response cache: the real app (createApp) against the fake
 * DeepSeek, one call to fill the cache, then the same body repeated.
 */
import { startFakeDeepSeekWorker } from '../fake-deepseek.js';
import { JSON_HEADERS, post, startBastion, UPSTREAM_KEY } from './bastion-app.js';
import type { BenchTarget, Log, StartedTarget } from './target.js';

const BODY = JSON.stringify({
  agent_type: 'market_regime',
  prompt: 'Analyze current BTC market regime',
  symbol: 'BTC/USDT',
  context: { price: 45000 },
});

export function bastionCacheHit(redisUrl: string): BenchTarget {
  return {
    id: 'bastion-cache-hit',
    label: 'Bastion POST /ai/call (cache hit)',
    async start(log: Log): Promise<StartedTarget> {
      const fake = await startFakeDeepSeekWorker({ apiKey: UPSTREAM_KEY });
      const bastion = await startBastion(redisUrl, fake.baseUrl('ai-call'), log).catch(
        async (err: unknown) => {
          await fake.close();
          throw err;
        },
      );
      const stop = async (): Promise<void> => {
        await bastion.stop();
        await fake.close();
      };
      try {
        const url = `${bastion.url}/ai/call`;
        const first = await post(url, BODY);
        if (first.status !== 200 || first.reason !== 'called') {
          throw new Error(`cache-filling call failed: ${first.status} ${first.text}`);
        }
        const second = await post(url, BODY);
        if (second.status !== 200 || second.reason !== 'response_cache') {
          throw new Error(`expected a response-cache hit, got ${second.status} ${second.text}`);
        }
        log(`cache filled (1 upstream call); repeat answered with metadata.reason="response_cache"`);
        return {
          load: {
            url,
            method: 'POST',
            headers: JSON_HEADERS,
            body: BODY,
            expectBodyContains: '"reason":"response_cache"',
          },
          async verify() {
            const upstreamCalls = (await fake.stats())['ai-call']?.calls ?? 0;
            log(`fake upstream received ${upstreamCalls} call(s) in total (expected exactly 1)`);
            if (upstreamCalls !== 1)
              throw new Error(`the fake upstream received ${upstreamCalls} calls instead of 1`);
            return { upstreamCalls, redisPrefix: bastion.prefix };
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

/**
 * Bastion's OpenAI-compatible door, POST /v1/chat/completions (non-streaming), answered from the response
 * cache: one call fills the cache, then the same body is repeated with `Authorization: Bearer <key>`.
 */
import { startFakeDeepSeekWorker } from '../fake-deepseek.js';
import { JSON_HEADERS, post, startBastion, UPSTREAM_KEY } from './bastion-app.js';
import type { BenchTarget, Log, StartedTarget } from './target.js';

const BODY = JSON.stringify({
  model: 'deepseek-v4-flash',
  messages: [
    { role: 'system', content: 'You are the market-regime analyst of a fleet of crypto trading bots.' },
    { role: 'user', content: 'Analyze current BTC market regime. Context: {"price":45000}' },
  ],
  max_tokens: 256,
  temperature: 0,
});

export function bastionOpenAiCacheHit(redisUrl: string): BenchTarget {
  return {
    id: 'bastion-openai-cache-hit',
    label: 'Bastion POST /v1/chat/completions (cache hit)',
    async start(log: Log): Promise<StartedTarget> {
      const fake = await startFakeDeepSeekWorker({ apiKey: UPSTREAM_KEY });
      const bastion = await startBastion(redisUrl, fake.baseUrl('openai-door'), log).catch(
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
        const url = `${bastion.url}/v1/chat/completions`;
        const first = await post(url, BODY);
        if (first.status !== 200 || first.headers.get('x-bastion-cache') !== 'MISS') {
          throw new Error(`cache-filling call failed: ${first.status} ${first.text}`);
        }
        const second = await post(url, BODY);
        if (second.status !== 200 || second.headers.get('x-bastion-cache') !== 'HIT') {
          throw new Error(
            `expected x-bastion-cache: HIT, got ${second.status} ${second.headers.get('x-bastion-cache')}`,
          );
        }
        log('cache filled (1 upstream call); repeat answered with x-bastion-cache: HIT');
        return {
          load: {
            url,
            method: 'POST',
            headers: JSON_HEADERS,
            body: BODY,
            expectBodyContains: '"object":"chat.completion"',
          },
          async verify() {
            // Every hit is also a response with the cached completion; the upstream saw the first call only.
            const upstreamCalls = (await fake.stats())['openai-door']?.calls ?? 0;
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

/**
 * Bastion answering from its response cache: the real app (createApp) against the fake DeepSeek, one call to
 * fill the cache, then the same body repeated — through POST /ai/call (b) and through the OpenAI-compatible
 * door, POST /v1/chat/completions non-streaming (c).
 */
import { bastionOnFake, JSON_HEADERS, post, type HttpAnswer } from './bastion-app.js';
import type { BenchTarget, Log, StartedTarget } from './target.js';

interface CacheHitPath {
  id: string;
  label: string;
  path: string;
  body: unknown;
  /** How the first answer shows it called the upstream and the second that it came from the cache. */
  filled: (a: HttpAnswer) => boolean;
  hit: (a: HttpAnswer) => boolean;
  /** What the fill and the hit say, for the log. */
  shows: string;
  expectBodyContains: string;
}

function cacheHitTarget(redisUrl: string, spec: CacheHitPath): BenchTarget {
  const body = JSON.stringify(spec.body);
  return {
    id: spec.id,
    label: spec.label,
    start: (log: Log): Promise<StartedTarget> =>
      bastionOnFake(redisUrl, spec.id, log, {}, async (bastion, upstreamCalls, closeUpstream) => {
        const url = `${bastion.url}${spec.path}`;
        const first = await post(url, body);
        if (first.status !== 200 || !spec.filled(first)) {
          throw new Error(`cache-filling call failed: ${first.status} ${first.text.slice(0, 300)}`);
        }
        const second = await post(url, body);
        if (second.status !== 200 || !spec.hit(second)) {
          throw new Error(`expected a response-cache hit, got ${second.status} ${second.text.slice(0, 300)}`);
        }
        const calls = await upstreamCalls();
        if (calls !== 1) throw new Error(`the fake upstream received ${calls} calls instead of 1`);
        // Hits need no upstream: it is closed, so the RSS after load is Bastion's alone (the fake's worker
        // thread is not counted) and any request that missed the cache would fail the run.
        await closeUpstream();
        log(`cache filled (1 upstream call); repeat answered with ${spec.shows}; fake upstream closed`);
        return {
          load: {
            url,
            method: 'POST',
            headers: JSON_HEADERS,
            body,
            expectBodyContains: spec.expectBodyContains,
          },
          verify() {
            // Every request of the load answered 2xx (measure.ts checks) with the upstream closed: all were hits.
            log(`fake upstream received 1 call before the load and was closed during it`);
            return Promise.resolve({ upstreamCalls: calls, redisPrefix: bastion.prefix });
          },
        };
      }),
  };
}

export const bastionCacheHit = (redisUrl: string): BenchTarget =>
  cacheHitTarget(redisUrl, {
    id: 'bastion-cache-hit',
    label: 'Bastion POST /ai/call (cache hit)',
    path: '/ai/call',
    body: {
      agent_type: 'market_regime',
      prompt: 'Analyze current BTC market regime',
      symbol: 'BTC/USDT',
      context: { price: 45000 },
    },
    filled: (a) => a.reason === 'called',
    hit: (a) => a.reason === 'response_cache',
    shows: 'metadata.reason="response_cache"',
    expectBodyContains: '"reason":"response_cache"',
  });

export const bastionOpenAiCacheHit = (redisUrl: string): BenchTarget =>
  cacheHitTarget(redisUrl, {
    id: 'bastion-openai-cache-hit',
    label: 'Bastion POST /v1/chat/completions (cache hit)',
    path: '/v1/chat/completions',
    body: {
      model: 'deepseek-v4-flash',
      messages: [
        { role: 'system', content: 'You are the market-regime analyst of a fleet of crypto trading bots.' },
        { role: 'user', content: 'Analyze current BTC market regime. Context: {"price":45000}' },
      ],
      max_tokens: 256,
      temperature: 0,
    },
    filled: (a) => a.headers.get('x-bastion-cache') === 'MISS',
    hit: (a) => a.headers.get('x-bastion-cache') === 'HIT',
    shows: 'x-bastion-cache: HIT',
    expectBodyContains: '"object":"chat.completion"',
  });

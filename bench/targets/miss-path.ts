/**
 * The cache-miss path and its reference, under the same load:
 * - upstream-direct: the fake DeepSeek (answering after a fixed delay) called directly with the chat body
 *   Bastion would send it;
 * - bastion-miss: Bastion's POST /ai/call, every request distinct (a counter in the prompt), for an agent
 *   with no sampling strategy (ALWAYS), so no cache hit, no coalescing and no sampling: each request goes
 *   through validation, cache lookup, budget reservation, the upstream call, cache store and ledger.
 * Bastion's own added latency = bastion-miss − upstream-direct, at p50 and p99.
 */
import { startFakeDeepSeekWorker } from '../fake-deepseek.js';
import { CostStatsService } from '../../src/cost-monitoring/cost-stats.service.js';
import { bastionOnFake, JSON_HEADERS, post, UPSTREAM_KEY } from './bastion-app.js';
import type { LoadSpec } from '../measure.js';
import type { BenchTarget, Log, StartedTarget } from './target.js';

export const UPSTREAM_DELAY_MS = 20;
/** Replaced by a counter in every request, so no two requests are the same. */
export const MISS_PLACEHOLDER = '__SEQ__';
const SYSTEM_PROMPT = 'You are the market-regime analyst of a fleet of crypto trading bots.';
const PROMPT = `Analyze the BTC market regime for request ${MISS_PLACEHOLDER}.`;
const MAX_TOKENS = 256;

/** The chat body Bastion sends upstream for the /ai/call below (messages, max_tokens, temperature). */
export const MISS_CHAT_BODY = JSON.stringify({
  messages: [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: PROMPT },
  ],
  max_tokens: MAX_TOKENS,
  temperature: 0,
  model: 'deepseek-v4-flash',
  stream: false,
});

const UPSTREAM_HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${UPSTREAM_KEY}` };

/** The load of a miss-path target that speaks the upstream's own API: the chat body, every request distinct. */
export function chatBodyLoad(url: string, headers: Record<string, string> = UPSTREAM_HEADERS): LoadSpec {
  return {
    url,
    method: 'POST',
    headers,
    body: MISS_CHAT_BODY,
    expectBodyContains: '"object":"chat.completion"',
    uniquePlaceholder: MISS_PLACEHOLDER,
  };
}

export function upstreamDirect(): BenchTarget {
  return {
    id: 'upstream-direct',
    label: `fake upstream called directly (${UPSTREAM_DELAY_MS} ms delay)`,
    async start(log: Log): Promise<StartedTarget> {
      const fake = await startFakeDeepSeekWorker({ apiKey: UPSTREAM_KEY, latencyMs: UPSTREAM_DELAY_MS });
      log(`fake DeepSeek at ${fake.url}, answering after ${UPSTREAM_DELAY_MS} ms`);
      return {
        load: chatBodyLoad(`${fake.baseUrl('direct')}/chat/completions`),
        async verify() {
          const calls = (await fake.stats()).direct?.calls ?? 0;
          return { upstreamCalls: calls };
        },
        stop: () => fake.close(),
      };
    },
  };
}

export function bastionMiss(redisUrl: string): BenchTarget {
  const body = JSON.stringify({
    agent_type: 'bench_miss',
    prompt: PROMPT,
    system_prompt: SYSTEM_PROMPT,
    symbol: 'BTC/USDT',
    max_tokens: MAX_TOKENS,
  });
  return {
    id: 'bastion-miss',
    label: `Bastion POST /ai/call (cache miss → upstream, ${UPSTREAM_DELAY_MS} ms delay)`,
    start: (log: Log): Promise<StartedTarget> =>
      bastionOnFake(
        redisUrl,
        'miss',
        log,
        { latencyMs: UPSTREAM_DELAY_MS },
        async (bastion, upstreamCalls) => {
          const url = `${bastion.url}/ai/call`;
          const probe = await post(url, body.split(MISS_PLACEHOLDER).join('probe'));
          if (probe.status !== 200 || probe.reason !== 'called') {
            throw new Error(`probe call failed: ${probe.status} ${probe.text}`);
          }
          log(
            `probe answered with metadata.reason="called"; agent bench_miss has no sampling strategy (ALWAYS)`,
          );
          return {
            load: {
              url,
              method: 'POST',
              headers: JSON_HEADERS,
              body,
              expectBodyContains: '"reason":"called"',
              uniquePlaceholder: MISS_PLACEHOLDER,
            },
            async verify() {
              // Requests still in flight when the load stopped finish their upstream call first.
              await new Promise((resolve) => setTimeout(resolve, 500));
              const stats = await bastion.app.get(CostStatsService).stats();
              const calls = await upstreamCalls();
              const reasons = stats.reasons;
              const shortcuts =
                (reasons.response_cache ?? 0) + (reasons.coalesced ?? 0) + (reasons.sampled_out ?? 0);
              log(
                `Bastion answered ${reasons.called ?? 0} requests with an upstream call (${shortcuts} otherwise); ` +
                  `the fake upstream received ${calls}`,
              );
              if (shortcuts > 0)
                throw new Error(
                  `${shortcuts} requests did not take the miss path: ${JSON.stringify(reasons)}`,
                );
              if (calls !== stats.overall.total_calls) {
                throw new Error(
                  `ledger counts ${stats.overall.total_calls} calls, the fake received ${calls}`,
                );
              }
              return { upstreamCalls: calls, called: reasons.called ?? 0, redisPrefix: bastion.prefix };
            },
          };
        },
      ),
  };
}

import { readUsage, StreamUsageTracker } from './usage.js';

describe('readUsage', () => {
  it('reads DeepSeek hit/miss counts', () => {
    expect(
      readUsage({
        prompt_tokens: 900,
        completion_tokens: 120,
        prompt_tokens_details: { cached_tokens: 832 },
        prompt_cache_hit_tokens: 832,
        prompt_cache_miss_tokens: 68,
      }),
    ).toEqual({ promptTokens: 900, cachedPromptTokens: 832, completionTokens: 120 });
  });

  it('derives hits from the miss count when only misses are given', () => {
    expect(
      readUsage({ prompt_tokens: 100, completion_tokens: 5, prompt_cache_miss_tokens: 36 })
        ?.cachedPromptTokens,
    ).toBe(64);
  });

  it('reads OpenAI cached_tokens as a subset of prompt tokens', () => {
    expect(
      readUsage({
        prompt_tokens: 2006,
        completion_tokens: 300,
        prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
      }),
    ).toEqual({ promptTokens: 2006, cachedPromptTokens: 1920, completionTokens: 300 });
  });

  it('treats vLLM null details as no cache billing, and an absent count as unknown', () => {
    expect(
      readUsage({ prompt_tokens: 10, completion_tokens: 2, prompt_tokens_details: null })?.cachedPromptTokens,
    ).toBe(0);
    expect(readUsage({ prompt_tokens: 10, completion_tokens: 2 })?.cachedPromptTokens).toBeNull();
    expect(readUsage({ prompt_tokens: 10 })?.completionTokens).toBeNull();
    expect(readUsage(null)).toBeNull();
  });

  it('keeps the last non-null usage of a stream, wherever it rides', () => {
    const tracker = new StreamUsageTracker();
    tracker.observe({ choices: [{ delta: { content: 'a' } }], usage: null });
    tracker.observe({
      choices: [{ delta: {}, finish_reason: 'stop' }],
      usage: { prompt_tokens: 11, completion_tokens: 3 },
    });
    tracker.observe({ choices: [], usage: null });
    expect(tracker.usage).toEqual({ promptTokens: 11, cachedPromptTokens: null, completionTokens: 3 });
  });
});

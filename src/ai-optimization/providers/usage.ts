/**
 * Token usage read from every provider's shape. A count the provider did not report is null (unknown),
 * never 0, so it cannot silently lower a cost.
 */
export interface TokenUsage {
  promptTokens: number | null;
  cachedPromptTokens: number | null;
  completionTokens: number | null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const count = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;

/**
 * DeepSeek: `prompt_cache_hit_tokens` / `prompt_cache_miss_tokens` (and a mirrored `cached_tokens`);
 * OpenAI: `prompt_tokens_details.cached_tokens` (a subset of prompt_tokens);
 * vLLM: `prompt_tokens_details` is null unless the server runs with --enable-prompt-tokens-details, and
 * then `cached_tokens` is null on a miss.
 */
export function readUsage(raw: unknown): TokenUsage | null {
  if (!isRecord(raw)) return null;
  const promptTokens = count(raw.prompt_tokens);
  const completionTokens = count(raw.completion_tokens);
  const details = isRecord(raw.prompt_tokens_details) ? raw.prompt_tokens_details : undefined;
  let cached = count(raw.prompt_cache_hit_tokens) ?? count(details?.cached_tokens);
  if (cached === null && count(raw.prompt_cache_miss_tokens) !== null && promptTokens !== null) {
    cached = promptTokens - (raw.prompt_cache_miss_tokens as number);
  }
  if (cached === null && raw.prompt_tokens_details === null) {
    // vLLM without prompt-token details: prefix caching is not reported; nothing is billed at a cache rate.
    cached = 0;
  }
  return { promptTokens, cachedPromptTokens: cached, completionTokens };
}

/** Last non-null usage of a stream: providers put it on the finish chunk or on an extra `choices: []` chunk. */
export class StreamUsageTracker {
  private last: unknown = null;
  observe(chunk: unknown): void {
    if (isRecord(chunk) && isRecord(chunk.usage)) this.last = chunk.usage;
  }
  get raw(): unknown {
    return this.last;
  }
  get usage(): TokenUsage | null {
    return readUsage(this.last);
  }
}

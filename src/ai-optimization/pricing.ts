import { Inject, Injectable, Logger } from '@nestjs/common';
import { calcPrice } from '@pydantic/genai-prices';
import type { ModelEntry, PriceOverride } from '../config/yaml-config.js';
import type { TokenUsage } from './providers/usage.js';

/** USD per million tokens in force at one moment. */
export interface Rates {
  inputMtok: number;
  cacheReadMtok: number;
  outputMtok: number;
  source: 'config' | 'genai-prices';
}

export interface Priced {
  /** What the call cost, cached tokens at the cache rate; null when the price or a count is unknown. */
  costUsd: number | null;
  /** What the same usage would have cost without the provider's prompt cache. */
  uncachedCostUsd: number | null;
}

export const PRICE_LOOKUP = Symbol('PRICE_LOOKUP');
export type PriceLookup = (model: string, providerId: string, at: Date) => Rates | null;

/** Rates from @pydantic/genai-prices, which knows DeepSeek's cache-hit price and peak hours. */
export const genaiPriceLookup: PriceLookup = (model, providerId, at) => {
  const result = calcPrice({ input_tokens: 1, output_tokens: 1 }, model, { providerId, timestamp: at });
  if (result === null) return null;
  const p = result.model_price;
  const input = typeof p.input_mtok === 'number' ? p.input_mtok : null;
  const output = typeof p.output_mtok === 'number' ? p.output_mtok : null;
  if (input === null || output === null) return null; // tiered or unusual pricing: treat as unknown
  const cacheRead = typeof p.cache_read_mtok === 'number' ? p.cache_read_mtok : input;
  return { inputMtok: input, cacheReadMtok: cacheRead, outputMtok: output, source: 'genai-prices' };
};

const fromOverride = (p: PriceOverride): Rates => ({
  inputMtok: p.input_mtok,
  cacheReadMtok: p.cache_read_mtok ?? p.input_mtok,
  outputMtok: p.output_mtok,
  source: 'config',
});

/** Prices usage exactly: cached prompt tokens at the cache rate, the rest at the input rate. */
@Injectable()
export class PriceBook {
  private readonly logger = new Logger(PriceBook.name);
  private readonly warned = new Set<string>();
  /** Rates by model and UTC minute: looked up once a minute, not on every request (prices change by the minute at most). */
  private readonly memo = new Map<string, Rates | null>();

  constructor(@Inject(PRICE_LOOKUP) private readonly lookup: PriceLookup) {}

  rates(model: ModelEntry, upstreamModel: string, at: Date): Rates | null {
    if (model.price) return fromOverride(model.price);
    // A self-hosted model has no vendor price; never borrow one from a vendor model of the same name.
    if (model.provider === 'vllm') return null;
    const key = `${model.provider}\u0000${upstreamModel}\u0000${Math.floor(at.getTime() / 60_000)}`;
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    const rates = this.lookup(upstreamModel, model.provider, at);
    if (this.memo.size >= 1000) this.memo.clear();
    this.memo.set(key, rates);
    if (rates === null && !this.warned.has(model.name)) {
      this.warned.add(model.name);
      this.logger.warn(
        `No price known for model ${model.name}; its calls are recorded as unpriced (cost null)`,
      );
    }
    return rates;
  }

  price(rates: Rates | null, usage: TokenUsage | null): Priced {
    if (rates === null || usage === null || usage.promptTokens === null || usage.completionTokens === null) {
      return { costUsd: null, uncachedCostUsd: null };
    }
    const cached = Math.min(usage.cachedPromptTokens ?? 0, usage.promptTokens);
    const output = usage.completionTokens * rates.outputMtok;
    const costUsd =
      ((usage.promptTokens - cached) * rates.inputMtok + cached * rates.cacheReadMtok + output) / 1e6;
    const uncachedCostUsd = (usage.promptTokens * rates.inputMtok + output) / 1e6;
    return { costUsd, uncachedCostUsd };
  }

  /** Upper-bound estimate used for budget reservations: every prompt token uncached, max_tokens of output. */
  estimate(rates: Rates | null, promptTokens: number, maxTokens: number): number | null {
    if (rates === null) return null;
    return (promptTokens * rates.inputMtok + maxTokens * rates.outputMtok) / 1e6;
  }
}

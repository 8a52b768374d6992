import { calcPrice } from '@pydantic/genai-prices';
import type { ModelEntry } from '../config/yaml-config.js';
import { fromPico, toPico } from '../common/money.js';
import { genaiPriceLookup, PriceBook } from './pricing.js';

const entry = (over: Partial<ModelEntry> = {}): ModelEntry => ({
  name: 'deepseek-v4-flash',
  provider: 'deepseek',
  upstreamModel: undefined,
  price: undefined,
  fallbacks: [],
  ...over,
});

describe('PriceBook', () => {
  const book = new PriceBook(genaiPriceLookup);
  const usage = { promptTokens: 10_000, cachedPromptTokens: 8_192, completionTokens: 500 };

  it('prices cached prompt tokens at the cache rate, equal to genai-prices', () => {
    const at = new Date('2026-11-22T12:00:00Z');
    const priced = book.price(book.rates(entry(), 'deepseek-v4-flash', at), usage);
    const reference = calcPrice(
      { input_tokens: 10_000, cache_read_tokens: 8_192, output_tokens: 500 },
      'deepseek-v4-flash',
      {
        providerId: 'deepseek',
        timestamp: at,
      },
    );
    expect(Math.abs((priced.costUsd as number) - (reference?.total_price as number))).toBeLessThan(1e-12);
    expect(priced.uncachedCostUsd).toBeGreaterThan(priced.costUsd as number);
  });

  it("follows DeepSeek's peak hours (01:00–04:00 UTC costs twice off-peak)", () => {
    const offPeak = book.price(
      book.rates(entry(), 'deepseek-v4-flash', new Date('2026-11-23T12:00:00Z')),
      usage,
    );
    const peak = book.price(
      book.rates(entry(), 'deepseek-v4-flash', new Date('2026-11-23T02:00:00Z')),
      usage,
    );
    expect(Math.abs((peak.costUsd as number) - 2 * (offPeak.costUsd as number))).toBeLessThan(1e-12);
  });

  it('uses the models.yaml override when present', () => {
    const rates = book.rates(
      entry({ price: { input_mtok: 1, cache_read_mtok: 0.1, output_mtok: 2 } }),
      'x',
      new Date(),
    );
    expect(book.price(rates, usage).costUsd).toBeCloseTo((1808 * 1 + 8192 * 0.1 + 500 * 2) / 1e6, 15);
  });

  it('reports unknown as null, never $0', () => {
    expect(
      book.rates(entry({ name: 'mystery', provider: 'openai' }), 'mystery-model-x', new Date()),
    ).toBeNull();
    expect(book.price(null, usage).costUsd).toBeNull();
    expect(book.rates(entry({ provider: 'vllm' }), 'gpt-4o-mini', new Date())).toBeNull(); // self-hosted never borrows a vendor price
    const rates = book.rates(entry(), 'deepseek-v4-flash', new Date());
    expect(
      book.price(rates, { promptTokens: 10, cachedPromptTokens: 0, completionTokens: null }).costUsd,
    ).toBeNull();
  });

  it('counts money in exact picodollars', () => {
    const parts = [0.000123, 0.000456789, 0.1];
    const sum = parts.reduce((s, p) => s + toPico(p), 0n);
    expect(fromPico(sum)).toBe(0.100579789);
  });
});

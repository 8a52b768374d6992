import { Logger } from '@nestjs/common';
import {
  chainOf,
  FakeBudgetCounters,
  fixedPrices,
  NOON,
  registry,
} from '../../../test/support/pipeline-fakes.js';
import type { AdmitPlan } from './admit.stage.js';
import { SettleStage } from './settle.stage.js';

// The registry and the price book log on construction and on an unpriced model: not wanted in test output.
Logger.overrideLogger(false);

const COUNTERS = ['spend:day:2026-11-22:global', 'spend:month:2026-11:global'];

const admitted: AdmitPlan = {
  reservation: {
    requestId: 'req-7',
    amountPico: 490_000_000n,
    counters: COUNTERS.map((key) => ({ key, limitPico: null })),
  },
  windows: [],
  settings: {
    daily_budget_usd: null,
    monthly_budget_usd: null,
    enforcement: 'soft',
    include_fixed_costs: false,
    agents: {},
    tenants: {},
  },
};

function settle(prices = fixedPrices().prices) {
  const counters = new FakeBudgetCounters();
  return { stage: new SettleStage(prices, counters.asRepository()), counters };
}

const flash = chainOf('deepseek-v4-flash')[0];

describe('SettleStage', () => {
  describe('the price of a call', () => {
    it('counts cached prompt tokens at the cache rate (DeepSeek usage)', () => {
      const { stage } = settle();
      const priced = stage.price(
        flash,
        {
          prompt_tokens: 1000,
          completion_tokens: 200,
          prompt_cache_hit_tokens: 600,
          prompt_cache_miss_tokens: 400,
        },
        NOON,
      );
      // 400 × $0.28 + 600 × $0.028 + 200 × $0.42, per million tokens
      expect(priced.costUsd).toBeCloseTo(212.8e-6, 15);
      expect(priced.uncachedCostUsd).toBeCloseTo(364e-6, 15);
      expect(priced.usage).toEqual({ promptTokens: 1000, cachedPromptTokens: 600, completionTokens: 200 });
    });

    it('counts cached prompt tokens at the cache rate (OpenAI usage)', () => {
      const { stage } = settle();
      const priced = stage.price(
        chainOf('gpt-4o-mini')[0],
        { prompt_tokens: 1000, completion_tokens: 200, prompt_tokens_details: { cached_tokens: 600 } },
        NOON,
      );
      expect(priced.costUsd).toBeCloseTo(212.8e-6, 15);
    });

    it("uses the rates of the model that answered, at the call's time", () => {
      const { prices, asked } = fixedPrices();
      settle(prices).stage.price(
        chainOf('gpt-4o-mini')[0],
        { prompt_tokens: 1, completion_tokens: 1 },
        Date.parse('2026-11-22T02:30:00Z'),
      );
      expect(asked).toEqual([
        { model: 'gpt-4o-mini', provider: 'openai', at: new Date('2026-11-22T02:30:00Z') },
      ]);
    });

    it('is unknown (null, never $0) when the upstream reported no usage or no completion count', () => {
      const { stage } = settle();
      expect(stage.price(flash, undefined, NOON)).toEqual({
        costUsd: null,
        uncachedCostUsd: null,
        usage: null,
      });
      expect(stage.price(flash, { prompt_tokens: 1000 }, NOON).costUsd).toBeNull();
    });

    it('is unknown when the model has no known price', () => {
      expect(
        settle(fixedPrices(null).prices).stage.price(flash, { prompt_tokens: 10, completion_tokens: 5 }, NOON)
          .costUsd,
      ).toBeNull();
      const selfHosted = registry({ BASTION_MODEL_URL: 'http://127.0.0.1:9' }).chain('bastion-model')[0];
      expect(
        settle().stage.price(selfHosted, { prompt_tokens: 10, completion_tokens: 5 }, NOON).costUsd,
      ).toBeNull();
    });
  });

  describe('the settle on the budget counters', () => {
    it('replaces the reservation with the exact cost, in picodollars, on the counters it was made on', () => {
      const { stage, counters } = settle();
      const priced = stage.price(
        flash,
        { prompt_tokens: 1000, completion_tokens: 200, prompt_cache_hit_tokens: 600 },
        NOON,
      );
      stage.settle(admitted, priced.costUsd);
      expect(counters.settles).toEqual([{ requestId: 'req-7', counters: COUNTERS, costPico: 212_800_000n }]);
    });

    it('keeps the reservation (an upper bound) when the cost is unknown', () => {
      const { stage, counters } = settle();
      stage.settle(admitted, null);
      expect(counters.settles).toEqual([{ requestId: 'req-7', counters: COUNTERS, costPico: 'keep' }]);
    });

    it('gives the whole reservation back on a release (the call failed or was not made)', () => {
      const { stage, counters } = settle();
      stage.release(admitted);
      expect(counters.settles).toEqual([{ requestId: 'req-7', counters: COUNTERS, costPico: 0n }]);
    });
  });
});

import { Logger } from '@nestjs/common';
import {
  appConfig,
  chainOf,
  FakeBudgetCounters,
  FakeSettings,
  fixedPrices,
  meteredCall,
  NOON,
  RATES,
  registry,
  FakeRateLimits,
} from '../../../test/support/pipeline-fakes.js';
import { BudgetService, type BudgetSettings } from '../../cost-monitoring/budget.service.js';
import { PriceBook, type Rates } from '../pricing.js';
import type { ResolvedModel } from '../providers/provider-registry.js';
import { AdmitStage } from './admit.stage.js';
import type { MeteredCall } from './metered-call.js';

// The registry and the price book log on construction and on an unpriced model: not wanted in test output.
Logger.overrideLogger(false);

const COUNTERS = [
  'spend:day:2026-11-22:global',
  'spend:month:2026-11:global',
  'spend:day:2026-11-22:agent:market_regime',
  'spend:month:2026-11:agent:market_regime',
  'spend:day:2026-11-22:tenant:default',
  'spend:month:2026-11:tenant:default',
];

interface Setup {
  /** Environment budgets (DAILY_BUDGET_USD, BUDGET_ENFORCEMENT, CRITICAL_OVERDRAW_PERCENT, ...). */
  env?: Record<string, string>;
  /** Budgets changed at run time (PUT /ai-cost/budgets), as stored. */
  runtime?: Partial<BudgetSettings>;
  prices?: PriceBook;
}

function admit(setup: Setup = {}): AdmitStage {
  const settings = new FakeSettings({
    version: '1',
    sampling: {},
    eventThresholds: null,
    budgets: setup.runtime ?? null,
  });
  const budgets = new BudgetService(
    settings.asRepository(),
    new FakeBudgetCounters().asRepository(),
    appConfig(setup.env),
  );
  return new AdmitStage(budgets, setup.prices ?? fixedPrices().prices, new FakeRateLimits().asRepository());
}

const plan = (
  stage: AdmitStage,
  over: Partial<MeteredCall> = {},
  promptTokens = 1000,
  chain: ResolvedModel[] = chainOf('deepseek-v4-flash'),
) => stage.plan(meteredCall({ maxTokens: 500, ...over }), chain[0], promptTokens, 'req-1', NOON);

describe('AdmitStage', () => {
  describe('the reservation', () => {
    it('is every prompt token uncached plus max_tokens of output, in exact picodollars', () => {
      // (1000 × $0.28 + 500 × $0.42) per million tokens = $0.00049
      const r = plan(admit(), { maxTokens: 500 }, 1000).reservation;
      expect(r.amountPico).toBe(490_000_000n);
      expect(r.requestId).toBe('req-1');
    });

    it("is priced at the primary model's rates in force at the call's time, not a fallback's", () => {
      const asked: string[] = [];
      const dearFallback: Rates = { ...RATES, inputMtok: 100, outputMtok: 100 };
      const prices = new PriceBook((model, provider, at) => {
        asked.push(`${provider}/${model}@${at.toISOString()}`);
        return model === 'gpt-4o-mini' ? dearFallback : RATES;
      });
      const r = plan(admit({ prices }), {}, 1000, chainOf('deepseek-v4-flash')).reservation;
      expect(r.amountPico).toBe(490_000_000n);
      expect(asked).toEqual(['deepseek/deepseek-v4-flash@2026-11-22T12:00:00.000Z']);
    });

    it('grows with the output the call may produce', () => {
      const stage = admit();
      const small = plan(stage, { maxTokens: 100 }).reservation.amountPico;
      const large = plan(stage, { maxTokens: 4000 }).reservation.amountPico;
      // 3900 more output tokens at $0.42 per million
      expect(large - small).toBe(1_638_000_000n);
    });

    it('is 0 for a model without a known price, whose calls cannot be held to a money budget', () => {
      const unknown = admit({ prices: fixedPrices(null).prices, env: { BUDGET_ENFORCEMENT: 'hard' } });
      expect(plan(unknown).reservation.amountPico).toBe(0n);
      const selfHosted = registry({ BASTION_MODEL_URL: 'http://127.0.0.1:9' }).chain('bastion-model');
      expect(plan(admit(), {}, 1000, selfHosted).reservation.amountPico).toBe(0n);
    });

    it('is made on the global, the agent and the tenant windows of the day and the month of the call', () => {
      expect(plan(admit()).reservation.counters.map((c) => c.key)).toEqual(COUNTERS);
      const other = admit().plan(
        meteredCall({ agent: 'signal_validator' }),
        chainOf('deepseek-v4-flash')[0],
        10,
        'req-2',
        Date.parse('2026-12-01T00:00:00Z'),
      );
      expect(other.reservation.counters.map((c) => c.key)).toEqual([
        'spend:day:2026-12-01:global',
        'spend:month:2026-12:global',
        'spend:day:2026-12-01:agent:signal_validator',
        'spend:month:2026-12:agent:signal_validator',
        'spend:day:2026-12-01:tenant:default',
        'spend:month:2026-12:tenant:default',
      ]);
    });
  });

  describe('the limits', () => {
    const limits = (stage: AdmitStage, over: Partial<MeteredCall> = {}) =>
      plan(stage, over).reservation.counters.map((c) => c.limitPico);

    it('apply only under hard enforcement', () => {
      const env = { DAILY_BUDGET_USD: '10', MONTHLY_BUDGET_USD: '200' };
      const none = [null, null, null, null, null, null];
      expect(limits(admit({ env: { ...env, BUDGET_ENFORCEMENT: 'soft' } }))).toEqual(none);
      expect(limits(admit({ env: { ...env, BUDGET_ENFORCEMENT: 'off' } }))).toEqual(none);
      expect(limits(admit({ env: { ...env, BUDGET_ENFORCEMENT: 'hard' } }))).toEqual([
        10_000_000_000_000n,
        200_000_000_000_000n,
        null,
        null,
        null,
        null,
      ]);
    });

    it("hold an agent to its own budgets, set at run time, and the run-time budgets over the environment's", () => {
      const stage = admit({
        env: { DAILY_BUDGET_USD: '10', BUDGET_ENFORCEMENT: 'soft' },
        runtime: {
          enforcement: 'hard',
          daily_budget_usd: 2,
          agents: { market_regime: { daily_budget_usd: 0.5, monthly_budget_usd: 5 } },
        },
      });
      expect(limits(stage)).toEqual([
        2_000_000_000_000n,
        null,
        500_000_000_000n,
        5_000_000_000_000n,
        null,
        null,
      ]);
      expect(limits(stage, { agent: 'signal_validator' })).toEqual([
        2_000_000_000_000n,
        null,
        null,
        null,
        null,
        null,
      ]);
    });

    it('let a CRITICAL event overdraw a hard budget by CRITICAL_OVERDRAW_PERCENT, and no other call', () => {
      const stage = admit({
        env: { DAILY_BUDGET_USD: '10', BUDGET_ENFORCEMENT: 'hard', CRITICAL_OVERDRAW_PERCENT: '25' },
        runtime: { agents: { market_regime: { daily_budget_usd: 0.5, monthly_budget_usd: null } } },
      });
      expect(limits(stage, { critical: true })).toEqual([
        12_500_000_000_000n,
        null,
        625_000_000_000n,
        null,
        null,
        null,
      ]);
      expect(limits(stage, { critical: false })).toEqual([
        10_000_000_000_000n,
        null,
        500_000_000_000n,
        null,
        null,
        null,
      ]);
    });

    it('hold a tenant to its budgets and a managed key to its own, on their own counters', () => {
      const stage = admit({
        env: { BUDGET_ENFORCEMENT: 'hard' },
        runtime: { tenants: { alpha: { daily_budget_usd: 3, monthly_budget_usd: null } } },
      });
      const key = {
        id: 'k1',
        name: 'bot one',
        rpm: null,
        tpm: null,
        dailyBudgetUsd: 0.25,
        monthlyBudgetUsd: 4,
        agents: null,
        models: null,
      };
      const p = plan(stage, { tenant: 'alpha', key });
      expect(p.reservation.counters.slice(4)).toEqual([
        { key: 'spend:day:2026-11-22:tenant:alpha', limitPico: 3_000_000_000_000n },
        { key: 'spend:month:2026-11:tenant:alpha', limitPico: null },
        { key: 'spend:day:2026-11-22:key:k1', limitPico: 250_000_000_000n },
        { key: 'spend:month:2026-11:key:k1', limitPico: 4_000_000_000_000n },
      ]);
      expect(stage.refusal(p, 6)).toBe(
        'The daily budget of key k1 ($0.25) would be exceeded by this call (enforcement: hard)',
      );
    });
  });

  describe('the refusal', () => {
    const stage = admit({
      env: { BUDGET_ENFORCEMENT: 'hard', DAILY_BUDGET_USD: '10', MONTHLY_BUDGET_USD: '200' },
      runtime: { agents: { market_regime: { daily_budget_usd: 0.5, monthly_budget_usd: null } } },
    });

    it('names the window that would be exceeded and its budget', () => {
      const p = plan(stage);
      expect(stage.refusal(p, 0)).toBe(
        'The daily budget of $10 would be exceeded by this call (enforcement: hard)',
      );
      expect(stage.refusal(p, 1)).toBe(
        'The monthly budget of $200 would be exceeded by this call (enforcement: hard)',
      );
    });

    it("names an agent's window once, with the agent and its budget", () => {
      const message = stage.refusal(plan(stage), 2);
      expect(message).toContain('daily budget of agent market_regime');
      expect(message).toContain('$0.5');
      expect(message.match(/budget/g)).toHaveLength(1);
    });
  });

  describe('when the budget store does not answer', () => {
    it('refuses under a hard budget, which cannot be checked', () => {
      const stage = admit({ env: { BUDGET_ENFORCEMENT: 'hard', DAILY_BUDGET_USD: '10' } });
      expect(stage.whenStoreDown(plan(stage))).toBe(
        'The budget store (Redis) is unreachable and the budget is hard: the call is refused',
      );
    });

    it('goes on under soft and off enforcement', () => {
      for (const enforcement of ['soft', 'off']) {
        const stage = admit({ env: { BUDGET_ENFORCEMENT: enforcement, DAILY_BUDGET_USD: '10' } });
        expect(stage.whenStoreDown(plan(stage))).toBeNull();
      }
    });

    it('refuses when a hard budget was set at run time, though the environment says soft', () => {
      const stage = admit({ env: { BUDGET_ENFORCEMENT: 'soft' }, runtime: { enforcement: 'hard' } });
      expect(stage.whenStoreDown(plan(stage))).not.toBeNull();
    });
  });
});

import { agentsConfig, FakeSettings, meteredCall } from '../../../test/support/pipeline-fakes.js';
import type { AgentsConfig } from '../../config/yaml-config.js';
import { SamplingService, type SamplingStrategy } from '../sampling/sampling.service.js';
import { GateStage } from './gate.stage.js';
import type { MeteredCall, SamplingInput } from './metered-call.js';

/** The real sampling service, counting how often a strategy was looked up. */
class CountingSampling extends SamplingService {
  lookups = 0;
  override strategyFor(agent: string): SamplingStrategy {
    this.lookups++;
    return super.strategyFor(agent);
  }
}

const AGENTS: AgentsConfig = agentsConfig({
  always_bot: { samplingStrategy: 'ALWAYS' },
  never_bot: { samplingStrategy: 'NEVER' },
  threshold_bot: { samplingStrategy: 'THRESHOLD', samplingConfig: { threshold: 0.6 } },
  periodic_bot: { samplingStrategy: 'PERIODIC', samplingConfig: { interval_seconds: 120 } },
  adaptive_bot: {
    samplingStrategy: 'ADAPTIVE',
    samplingConfig: { min_interval_seconds: 60, max_interval_seconds: 900, volatility_scale: 5 },
  },
  change_bot: { samplingStrategy: 'CHANGE_BASED', samplingConfig: { threshold: 0.15 } },
});

function gate(runtime: Record<string, unknown> = {}) {
  const settings = new FakeSettings({
    version: '1',
    sampling: runtime,
    eventThresholds: null,
    budgets: null,
  });
  const sampling = new CountingSampling(settings.asRepository(), AGENTS);
  return { gate: new GateStage(sampling), sampling };
}

const sampled = (agent: string, input: SamplingInput, over: Partial<MeteredCall> = {}): MeteredCall =>
  meteredCall({ agent, sampling: input, ...over });

describe('GateStage', () => {
  describe('the event interval', () => {
    const { gate: g } = gate();
    it('is planned in milliseconds for a positive min_ai_interval', () => {
      expect(g.plan(meteredCall({ intervalSeconds: 30 })).intervalMs).toBe(30_000);
      expect(g.plan(meteredCall({ intervalSeconds: 0.5 })).intervalMs).toBe(500);
    });
    it('is not planned without an interval, or for an interval of zero or less', () => {
      expect(g.plan(meteredCall({ intervalSeconds: null })).intervalMs).toBeNull();
      expect(g.plan(meteredCall({ intervalSeconds: 0 })).intervalMs).toBeNull();
      expect(g.plan(meteredCall({ intervalSeconds: -5 })).intervalMs).toBeNull();
    });
  });

  describe('the sampling claim of each strategy', () => {
    const { gate: g } = gate();
    it('ALWAYS claims nothing: every call goes through', () => {
      expect(g.plan(sampled('always_bot', { score: 0 })).sampling).toBeNull();
    });
    it('NEVER denies every call', () => {
      expect(g.plan(sampled('never_bot', { score: 1 })).sampling).toEqual({ kind: 'deny' });
    });
    it('THRESHOLD lets a score at or above the threshold through and denies one below (or none)', () => {
      expect(g.plan(sampled('threshold_bot', { score: 0.6 })).sampling).toBeNull();
      expect(g.plan(sampled('threshold_bot', { score: 0.9 })).sampling).toBeNull();
      expect(g.plan(sampled('threshold_bot', { score: 0.59 })).sampling).toEqual({ kind: 'deny' });
      expect(g.plan(sampled('threshold_bot', {})).sampling).toEqual({ kind: 'deny' });
    });
    it('PERIODIC claims its interval', () => {
      expect(g.plan(sampled('periodic_bot', {})).sampling).toEqual({ kind: 'interval', ms: 120_000 });
    });
    it('ADAPTIVE claims the longest interval when calm, the shortest at its volatility scale, between them in between', () => {
      const ms = (input: SamplingInput) => g.plan(sampled('adaptive_bot', input)).sampling;
      expect(ms({ volatility: 0 })).toEqual({ kind: 'interval', ms: 900_000 });
      expect(ms({ volatility: 5 })).toEqual({ kind: 'interval', ms: 60_000 });
      expect(ms({ volatility: 12 })).toEqual({ kind: 'interval', ms: 60_000 });
      expect(ms({ volatility: 2.5 })).toEqual({ kind: 'interval', ms: 480_000 });
      // The volatility may come as a feature instead.
      expect(ms({ features: { volatility: 5 } })).toEqual({ kind: 'interval', ms: 60_000 });
    });
    it('CHANGE_BASED claims its threshold with the features to compare', () => {
      const features = { rsi: 71, adx: 32 };
      expect(g.plan(sampled('change_bot', { features })).sampling).toEqual({
        kind: 'change',
        threshold: 0.15,
        features,
      });
    });
    it('an agent without a configuration is ALWAYS', () => {
      expect(g.plan(sampled('a_bot_of_my_own', { score: 0 })).sampling).toBeNull();
    });
  });

  it('decides with the run-time strategy when one was set, over agents.yaml', () => {
    const { gate: g } = gate({ periodic_bot: { strategy: 'NEVER' } });
    const plan = g.plan(sampled('periodic_bot', {}));
    expect(plan.sampling).toEqual({ kind: 'deny' });
    expect(plan.strategy).toEqual({ strategy: 'NEVER' });
  });

  it('does not consult the strategy at all when the call is not sampled', () => {
    const { gate: g, sampling } = gate();
    const plan = g.plan(meteredCall({ agent: 'never_bot', sampling: null, intervalSeconds: 10 }));
    expect(plan).toEqual({ intervalMs: 10_000, sampling: null, strategy: null });
    expect(sampling.lookups).toBe(0);
  });

  describe('the messages of a skipped call', () => {
    const { gate: g } = gate();
    const sampledOut = (agent: string, input: SamplingInput, change: number | null = null): string => {
      const call = sampled(agent, input);
      return g.sampledOut(g.plan(call), call, change);
    };

    it('name the strategy and why it skipped', () => {
      expect(sampledOut('never_bot', {})).toBe('Sampled out (NEVER): strategy NEVER');
      expect(sampledOut('threshold_bot', { score: 0.2 })).toBe(
        'Sampled out (THRESHOLD): score 0.2 below threshold 0.6',
      );
      expect(sampledOut('periodic_bot', {})).toBe('Sampled out (PERIODIC): called less than 120 s ago');
      expect(sampledOut('adaptive_bot', { volatility: 2.5 })).toBe(
        'Sampled out (ADAPTIVE): called less than 480 s ago',
      );
      expect(sampledOut('change_bot', { features: { rsi: 71 } }, 0.05)).toBe(
        'Sampled out (CHANGE_BASED): features changed 5.00% < 15%',
      );
    });

    it('name a CHANGE_BASED threshold as it was set', () => {
      const { gate: runtime } = gate({ change_bot: { strategy: 'CHANGE_BASED', threshold: 0.07 } });
      const call = sampled('change_bot', { features: { rsi: 71 } });
      expect(runtime.sampledOut(runtime.plan(call), call, 0.05)).toBe(
        'Sampled out (CHANGE_BASED): features changed 5.00% < 7%',
      );
    });

    it('name the interval, the agent and the symbol of a filtered event', () => {
      expect(
        g.filtered(meteredCall({ agent: 'market_regime', symbol: 'BTC/USDT', intervalSeconds: 30 })),
      ).toBe('Event inside min_ai_interval (30 s) of the last call for market_regime BTC/USDT');
      expect(
        g.filtered(meteredCall({ agent: 'market_regime', symbol: undefined, intervalSeconds: 30 })),
      ).toBe('Event inside min_ai_interval (30 s) of the last call for market_regime');
    });
  });

  it('counts a call as adaptive only when an ADAPTIVE strategy let it through', () => {
    const { gate: g } = gate();
    expect(g.adaptive(g.plan(sampled('adaptive_bot', { volatility: 1 })))).toBe(true);
    expect(g.adaptive(g.plan(sampled('periodic_bot', {})))).toBe(false);
    expect(g.adaptive(g.plan(meteredCall({ agent: 'adaptive_bot', sampling: null })))).toBe(false);
  });
});

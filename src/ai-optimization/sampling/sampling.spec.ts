import { adaptiveIntervalSeconds, describeSampling, samplingClaim } from './sampling.service.js';

describe('sampling helpers', () => {
  it('ADAPTIVE shrinks the interval as volatility rises, between min and max', () => {
    const s = {
      strategy: 'ADAPTIVE' as const,
      min_interval_seconds: 60,
      max_interval_seconds: 900,
      volatility_scale: 5,
    };
    expect(adaptiveIntervalSeconds(s, 0)).toBe(900);
    expect(adaptiveIntervalSeconds(s, 2.5)).toBe(480);
    expect(adaptiveIntervalSeconds(s, 5)).toBe(60);
    expect(adaptiveIntervalSeconds(s, 50)).toBe(60);
    expect(adaptiveIntervalSeconds(s, 1)).toBeGreaterThan(adaptiveIntervalSeconds(s, 3));
  });

  it('asks the pre-call step for the claim each strategy needs', () => {
    expect(samplingClaim({ strategy: 'ALWAYS' }, {})).toBeNull();
    expect(samplingClaim({ strategy: 'NEVER' }, {})).toEqual({ kind: 'deny' });
    expect(samplingClaim({ strategy: 'THRESHOLD', threshold: 0.7 }, { score: 0.7 })).toBeNull();
    expect(samplingClaim({ strategy: 'THRESHOLD', threshold: 0.7 }, { score: 0.69 })).toEqual({
      kind: 'deny',
    });
    expect(samplingClaim({ strategy: 'THRESHOLD', threshold: 0.7 }, {})).toEqual({ kind: 'deny' });
    expect(samplingClaim({ strategy: 'PERIODIC', interval_seconds: 300 }, {})).toEqual({
      kind: 'interval',
      ms: 300_000,
    });
    const adaptive = { strategy: 'ADAPTIVE' as const, min_interval_seconds: 60, max_interval_seconds: 900 };
    expect(samplingClaim(adaptive, { volatility: 5 })).toEqual({ kind: 'interval', ms: 60_000 });
    expect(samplingClaim(adaptive, { features: { volatility: 0 } })).toEqual({
      kind: 'interval',
      ms: 900_000,
    });
    expect(samplingClaim({ strategy: 'CHANGE_BASED', threshold: 0.15 }, { features: { rsi: 50 } })).toEqual({
      kind: 'change',
      threshold: 0.15,
      features: { rsi: 50 },
    });
  });

  it('says why a call was skipped in the words of its strategy', () => {
    expect(describeSampling({ strategy: 'THRESHOLD', threshold: 0.7 }, { score: 0.2 }, true, null)).toBe(
      'score 0.2 below threshold 0.7',
    );
    expect(describeSampling({ strategy: 'PERIODIC', interval_seconds: 300 }, {}, true, null)).toBe(
      'called less than 300 s ago',
    );
    expect(describeSampling({ strategy: 'CHANGE_BASED', threshold: 0.15 }, {}, true, 0.05)).toBe(
      'features changed 5.00% < 15%',
    );
  });
});

import { adaptiveIntervalSeconds, relativeChange } from './sampling.service.js';

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
  it('CHANGE_BASED measures the largest relative change', () => {
    expect(relativeChange({ price: 100, rsi: 50 }, { price: 110, rsi: 51 })).toBeCloseTo(0.1, 12);
    expect(relativeChange({ price: 100 }, { price: 100, volume: 5 })).toBe(Infinity);
    expect(relativeChange({ price: 0 }, { price: 0 })).toBe(0);
  });
});

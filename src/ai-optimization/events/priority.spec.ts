import { DEFAULT_EVENT_THRESHOLDS as T } from './event.types.js';
import { effectivePriority } from './priority.js';

describe('effectivePriority', () => {
  it('keeps the declared priority when the data implies nothing more', () => {
    expect(effectivePriority('MEDIUM', { change_percent: 0.4 }, T).priority).toBe('MEDIUM');
    expect(effectivePriority('CRITICAL', {}, T).priority).toBe('CRITICAL');
  });
  it('raises a price move to HIGH at price_change_pct and CRITICAL at twice that', () => {
    expect(effectivePriority('LOW', { change_percent: 2.0 }, T).priority).toBe('HIGH');
    expect(effectivePriority('LOW', { change_percent: -3.9 }, T).priority).toBe('HIGH');
    expect(effectivePriority('LOW', { change_percent: -4.0 }, T).priority).toBe('CRITICAL');
  });
  it('raises a volume spike to HIGH', () => {
    expect(effectivePriority('LOW', { volume: 300, avg_volume: 100 }, T).priority).toBe('HIGH');
    expect(effectivePriority('LOW', { volume: 299, avg_volume: 100 }, T).priority).toBe('LOW');
  });
  it('moves one step up on high volatility, never past CRITICAL', () => {
    expect(effectivePriority('LOW', { volatility: 1.6 }, T).priority).toBe('MEDIUM');
    expect(effectivePriority('LOW', { volatility: 1.5 }, T).priority).toBe('LOW');
    expect(effectivePriority('LOW', { change_percent: 2.5, volatility: 2 }, T)).toEqual({
      priority: 'CRITICAL',
      raisedBy: ['price move 2.5% ≥ 2%', 'volatility 2% > 1.5%'],
    });
  });
  it('follows changed thresholds', () => {
    expect(effectivePriority('LOW', { change_percent: 1 }, { ...T, price_change_pct: 0.5 }).priority).toBe(
      'CRITICAL',
    );
  });
});

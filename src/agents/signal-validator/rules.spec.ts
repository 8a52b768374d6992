import { readFileSync } from 'node:fs';
import { timeframeMs, type Ohlcv } from '../../market-data/candles/candle-source.js';
import { parseCandleCsv } from '../../market-data/candles/csv-candle-source.js';
import { analyzeRegime } from '../market-regime/regime.js';
import { runRules, VALIDATION_CONFIG, verdictOf, type RuleResult, type SignalInput } from './rules.js';

/** Real BTC/USDT 1h candles (test/fixtures/candles, see its README); timestamps are UTC. */
const all = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8')).candles;
const HOUR = timeframeMs('1h');
/** Bars from `from` (inclusive) to `to` (inclusive), both UTC. */
const range = (from: string, to: string): Ohlcv[] =>
  all.filter(([ts]) => ts >= Date.parse(`${from}Z`) && ts <= Date.parse(`${to}Z`));

/** Market facts as the service builds them: ATR and regime from the regime core, now = just after the close. */
function factsOf(candles: Ohlcv[]) {
  const regime = analyzeRegime(candles, '1h');
  const last = candles.at(-1) as Ohlcv;
  return {
    facts: {
      candles,
      timeframeMs: HOUR,
      atr: regime.indicators.atr,
      regime: regime.regime_type,
      now: last[0] + HOUR + 60_000,
    },
    regime,
    last,
  };
}

// January 2023 rally: 200 bars ending 2023-01-13 07:00, a clear up-trend on 1h.
const trend = factsOf(range('2023-01-05T00:00', '2023-01-13T07:00'));
const close = trend.last[4];
const atr = trend.facts.atr;

/** A textbook long trend signal: at the last close, stop 2 ATR below, target 5 ATR above (R/R 2.5). */
const clean = (over: Partial<SignalInput> = {}): SignalInput => ({
  symbol: 'BTC/USDT',
  side: 'long',
  entry_price: close,
  stop_loss: close - 2 * atr,
  take_profit: close + 5 * atr,
  position_size_pct: 0.1,
  leverage: 1,
  strategy: 'trend',
  signal_timestamp: trend.last[0],
  ...over,
});

const byName = (rules: RuleResult[], name: string): RuleResult => {
  const found = rules.find((r) => r.name === name);
  if (!found) throw new Error(`rule ${name} not reported`);
  return found;
};

describe('signal validation rules', () => {
  it('the trend fixture is a trending_up market (so a long trend signal fits the regime)', () => {
    expect(trend.regime.regime_type).toBe('trending_up');
  });

  it('reports at least 12 distinct named rules, each with pass/fail, criticality, value, limit and reason', () => {
    const rules = runRules(clean(), trend.facts);
    expect(rules.length).toBeGreaterThanOrEqual(12);
    expect(new Set(rules.map((r) => r.name)).size).toBe(rules.length);
    for (const r of rules) {
      expect(Object.keys(r).sort()).toEqual(['critical', 'limit', 'name', 'passed', 'reason', 'value']);
      expect(typeof r.reason).toBe('string');
    }
    for (const name of [
      'price_sanity',
      'exchange_outage',
      'stop_loss_present',
      'stop_loss_distance',
      'risk_reward',
      'position_size',
      'leverage_cap',
      'regime_compatibility',
      'volatility_band',
      'liquidity',
      'signal_freshness',
      'duplicate_position',
      'cooldown',
      'max_open_trades',
    ]) {
      expect(byName(rules, name).name).toBe(name);
    }
    // Critical flags come from the config, not from each rule.
    for (const r of rules) {
      expect(r.critical).toBe((VALIDATION_CONFIG.critical_rules as readonly string[]).includes(r.name));
    }
  });

  it('approves a clean signal: every rule passes', () => {
    const rules = runRules(clean(), trend.facts);
    expect(rules.filter((r) => !r.passed)).toEqual([]);
    expect(verdictOf(rules)).toEqual({ validation_result: 'APPROVED', confidence_score: 1 });
  });

  it('rejects a price 30% away from the last close through price_sanity', () => {
    const entry = close * 1.3;
    const rules = runRules(
      clean({ entry_price: entry, stop_loss: entry - 2 * atr, take_profit: entry + 5 * atr }),
      trend.facts,
    );
    const sanity = byName(rules, 'price_sanity');
    expect(sanity).toMatchObject({
      passed: false,
      critical: true,
      limit: VALIDATION_CONFIG.max_price_deviation,
    });
    expect(sanity.value).toBeCloseTo(0.3, 4);
    expect(verdictOf(rules).validation_result).toBe('REJECTED');
  });

  it('a price within the band passes price_sanity', () => {
    expect(byName(runRules(clean({ entry_price: close * 1.01 }), trend.facts), 'price_sanity').passed).toBe(
      true,
    );
  });

  it('a leveraged signal without a stop-loss fails a critical rule and is REJECTED', () => {
    const rules = runRules(clean({ stop_loss: undefined, leverage: 5 }), trend.facts);
    const failedCritical = rules.filter((r) => r.critical && !r.passed).map((r) => r.name);
    expect(failedCritical).toContain('stop_loss_required_with_leverage');
    expect(byName(rules, 'stop_loss_present').passed).toBe(false);
    expect(verdictOf(rules).validation_result).toBe('REJECTED');
  });

  it('an unleveraged signal without a stop-loss is not rejected by the leverage rule', () => {
    const rules = runRules(clean({ stop_loss: undefined }), trend.facts);
    expect(byName(rules, 'stop_loss_required_with_leverage').passed).toBe(true);
    expect(byName(rules, 'stop_loss_present').passed).toBe(false);
  });

  it('leverage above the cap and a position above 30% of equity are critical failures', () => {
    const rules = runRules(
      clean({ leverage: VALIDATION_CONFIG.max_leverage + 5, position_size_pct: 0.5 }),
      trend.facts,
    );
    expect(byName(rules, 'leverage_cap')).toMatchObject({ passed: false, critical: true });
    expect(byName(rules, 'position_size')).toMatchObject({ passed: false, critical: true, limit: 0.3 });
    expect(verdictOf(rules).validation_result).toBe('REJECTED');
  });

  it('measures the stop distance in ATR (1–3 ATR) and risk/reward (≥ 2)', () => {
    const tight = runRules(clean({ stop_loss: close - 0.3 * atr }), trend.facts);
    expect(byName(tight, 'stop_loss_distance').passed).toBe(false);
    expect(byName(tight, 'stop_loss_distance').value).toBeCloseTo(0.3, 4);
    const wide = runRules(clean({ stop_loss: close - 4 * atr }), trend.facts);
    expect(byName(wide, 'stop_loss_distance').passed).toBe(false);
    const poor = runRules(clean({ take_profit: close + 2 * atr }), trend.facts); // R/R 1
    expect(byName(poor, 'risk_reward')).toMatchObject({ passed: false, limit: 2 });
    expect(byName(poor, 'risk_reward').value).toBeCloseTo(1, 4);
  });

  it('a stop-loss on the wrong side of the entry fails', () => {
    const rules = runRules(clean({ stop_loss: close + 2 * atr }), trend.facts);
    expect(byName(rules, 'stop_loss_side').passed).toBe(false);
  });

  it('a mean-reversion signal does not fit a trending market', () => {
    const rules = runRules(clean({ strategy: 'mean_reversion' }), trend.facts);
    expect(byName(rules, 'regime_compatibility')).toMatchObject({ passed: false, value: 'trending_up' });
  });

  it('a signal from candles closed long ago is stale', () => {
    const rules = runRules(clean({ signal_timestamp: trend.last[0] - 10 * HOUR }), trend.facts);
    expect(byName(rules, 'signal_freshness').passed).toBe(false);
  });

  it('refuses a duplicate position, a re-entry inside the cooldown and too many open trades', () => {
    const now = trend.facts.now;
    const open: SignalInput['open_positions'] = [
      { symbol: 'BTC/USDT', side: 'long' },
      { symbol: 'ETH/USDT', side: 'long' },
      { symbol: 'SOL/USDT', side: 'short' },
      { symbol: 'XRP/USDT', side: 'long' },
      { symbol: 'ADA/USDT', side: 'long' },
    ];
    const rules = runRules(
      clean({ open_positions: open, recent_exits: [{ symbol: 'BTC/USDT', timestamp: now - 10 * 60_000 }] }),
      trend.facts,
    );
    expect(byName(rules, 'duplicate_position').passed).toBe(false);
    expect(byName(rules, 'cooldown').passed).toBe(false);
    expect(byName(rules, 'cooldown').value).toBeCloseTo(10, 1);
    expect(byName(rules, 'max_open_trades').passed).toBe(false);
    // The opposite side and an exit on another symbol are fine.
    const other = runRules(
      clean({
        open_positions: [{ symbol: 'BTC/USDT', side: 'short' }],
        recent_exits: [{ symbol: 'ETH/USDT', timestamp: now - 60_000 }],
      }),
      trend.facts,
    );
    expect(byName(other, 'duplicate_position').passed).toBe(true);
    expect(byName(other, 'cooldown').passed).toBe(true);
  });

  it('several soft failures without a critical one ask for review instead of approving', () => {
    const rules = runRules(
      clean({
        strategy: 'mean_reversion',
        signal_timestamp: trend.last[0] - 10 * HOUR,
        stop_loss: close - 0.3 * atr,
        take_profit: close + 0.5 * atr, // R/R 1.67
        recent_exits: [{ symbol: 'BTC/USDT', timestamp: trend.facts.now - 60_000 }],
        open_positions: [{ symbol: 'BTC/USDT', side: 'long' }],
      }),
      trend.facts,
    );
    expect(rules.some((r) => r.critical && !r.passed)).toBe(false);
    expect(rules.filter((r) => r.passed).length).toBeLessThan(VALIDATION_CONFIG.min_passed_rules);
    const verdict = verdictOf(rules);
    expect(verdict.validation_result).toBe('NEEDS_REVIEW');
    expect(verdict.confidence_score).toBeLessThan(1);
  });

  describe('the 2023-03-24 Binance outage', () => {
    it('the zero-volume flat 12:00 bar neither crashes the rules nor passes exchange_outage', () => {
      const bars = range('2023-03-20T00:00', '2023-03-24T12:00');
      const outageBar = bars.at(-1) as Ohlcv;
      expect(outageBar).toEqual([Date.parse('2023-03-24T12:00:00Z'), 28080, 28080, 28080, 28080, 0]);
      const { facts, last } = factsOf(bars);
      const rules = runRules(
        clean({
          entry_price: last[4],
          stop_loss: last[4] - 2 * facts.atr,
          take_profit: last[4] + 5 * facts.atr,
          signal_timestamp: last[0],
        }),
        facts,
      );
      expect(byName(rules, 'exchange_outage')).toMatchObject({ passed: false, critical: true });
      expect(verdictOf(rules).validation_result).toBe('REJECTED');
    });

    it('the missing 13:00 bar right behind it is an outage too', () => {
      const bars = range('2023-03-20T00:00', '2023-03-24T14:00');
      expect(bars.some(([ts]) => ts === Date.parse('2023-03-24T13:00:00Z'))).toBe(false);
      const { facts, last } = factsOf(bars);
      const rules = runRules(
        clean({
          entry_price: last[4],
          stop_loss: last[4] - 2 * facts.atr,
          take_profit: last[4] + 5 * facts.atr,
          signal_timestamp: last[0],
        }),
        facts,
      );
      expect(byName(rules, 'exchange_outage').passed).toBe(false);
    });
  });
});

import type { Ohlcv } from '../../market-data/candles/candle-source.js';
import type { Regime } from '../market-regime/regime.js';
import { DEFAULT_AGENT_SETTINGS, type SignalValidatorSettings } from '../settings/agent-settings.js';

export interface SignalInput {
  symbol: string;
  side: 'long' | 'short';
  entry_price: number;
  stop_loss?: number;
  take_profit?: number;
  position_size_pct?: number;
  leverage?: number;
  strategy: 'trend' | 'mean_reversion' | 'breakout';
  signal_timestamp?: number;
  open_positions?: { symbol: string; side: 'long' | 'short' }[];
  recent_exits?: { symbol: string; timestamp: number }[];
}

export interface MarketFacts {
  candles: Ohlcv[];
  timeframeMs: number;
  atr: number;
  regime: Regime;
  now: number;
}

export interface RuleResult {
  name: string;
  passed: boolean;
  critical: boolean;
  value: number | string | null;
  limit: number | string | null;
  reason: string;
}

/**
 * Limits of the rules by default (freqtrade-style filters and our caps); the signal validator's settings in
 * config/agents.yaml replace them.
 */
export const VALIDATION_CONFIG: Readonly<SignalValidatorSettings> = DEFAULT_AGENT_SETTINGS.signal_validator;

const round = (x: number, d = 4): number => Number(x.toFixed(d));

/** Every rule, each reported with pass/fail, the value, the limit and why. */
export function runRules(
  s: SignalInput,
  m: MarketFacts,
  c: Readonly<SignalValidatorSettings> = VALIDATION_CONFIG,
): RuleResult[] {
  const critical = new Set<string>(c.critical_rules);
  const rule = (
    name: string,
    passed: boolean,
    value: RuleResult['value'],
    limit: RuleResult['limit'],
    reason: string,
  ): RuleResult => ({ name, passed, critical: critical.has(name), value, limit, reason });
  const last = m.candles.at(-1) as Ohlcv;
  const lastClose = last[4];
  const deviation = Math.abs(s.entry_price - lastClose) / lastClose;
  const leverage = s.leverage ?? 1;
  const stop = s.stop_loss;
  const stopOnRightSide =
    stop === undefined ? false : s.side === 'long' ? stop < s.entry_price : stop > s.entry_price;
  const stopAtr = stop === undefined ? null : Math.abs(s.entry_price - stop) / m.atr;
  const reward = s.take_profit === undefined ? null : Math.abs(s.take_profit - s.entry_price);
  const risk = stop === undefined ? null : Math.abs(s.entry_price - stop);
  const rr = reward !== null && risk !== null && risk > 0 ? reward / risk : null;
  const recent = m.candles.slice(-3);
  const outage = recent.some(([, o, h, l, cl, v]) => v === 0 && o === h && h === l && l === cl);
  const gap = recent.some(([ts], i) => i > 0 && ts - recent[i - 1][0] > m.timeframeMs);
  const quoteVolume24h = m.candles
    .filter(([ts]) => ts > last[0] - 86_400_000)
    .reduce((sum, [, , , , cl, v]) => sum + cl * v, 0);
  const ageBars = s.signal_timestamp === undefined ? 0 : (m.now - s.signal_timestamp) / m.timeframeMs;
  const duplicate = (s.open_positions ?? []).some((p) => p.symbol === s.symbol && p.side === s.side);
  const lastExit = Math.max(
    0,
    ...(s.recent_exits ?? []).filter((e) => e.symbol === s.symbol).map((e) => e.timestamp),
  );
  const minutesSinceExit = lastExit > 0 ? (m.now - lastExit) / 60_000 : null;
  const fits: Record<SignalInput['strategy'], Regime[]> = {
    trend: s.side === 'long' ? ['trending_up', 'breakout'] : ['trending_down', 'breakout'],
    mean_reversion: ['ranging', 'transitional'],
    breakout: ['breakout', 'ranging', 'transitional', 'trending_up', 'trending_down'],
  };
  const atrPct = m.atr / lastClose;
  return [
    rule(
      'price_sanity',
      deviation <= c.max_price_deviation,
      round(deviation),
      c.max_price_deviation,
      `entry ${s.entry_price} is ${(deviation * 100).toFixed(2)}% from the last close ${lastClose}`,
    ),
    rule(
      'exchange_outage',
      !outage && !gap,
      outage ? 'zero-volume flat bar' : gap ? 'missing bar' : 'none',
      'none',
      outage || gap
        ? 'the latest bars show an exchange outage; do not trade into it'
        : 'the exchange is trading normally (24/7 market)',
    ),
    rule(
      'stop_loss_present',
      stop !== undefined,
      stop ?? null,
      'required',
      stop === undefined ? 'no stop-loss given' : 'stop-loss given',
    ),
    rule(
      'stop_loss_required_with_leverage',
      leverage <= 1 || stop !== undefined,
      leverage,
      'stop-loss when leverage > 1',
      leverage > 1 && stop === undefined ? `leverage ${leverage}x without a stop-loss` : 'ok',
    ),
    rule(
      'stop_loss_side',
      stop === undefined || stopOnRightSide,
      stop ?? null,
      s.side === 'long' ? 'below entry' : 'above entry',
      stopOnRightSide || stop === undefined ? 'ok' : 'the stop-loss is on the wrong side of the entry',
    ),
    rule(
      'stop_loss_distance',
      stopAtr !== null && stopAtr >= c.min_stop_atr && stopAtr <= c.max_stop_atr,
      stopAtr === null ? null : round(stopAtr),
      `${c.min_stop_atr}–${c.max_stop_atr} ATR`,
      stopAtr === null ? 'no stop-loss to measure' : `stop is ${stopAtr.toFixed(2)} ATR from the entry`,
    ),
    rule(
      'risk_reward',
      rr !== null && rr >= c.min_risk_reward,
      rr === null ? null : round(rr),
      c.min_risk_reward,
      rr === null ? 'needs both stop-loss and take-profit' : `reward/risk ${rr.toFixed(2)}`,
    ),
    rule(
      'position_size',
      (s.position_size_pct ?? 0) <= c.max_position_size_pct,
      s.position_size_pct ?? 0,
      c.max_position_size_pct,
      `position is ${((s.position_size_pct ?? 0) * 100).toFixed(1)}% of equity`,
    ),
    rule('leverage_cap', leverage <= c.max_leverage, leverage, c.max_leverage, `leverage ${leverage}x`),
    rule(
      'regime_compatibility',
      fits[s.strategy].includes(m.regime),
      m.regime,
      fits[s.strategy].join('|'),
      `${s.strategy} signal in a ${m.regime} market`,
    ),
    rule(
      'volatility_band',
      atrPct <= c.volatility_band.max_atr_pct && atrPct >= c.volatility_band.min_atr_pct,
      round(atrPct, 6),
      `${c.volatility_band.min_atr_pct}–${c.volatility_band.max_atr_pct}`,
      `ATR/close ${(atrPct * 100).toFixed(2)}%`,
    ),
    rule(
      'liquidity',
      quoteVolume24h >= c.min_quote_volume_24h,
      Math.round(quoteVolume24h),
      c.min_quote_volume_24h,
      `24h quote volume ${Math.round(quoteVolume24h)}`,
    ),
    rule(
      'signal_freshness',
      ageBars <= c.max_signal_age_bars,
      round(ageBars, 2),
      c.max_signal_age_bars,
      `signal is ${ageBars.toFixed(1)} bars old`,
    ),
    rule(
      'duplicate_position',
      !duplicate,
      duplicate ? 'open' : 'none',
      'none',
      duplicate ? `a ${s.side} position on ${s.symbol} is already open` : 'no duplicate',
    ),
    rule(
      'cooldown',
      minutesSinceExit === null || minutesSinceExit >= c.cooldown_minutes,
      minutesSinceExit === null ? null : round(minutesSinceExit, 1),
      c.cooldown_minutes,
      minutesSinceExit === null ? 'no recent exit' : `last exit ${minutesSinceExit.toFixed(0)} min ago`,
    ),
    rule(
      'max_open_trades',
      (s.open_positions ?? []).length < c.max_open_trades,
      (s.open_positions ?? []).length,
      c.max_open_trades,
      `${(s.open_positions ?? []).length} open trades`,
    ),
  ];
}

export type Verdict = 'APPROVED' | 'REJECTED' | 'NEEDS_REVIEW';

/** REJECTED on any failed critical rule; APPROVED when enough rules pass; NEEDS_REVIEW in between. */
export function verdictOf(
  rules: RuleResult[],
  c: Readonly<SignalValidatorSettings> = VALIDATION_CONFIG,
): { validation_result: Verdict; confidence_score: number } {
  const passed = rules.filter((r) => r.passed).length;
  const criticalFailed = rules.some((r) => r.critical && !r.passed);
  const score = Number((passed / rules.length).toFixed(4));
  if (criticalFailed) return { validation_result: 'REJECTED', confidence_score: score };
  if (passed >= c.min_passed_rules) return { validation_result: 'APPROVED', confidence_score: score };
  return { validation_result: 'NEEDS_REVIEW', confidence_score: score };
}

import { BadRequestException } from '@nestjs/common';
import quadprog from 'quadprog';
import {
  timeframeMs,
  validateCandles,
  type Ohlcv,
  type Timeframe,
} from '../../market-data/candles/candle-source.js';

export const RISK_LEVELS = {
  conservative: { method: 'min_variance', max_position_size: 0.4, max_drawdown: 0.25 },
  moderate: { method: 'inverse_volatility', max_position_size: 0.5, max_drawdown: 0.4 },
  aggressive: { method: 'max_sharpe', max_position_size: 0.6, max_drawdown: 0.6 },
} as const;
export type RiskLevel = keyof typeof RISK_LEVELS;

/** Fixed shrinkage of the sample covariance toward its diagonal: crypto correlations are noisy on short windows. */
export const SHRINKAGE = 0.2;
export const MIN_ALIGNED_BARS = 30;
export const REBALANCE_THRESHOLD = 0.1;

export interface OptimizationResult {
  method: string;
  target_weights: Record<string, number>;
  expected_volatility: number;
  portfolio_sharpe: number;
  max_drawdown: number;
  drawdown_limit: number;
  periods_per_year: number;
  aligned_bars: number;
  warnings: string[];
}

/** Simple returns of every asset on the timestamps all of them share. */
export function alignedReturns(candles: Record<string, unknown[]>): {
  symbols: string[];
  returns: number[][];
  bars: number;
} {
  const symbols = Object.keys(candles);
  const series = new Map<string, Map<number, number>>();
  for (const s of symbols) {
    const { candles: rows, problems } = validateCandles(candles[s]);
    if (problems.length > 0)
      throw new BadRequestException(`candles.${s}: ${problems.slice(0, 3).join('; ')}`);
    series.set(s, new Map(rows.map((r: Ohlcv) => [r[0], r[4]])));
  }
  const common = [...(series.get(symbols[0]) ?? new Map<number, number>()).keys()]
    .filter((ts) => symbols.every((s) => series.get(s)?.has(ts)))
    .sort((a, b) => a - b);
  if (common.length < MIN_ALIGNED_BARS + 1) {
    throw new BadRequestException(
      `candles: at least ${MIN_ALIGNED_BARS + 1} bars with the same timestamps are needed for every asset, got ${common.length}`,
    );
  }
  const returns = symbols.map((s) => {
    const closes = common.map((ts) => series.get(s)?.get(ts) as number);
    return closes.slice(1).map((c, i) => c / closes[i] - 1);
  });
  return { symbols, returns, bars: common.length };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export function shrunkCovariance(returns: number[][]): number[][] {
  const n = returns.length;
  const means = returns.map(mean);
  const t = returns[0].length;
  const cov = Array.from({ length: n }, (_, i) =>
    Array.from(
      { length: n },
      (_, j) => returns[i].reduce((s, r, k) => s + (r - means[i]) * (returns[j][k] - means[j]), 0) / (t - 1),
    ),
  );
  return cov.map((row, i) => row.map((v, j) => (i === j ? v : (1 - SHRINKAGE) * v)));
}

/** Wraps quadprog (1-based): min ½xᵀDx − dᵀx subject to rows of `a` · x ≥ b, the first `meq` equal. */
function solve(D: number[][], d: number[], a: number[][], b: number[], meq: number): number[] {
  const n = d.length;
  const Dm: number[][] = [[]];
  for (let i = 0; i < n; i++) Dm.push([0, ...D[i].map((v, j) => v + (i === j ? 1e-12 : 0))]);
  const Am: number[][] = [[]];
  for (let i = 0; i < n; i++) Am.push([0, ...a.map((row) => row[i])]);
  const res = quadprog.solveQP(Dm, [0, ...d], Am, [0, ...b], meq);
  if (res.message)
    throw new BadRequestException(`portfolio: the optimisation has no solution (${res.message})`);
  return res.solution.slice(1);
}

function capsConstraints(n: number, cap: number): { a: number[][]; b: number[] } {
  const a: number[][] = [];
  const b: number[] = [];
  for (let i = 0; i < n; i++) {
    a.push(Array.from({ length: n }, (_, j) => (j === i ? 1 : 0)));
    b.push(0);
    a.push(Array.from({ length: n }, (_, j) => (j === i ? -1 : 0)));
    b.push(-cap);
  }
  return { a, b };
}

export function minVariance(cov: number[][], cap: number): number[] {
  const n = cov.length;
  const caps = capsConstraints(n, cap);
  return solve(
    cov,
    new Array<number>(n).fill(0),
    [new Array<number>(n).fill(1), ...caps.a],
    [1, ...caps.b],
    1,
  );
}

/** Max Sharpe through the y-transform, so the cap holds exactly: min yᵀΣy, μᵀy = 1, 0 ≤ yᵢ ≤ cap·Σy. */
export function maxSharpe(cov: number[][], mu: number[], cap: number): number[] | null {
  const n = cov.length;
  if (!mu.some((m) => m > 0)) return null;
  const a: number[][] = [mu];
  const b: number[] = [1];
  for (let i = 0; i < n; i++) {
    a.push(Array.from({ length: n }, (_, j) => (j === i ? 1 : 0)));
    b.push(0);
    a.push(Array.from({ length: n }, (_, j) => (j === i ? cap - 1 : cap)));
    b.push(0);
  }
  const y = solve(cov, new Array<number>(n).fill(0), a, b, 1);
  const sum = y.reduce((s, v) => s + v, 0);
  return y.map((v) => v / sum);
}

/** Inverse-volatility weights, with the excess over the cap handed to the uncapped assets (water-filling). */
export function inverseVolatility(cov: number[][], cap: number): number[] {
  const raw = cov.map((row, i) => 1 / Math.sqrt(row[i]));
  const w = new Array<number>(raw.length).fill(0);
  const capped = new Set<number>();
  for (;;) {
    const free = raw.map((_, i) => i).filter((i) => !capped.has(i));
    const left = 1 - capped.size * cap;
    const total = free.reduce((s, i) => s + raw[i], 0);
    let changed = false;
    for (const i of free) {
      w[i] = (raw[i] / total) * left;
      if (w[i] > cap + 1e-15) {
        capped.add(i);
        w[i] = cap;
        changed = true;
      }
    }
    if (!changed) return w;
  }
}

export function optimize(
  candles: Record<string, unknown[]>,
  level: RiskLevel,
  timeframe: Timeframe,
): OptimizationResult {
  const cfg = RISK_LEVELS[level];
  const { symbols, returns, bars } = alignedReturns(candles);
  const n = symbols.length;
  if (n * cfg.max_position_size < 1) {
    throw new BadRequestException(
      `portfolio: ${n} assets with max_position_size ${cfg.max_position_size} cannot sum to 1; add assets or choose another risk level`,
    );
  }
  const cov = shrunkCovariance(returns);
  const mu = returns.map(mean);
  const warnings: string[] = [];
  let method: string = cfg.method;
  let w: number[];
  if (cfg.method === 'min_variance') w = minVariance(cov, cfg.max_position_size);
  else if (cfg.method === 'inverse_volatility') w = inverseVolatility(cov, cfg.max_position_size);
  else {
    const sharpe = maxSharpe(cov, mu, cfg.max_position_size);
    if (sharpe === null) {
      warnings.push(
        'No asset had a positive mean return: max-Sharpe is undefined, minimum variance used instead',
      );
      method = 'min_variance';
      w = minVariance(cov, cfg.max_position_size);
    } else w = sharpe;
  }
  // Only numerical dust is removed here; the caps were constraints of the solve, not clipped afterwards.
  w = w.map((v) => (Math.abs(v) < 1e-12 ? 0 : v));
  const total = w.reduce((s, v) => s + v, 0);
  w = w.map((v) => v / total);
  const portfolio = returns[0].map((_, k) => returns.reduce((s, r, i) => s + w[i] * r[k], 0));
  const periodsPerYear = (365 * 86_400_000) / timeframeMs(timeframe);
  const m = mean(portfolio);
  const sd = Math.sqrt(portfolio.reduce((s, r) => s + (r - m) ** 2, 0) / (portfolio.length - 1));
  let equity = 1;
  let peak = 1;
  let maxDd = 0;
  for (const r of portfolio) {
    equity *= 1 + r;
    peak = Math.max(peak, equity);
    maxDd = Math.max(maxDd, 1 - equity / peak);
  }
  if (maxDd > cfg.max_drawdown) {
    warnings.push(
      `Historical drawdown ${(maxDd * 100).toFixed(1)}% exceeds the ${level} limit of ${cfg.max_drawdown * 100}%`,
    );
  }
  return {
    method,
    target_weights: Object.fromEntries(symbols.map((s, i) => [s, w[i]])),
    expected_volatility: sd * Math.sqrt(periodsPerYear),
    portfolio_sharpe: sd > 0 ? (m / sd) * Math.sqrt(periodsPerYear) : 0,
    max_drawdown: maxDd,
    drawdown_limit: cfg.max_drawdown,
    periods_per_year: periodsPerYear,
    aligned_bars: bars,
    warnings,
  };
}

/**
 * Portfolio optimisation, pure math (no Nest, no I/O): aligned returns → shrunk covariance → risk-based
 * weights with exact position caps → metrics of the resulting portfolio → rebalance plan.
 *
 * Choices, and why:
 * - SIMPLE returns, not log returns: a portfolio's one-bar return is exactly Σ wᵢ·rᵢ only for simple
 *   returns, so the Sharpe, volatility and drawdown reported below describe the portfolio that was actually
 *   optimised (log returns are additive over time, not across assets).
 * - LEDOIT–WOLF shrinkage toward CONSTANT CORRELATION (Ledoit & Wolf 2004, "Honey, I shrunk the sample
 *   covariance matrix"), not EWMA. Crypto assets share one dominant factor: the diagonal target would pull
 *   correlations toward 0 and make the minimum-variance solver see diversification that is not there,
 *   whereas constant correlation keeps the average co-movement and only shrinks the noisy pairwise
 *   differences. The intensity is estimated from the data (no λ to tune), and the result stays well
 *   conditioned with 20 assets and as few as 30 bars, where EWMA (λ = 0.94 ⇒ ~16 effective bars) is
 *   singular and is a next-bar volatility forecast rather than a basis for a standing allocation.
 * - Expected returns are poor in crypto, so only the aggressive level uses them (max-Sharpe); the others are
 *   pure risk methods.
 * - Caps are CONSTRAINTS of each solve (Goldfarb–Idnani QP through `quadprog`, water-filling for risk
 *   parity), never clipped afterwards: clipping and renormalising breaks the caps and the optimality.
 */
import quadprog from 'quadprog';
import { DomainError } from '../../common/errors.js';
import { timeframeMs, validateCandles, type Timeframe } from '../../market-data/candles/candle-source.js';

/** The request cannot be optimised as given (the message names the problem): HTTP 400. */
export class PortfolioInputError extends DomainError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('invalid_portfolio', message, 400, details);
    this.name = 'PortfolioInputError';
  }
}

/** The data is valid but degenerate for the solver (e.g. perfectly collinear assets): HTTP 422. */
export class PortfolioSolveError extends DomainError {
  constructor(message: string) {
    super('optimization_failed', message, 422);
    this.name = 'PortfolioSolveError';
  }
}

export type OptimizationMethod = 'min_variance' | 'risk_parity' | 'max_sharpe';

export interface RiskProfile {
  method: OptimizationMethod;
  /** No asset may weigh more than this. */
  max_position_size: number;
  /** Historical drawdown (fraction) above which the answer warns. */
  max_drawdown: number;
  /** Annualised Sharpe below which the answer warns; null or absent = no target. */
  target_sharpe?: number | null;
}

/**
 * The pure core's per-level profiles when a caller passes none (the unit tests and the replay); the service
 * always passes the portfolio optimizer's settings (config/agents.yaml). Tighter caps where the user wants
 * less risk force diversification, at the price of needing more assets (⌈1/cap⌉). Drawdown limits are what
 * each profile should tolerate on crypto, where BTC alone has lost 75% peak to trough.
 */
export const RISK_LEVELS = {
  conservative: { method: 'min_variance', max_position_size: 0.35, max_drawdown: 0.15 },
  moderate: { method: 'risk_parity', max_position_size: 0.4, max_drawdown: 0.25 },
  aggressive: { method: 'max_sharpe', max_position_size: 0.5, max_drawdown: 0.4 },
} as const satisfies Record<string, RiskProfile>;
export type RiskLevel = keyof typeof RISK_LEVELS;
export const RISK_LEVEL_NAMES = Object.keys(RISK_LEVELS) as RiskLevel[];

export const MIN_ALIGNED_CANDLES = 30;
export const MAX_ASSETS = 20;
export const REBALANCE_THRESHOLD = 0.1;
/** Weights are renormalised only when they are off by numerical noise; more than this is a bug. */
const SUM_TOLERANCE = 1e-9;

/** Crypto trades every hour of the year: 365 × 24 h divided by the bar length (8,760 for 1h, 365 for 1d). */
export function periodsPerYear(timeframe: Timeframe): number {
  return (365 * 86_400_000) / timeframeMs(timeframe);
}

// ---------------------------------------------------------------------------------------------------------
// Returns

export interface AlignedReturns {
  symbols: string[];
  /** returns[i][t]: simple return of asset i over bar t; every asset has the same bars. */
  returns: number[][];
  /** Close time (open timestamp of the later candle) of each return. */
  timestamps: number[];
  /** Candles whose timestamp every asset has. */
  aligned_candles: number;
  /** Per asset, candles dropped because another asset has no candle at that timestamp. */
  dropped_candles: Record<string, number>;
  /** Consecutive aligned candles more than one bar apart: their return spans a gap and is not used. */
  skipped_returns: number;
}

/**
 * Validates every series (a malformed row is a 400, never silently dropped), keeps the timestamps all
 * assets share, and computes returns only between aligned candles exactly one bar apart, so that every
 * return covers one period and the annualisation below stays exact.
 */
export function alignedReturns(
  candles: Record<string, unknown>,
  timeframe: Timeframe,
  minAligned = MIN_ALIGNED_CANDLES,
): AlignedReturns {
  const symbols = Object.keys(candles);
  const closes = new Map<string, Map<number, number>>();
  for (const symbol of symbols) {
    const { candles: rows, problems } = validateCandles(candles[symbol]);
    if (problems.length > 0) {
      const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
      throw new PortfolioInputError(
        `candles.${symbol} is malformed: ${problems.slice(0, 3).join('; ')}${more}`,
        { symbol },
      );
    }
    closes.set(symbol, new Map(rows.map((row) => [row[0], row[4]])));
  }
  const series = symbols.map((s) => closes.get(s) as Map<number, number>);
  const common = [...series[0].keys()].filter((ts) => series.every((m) => m.has(ts))).sort((a, b) => a - b);
  const dropped = Object.fromEntries(symbols.map((s, i) => [s, series[i].size - common.length]));
  if (common.length < minAligned) {
    const shortest = symbols.reduce((a, b) =>
      (closes.get(a)?.size ?? 0) <= (closes.get(b)?.size ?? 0) ? a : b,
    );
    throw new PortfolioInputError(
      `too few candles: the portfolio needs at least ${minAligned} aligned candles (timestamps every ` +
        `asset has), got ${common.length}; ${shortest} has ${closes.get(shortest)?.size ?? 0}`,
      { aligned_candles: common.length, dropped_candles: dropped },
    );
  }
  const step = timeframeMs(timeframe);
  const returns: number[][] = symbols.map(() => []);
  const timestamps: number[] = [];
  let skipped = 0;
  for (let t = 1; t < common.length; t++) {
    if (common[t] - common[t - 1] !== step) {
      skipped++;
      continue;
    }
    timestamps.push(common[t]);
    series.forEach((m, i) => {
      returns[i].push((m.get(common[t]) as number) / (m.get(common[t - 1]) as number) - 1);
    });
  }
  if (timestamps.length < minAligned - 1) {
    throw new PortfolioInputError(
      `too few candles: only ${timestamps.length} of ${common.length - 1} returns span exactly one ${timeframe} ` +
        `bar, at least ${minAligned - 1} are needed; are these ${timeframe} candles?`,
      { aligned_candles: common.length, skipped_returns: skipped },
    );
  }
  return {
    symbols,
    returns,
    timestamps,
    aligned_candles: common.length,
    dropped_candles: dropped,
    skipped_returns: skipped,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Covariance

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export interface ShrunkCovariance {
  /** Shrunk covariance per bar, scaled by T/(T−1) like a sample covariance. */
  cov: number[][];
  /** Ledoit–Wolf intensity δ in [0, 1]: Σ = δ·F + (1 − δ)·S. */
  shrinkage: number;
  /** r̄, the average pairwise sample correlation (the target's correlation). */
  average_correlation: number;
}

/**
 * Ledoit–Wolf (2004) shrinkage toward the constant-correlation matrix F (Fᵢᵢ = sᵢᵢ, Fᵢⱼ = r̄·√(sᵢᵢsⱼⱼ)),
 * following the authors' covCor.m: δ = max(0, min(1, (π̂ − ρ̂)/γ̂ / T)). Needs every variance > 0.
 */
export function ledoitWolfCovariance(returns: readonly (readonly number[])[]): ShrunkCovariance {
  const n = returns.length;
  const t = returns[0].length;
  const x = returns.map((r) => {
    const m = mean(r);
    return r.map((v) => v - m);
  });
  const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, v, k) => s + v * b[k], 0);
  // The estimator's algebra uses the 1/T (maximum-likelihood) covariance.
  const sample = x.map((xi) => x.map((xj) => dot(xi, xj) / t));
  const variance = sample.map((row, i) => row[i]);
  const sd = variance.map(Math.sqrt);
  if (n === 1) return { cov: [[(variance[0] * t) / (t - 1)]], shrinkage: 0, average_correlation: 1 };

  let corrSum = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) if (i !== j) corrSum += sample[i][j] / (sd[i] * sd[j]);
  const rBar = corrSum / (n * (n - 1));
  const prior = sample.map((row, i) => row.map((v, j) => (i === j ? v : rBar * (sd[i] * sd[j]))));

  // π̂: sum of asymptotic variances of the sample covariances.
  let pi = 0;
  let piDiag = 0;
  const piMat: number[][] = [];
  for (let i = 0; i < n; i++) {
    piMat.push([]);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < t; k++) s += (x[i][k] * x[j][k] - sample[i][j]) ** 2;
      piMat[i].push(s / t);
      pi += s / t;
    }
    piDiag += piMat[i][i];
  }
  // ρ̂: asymptotic covariances between the sample covariances and the target.
  let thetaSum = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      let term1 = 0;
      for (let k = 0; k < t; k++) term1 += x[i][k] ** 3 * x[j][k];
      const thetaII = term1 / t - variance[i] * sample[i][j];
      // ϑᵢⱼ,ⱼᵢ is the same expression with i and j swapped; covCor.m sums (√sⱼⱼ/√sᵢᵢ)·ϑᵢᵢ,ᵢⱼ over i ≠ j.
      thetaSum += (sd[j] / sd[i]) * thetaII;
    }
  }
  const rho = piDiag + rBar * thetaSum;
  // γ̂: misspecification of the target.
  let gamma = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gamma += (sample[i][j] - prior[i][j]) ** 2;
  // With two assets F equals S (one correlation is its own average): nothing to shrink.
  const shrinkage = gamma > 1e-300 ? Math.max(0, Math.min(1, (pi - rho) / gamma / t)) : 0;
  const unbias = t / (t - 1);
  const cov = sample.map((row, i) =>
    row.map((v, j) => (shrinkage * prior[i][j] + (1 - shrinkage) * v) * unbias),
  );
  return { cov, shrinkage, average_correlation: rBar };
}

// ---------------------------------------------------------------------------------------------------------
// Solvers

/** ⌈1/cap⌉ assets are needed for capped long-only weights to reach 1. */
export function assertCapFeasible(n: number, cap: number): void {
  if (n * cap < 1 - 1e-12) {
    throw new PortfolioInputError(
      `infeasible max_position_size: ${n} asset(s) capped at ${cap} can hold at most ${(n * cap).toFixed(2)} ` +
        `of the portfolio, not 1; give at least ${Math.ceil(1 / cap - 1e-12)} assets or choose a risk level ` +
        `with a larger cap`,
      { assets: n, max_position_size: cap },
    );
  }
}

/**
 * Covariance divided by its mean variance: weights do not depend on the scale, and Goldfarb–Idnani is far
 * better conditioned on O(1) numbers than on hourly variances of 1e-5. A ridge of 1e-10 (relative) keeps D
 * strictly positive definite when two assets are almost collinear, moving weights by ~1e-10 at most.
 */
function normalised(cov: readonly (readonly number[])[]): number[][] {
  const scale = mean(cov.map((row, i) => row[i]));
  if (!(scale > 0)) throw new PortfolioSolveError('every asset has zero variance: weights are undefined');
  return cov.map((row, i) => row.map((v, j) => v / scale + (i === j ? 1e-10 : 0)));
}

interface LinearConstraint {
  /** Coefficients a in aᵀx ≥ b (or = b for the leading equalities). */
  a: number[];
  b: number;
}

/** min ½xᵀDx − dᵀx s.t. the constraints, the first `meq` as equalities; translates to quadprog's 1-based arrays. */
function solveQp(
  D: readonly (readonly number[])[],
  d: readonly number[],
  cons: LinearConstraint[],
  meq: number,
): number[] {
  const n = d.length;
  const Dmat: number[][] = [[], ...D.map((row) => [0, ...row])];
  const Amat: number[][] = [[]];
  for (let i = 0; i < n; i++) Amat.push([0, ...cons.map((c) => c.a[i])]);
  const res = quadprog.solveQP(Dmat, [0, ...d], Amat, [0, ...cons.map((c) => c.b)], meq);
  if (res.message !== '' || !res.solution) {
    throw new PortfolioSolveError(`the quadratic program has no solution: ${res.message}`);
  }
  return res.solution.slice(1, n + 1);
}

const unit = (n: number, i: number, value = 1): number[] =>
  Array.from({ length: n }, (_, j) => (j === i ? value : 0));

/** Guards the invariant the API promises: long-only, sum 1 within 1e-9; only rounding noise is removed. */
function finalise(w: number[], cap: number, method: string): number[] {
  const cleaned = w.map((v) => (v < 0 && v > -1e-12 ? 0 : v));
  const sum = cleaned.reduce((a, b) => a + b, 0);
  const worst = Math.max(...cleaned);
  if (cleaned.some((v) => v < 0) || Math.abs(sum - 1) > SUM_TOLERANCE || worst > cap + 1e-12) {
    throw new PortfolioSolveError(
      `${method} produced invalid weights (sum ${sum}, max ${worst}, cap ${cap}); the covariance is degenerate`,
    );
  }
  // Dividing by a sum of 1 ± 1e-16 can lift a binding weight one ulp above the cap: put it back, so that
  // w ≤ cap holds in floating point too (the sum moves by ~1e-16, far inside the 1e-9 promise).
  return cleaned.map((v) => Math.min(v / sum, cap));
}

/** Capped minimum variance: min wᵀΣw s.t. Σw = 1, 0 ≤ w ≤ cap (a QP, so the cap is a hard constraint). */
export function minVariance(cov: readonly (readonly number[])[], cap: number): number[] {
  const n = cov.length;
  assertCapFeasible(n, cap);
  const cons: LinearConstraint[] = [{ a: new Array<number>(n).fill(1), b: 1 }];
  for (let i = 0; i < n; i++) cons.push({ a: unit(n, i), b: 0 }, { a: unit(n, i, -1), b: -cap });
  return finalise(solveQp(normalised(cov), new Array<number>(n).fill(0), cons, 1), cap, 'min_variance');
}

/** The largest mean excess return any capped long-only portfolio reaches (fill the best assets to the cap). */
export function bestCappedReturn(mu: readonly number[], cap: number): number {
  let left = 1;
  let best = 0;
  for (const m of [...mu].sort((a, b) => b - a)) {
    const take = Math.min(cap, left);
    best += take * m;
    left -= take;
    if (left <= 0) break;
  }
  return best;
}

/**
 * Capped max-Sharpe through the y-transform (Cornuéjols & Tütüncü §8.2): with y = κw, κ > 0, maximising
 * μᵀw/√(wᵀΣw) becomes the convex QP  min yᵀΣy  s.t. μᵀy = 1, y ≥ 0, yᵢ ≤ cap·Σⱼyⱼ,  and w = y/Σy. The cap
 * is homogeneous in y, so it holds EXACTLY for w. `mu` are mean EXCESS returns per bar. Returns null when no
 * capped long-only portfolio has a positive excess return (max-Sharpe is then undefined).
 */
export function maxSharpe(
  cov: readonly (readonly number[])[],
  mu: readonly number[],
  cap: number,
): number[] | null {
  const n = cov.length;
  assertCapFeasible(n, cap);
  const muScale = Math.max(...mu.map(Math.abs));
  if (!(muScale > 0) || bestCappedReturn(mu, cap) <= muScale * 1e-12) return null;
  // μ scaled to max |μᵢ| = 1 only rescales y, not w; it keeps the equality row O(1) like D.
  const cons: LinearConstraint[] = [{ a: mu.map((m) => m / muScale), b: 1 }];
  for (let i = 0; i < n; i++) {
    cons.push({ a: unit(n, i), b: 0 });
    cons.push({ a: Array.from({ length: n }, (_, j) => (j === i ? cap - 1 : cap)), b: 0 });
  }
  const y = solveQp(normalised(cov), new Array<number>(n).fill(0), cons, 1);
  const total = y.reduce((a, b) => a + b, 0);
  return finalise(
    y.map((v) => v / total),
    cap,
    'max_sharpe',
  );
}

/**
 * Cyclical coordinate descent on  min ½wᵀΣw − θ·Σ_{i∈free} ln wᵢ  with the capped weights held fixed
 * (Griveau-Billion, Richard & Roncalli 2013). Its optimum has wᵢ·(Σw)ᵢ = θ for every free asset: equal risk
 * contributions. Each coordinate step is the positive root of Σᵢᵢwᵢ² + aᵢwᵢ − θ = 0.
 */
function ercSweep(sigma: number[][], w: number[], free: number[], theta: number): void {
  for (let sweep = 0; sweep < 10_000; sweep++) {
    let change = 0;
    for (const i of free) {
      let a = 0;
      for (let j = 0; j < w.length; j++) if (j !== i) a += sigma[i][j] * w[j];
      const next = (-a + Math.sqrt(a * a + 4 * sigma[i][i] * theta)) / (2 * sigma[i][i]);
      change = Math.max(change, Math.abs(next - w[i]) / next);
      w[i] = next;
    }
    if (change < 1e-13) return;
  }
}

/**
 * Equal risk contribution (risk parity) with caps. Without binding caps this is exact ERC. When an asset's
 * ERC weight exceeds the cap it is held AT the cap (water-filling, the largest offender first) and the free
 * assets share the rest with equal risk contributions to the whole portfolio, found by bisection on θ so
 * that the free weights sum to 1 − (capped)·cap.
 */
export function riskParity(cov: readonly (readonly number[])[], cap: number): number[] {
  const n = cov.length;
  assertCapFeasible(n, cap);
  const sigma = normalised(cov);
  const capped = new Set<number>();
  for (;;) {
    const free = [...Array(n).keys()].filter((i) => !capped.has(i));
    const w = Array.from({ length: n }, (_, i) => (capped.has(i) ? cap : 1 / Math.sqrt(sigma[i][i])));
    const budget = 1 - capped.size * cap;
    if (free.length === 0 || budget <= 1e-15) {
      free.forEach((i) => (w[i] = 0));
      return finalise(w, cap, 'risk_parity');
    }
    const freeSum = (): number => free.reduce((s, i) => s + w[i], 0);
    if (capped.size === 0) {
      // ERC is scale-free: solve for θ = 1 and normalise.
      ercSweep(sigma, w, free, 1);
      const s = freeSum();
      free.forEach((i) => (w[i] /= s));
    } else {
      // The fixed weights break scale invariance: bracket θ, then bisect in log space.
      let lo = 1e-12;
      let hi = 1;
      ercSweep(sigma, w, free, hi);
      while (freeSum() < budget && hi < 1e12) {
        hi *= 4;
        ercSweep(sigma, w, free, hi);
      }
      for (let k = 0; k < 200; k++) {
        const mid = Math.sqrt(lo * hi);
        ercSweep(sigma, w, free, mid);
        const s = freeSum();
        if (Math.abs(s - budget) <= 1e-14) break;
        if (s < budget) lo = mid;
        else hi = mid;
      }
      const s = freeSum();
      if (Math.abs(s - budget) > 1e-9) {
        throw new PortfolioSolveError('risk parity did not converge: the covariance is degenerate');
      }
      // Removes only the bisection residue.
      free.forEach((i) => (w[i] *= budget / s));
    }
    const over = free.filter((i) => w[i] > cap + 1e-12).sort((a, b) => w[b] - w[a]);
    if (over.length === 0) return finalise(w, cap, 'risk_parity');
    capped.add(over[0]);
  }
}

/** Each asset's share of portfolio variance, wᵢ(Σw)ᵢ / wᵀΣw (sums to 1). */
export function riskContributions(cov: readonly (readonly number[])[], w: readonly number[]): number[] {
  const sw = cov.map((row) => row.reduce((s, v, j) => s + v * w[j], 0));
  const total = w.reduce((s, v, i) => s + v * sw[i], 0);
  return w.map((v, i) => (total > 0 ? (v * sw[i]) / total : 0));
}

// ---------------------------------------------------------------------------------------------------------
// Portfolio

export interface PortfolioStats {
  /** Portfolio return per bar, Σ wᵢ·rᵢ,ₜ (rebalanced to the weights every bar). */
  series: number[];
  mean: number;
  /** Sample standard deviation (T − 1). */
  std: number;
  /** (mean − r_f/P) / std · √P. */
  sharpe: number;
  /** std · √P. */
  realised_volatility: number;
  /** mean · P (arithmetic). */
  annual_return: number;
  /** Largest peak-to-trough fall of the compounded series, as a positive fraction. */
  max_drawdown: number;
}

/** Metrics of the portfolio return series, annualised explicitly with P periods per year. */
export function portfolioStats(
  returns: readonly (readonly number[])[],
  w: readonly number[],
  periods: number,
  riskFreeAnnual = 0,
): PortfolioStats {
  const series = returns[0].map((_, t) => returns.reduce((s, r, i) => s + w[i] * r[t], 0));
  const m = mean(series);
  const std = Math.sqrt(series.reduce((s, r) => s + (r - m) ** 2, 0) / (series.length - 1));
  let equity = 1;
  let peak = 1;
  let maxDrawdown = 0;
  for (const r of series) {
    equity *= 1 + r;
    peak = Math.max(peak, equity);
    maxDrawdown = Math.max(maxDrawdown, 1 - equity / peak);
  }
  return {
    series,
    mean: m,
    std,
    sharpe: std > 0 ? ((m - riskFreeAnnual / periods) / std) * Math.sqrt(periods) : 0,
    realised_volatility: std * Math.sqrt(periods),
    annual_return: m * periods,
    max_drawdown: maxDrawdown,
  };
}

export interface OptimizeInput {
  /** symbol → ccxt OHLCV rows, oldest first (validated here). */
  candles: Record<string, unknown>;
  riskLevel: RiskLevel;
  timeframe: Timeframe;
  /** Annual risk-free rate as a fraction (0.04 = 4%); default 0. */
  riskFreeRate?: number;
  /** The level's method, cap and limits; default RISK_LEVELS[riskLevel]. */
  profile?: RiskProfile;
  /** Aligned candles needed at least; default MIN_ALIGNED_CANDLES. */
  minAlignedCandles?: number;
}

export interface PortfolioOptimization {
  risk_level: RiskLevel;
  /** The method that produced the weights (aggressive falls back to min_variance without a positive return). */
  method: OptimizationMethod;
  max_position_size: number;
  target_weights: Record<string, number>;
  /** Share of portfolio variance per asset under the shrunk covariance. */
  risk_contributions: Record<string, number>;
  /** √(wᵀΣw·P) from the shrunk covariance: the model's forward-looking volatility. */
  expected_volatility: number;
  /** Mean portfolio return per bar × P. */
  expected_return: number;
  /** Standard deviation of the portfolio return series × √P. */
  realised_volatility: number;
  portfolio_sharpe: number;
  max_drawdown: number;
  drawdown_limit: number;
  drawdown_exceeded: boolean;
  /** The level's Sharpe target (null = none) and whether the portfolio falls short of it. */
  target_sharpe: number | null;
  sharpe_below_target: boolean | null;
  risk_free_rate: number;
  covariance: {
    estimator: 'ledoit_wolf_constant_correlation';
    shrinkage: number;
    average_correlation: number;
  };
  data: {
    timeframe: Timeframe;
    periods_per_year: number;
    return_type: 'simple';
    aligned_candles: number;
    returns_used: number;
    dropped_candles: Record<string, number>;
    skipped_returns: number;
    from: string;
    to: string;
  };
  /** Deterministic warnings about the result (drawdown over the limit, fallbacks, data dropped). */
  warnings: string[];
}

/** Weights for one risk level from aligned candles, with the metrics of the resulting portfolio. */
export function optimizePortfolio(input: OptimizeInput): PortfolioOptimization {
  const profile: RiskProfile = input.profile ?? RISK_LEVELS[input.riskLevel];
  const names = Object.keys(input.candles);
  if (names.length > MAX_ASSETS) {
    throw new PortfolioInputError(`too many assets: at most ${MAX_ASSETS}, got ${names.length}`);
  }
  assertCapFeasible(names.length, profile.max_position_size);
  const data = alignedReturns(input.candles, input.timeframe, input.minAlignedCandles);
  const { symbols, returns } = data;
  returns.forEach((r, i) => {
    if (r.every((v) => v === r[0])) {
      throw new PortfolioInputError(
        `candles.${symbols[i]}: the return never varies over the ${r.length} aligned bars, so its volatility ` +
          `is 0 and risk-based weights are undefined`,
        { symbol: symbols[i] },
      );
    }
  });
  const periods = periodsPerYear(input.timeframe);
  const riskFree = input.riskFreeRate ?? 0;
  const shrunk = ledoitWolfCovariance(returns);
  const cap = profile.max_position_size;
  const warnings: string[] = [];

  let method: OptimizationMethod = profile.method;
  let w: number[];
  if (profile.method === 'min_variance') w = minVariance(shrunk.cov, cap);
  else if (profile.method === 'risk_parity') w = riskParity(shrunk.cov, cap);
  else {
    const excess = returns.map((r) => mean(r) - riskFree / periods);
    const sharpe = maxSharpe(shrunk.cov, excess, cap);
    if (sharpe === null) {
      method = 'min_variance';
      w = minVariance(shrunk.cov, cap);
      warnings.push(
        'No capped long-only portfolio had a positive excess return over the window, so max-Sharpe is ' +
          'undefined; minimum variance was used instead',
      );
    } else w = sharpe;
  }

  const stats = portfolioStats(returns, w, periods, riskFree);
  const variance = w.reduce((s, wi, i) => s + wi * shrunk.cov[i].reduce((t, c, j) => t + c * w[j], 0), 0);
  const exceeded = stats.max_drawdown > profile.max_drawdown;
  if (exceeded) {
    warnings.push(
      `Historical max drawdown ${(stats.max_drawdown * 100).toFixed(1)}% exceeds the ${input.riskLevel} ` +
        `limit of ${(profile.max_drawdown * 100).toFixed(0)}%`,
    );
  }
  const target = profile.target_sharpe ?? null;
  const belowTarget = target === null ? null : stats.sharpe < target;
  if (belowTarget) {
    warnings.push(
      `Annualised Sharpe ${stats.sharpe.toFixed(2)} is below the ${input.riskLevel} target of ${target}`,
    );
  }
  const droppedTotal = Object.values(data.dropped_candles).reduce((a, b) => a + b, 0);
  if (droppedTotal > 0) {
    const which = Object.entries(data.dropped_candles)
      .filter(([, k]) => k > 0)
      .map(([s, k]) => `${s} ${k}`)
      .join(', ');
    warnings.push(`Candles without a matching timestamp in every asset were dropped: ${which}`);
  }
  if (data.skipped_returns > 0) {
    warnings.push(`${data.skipped_returns} return(s) spanning a gap in the candles were not used`);
  }
  const bySymbol = (values: readonly number[]): Record<string, number> =>
    Object.fromEntries(symbols.map((s, i) => [s, values[i]]));
  return {
    risk_level: input.riskLevel,
    method,
    max_position_size: cap,
    target_weights: bySymbol(w),
    risk_contributions: bySymbol(riskContributions(shrunk.cov, w)),
    expected_volatility: Math.sqrt(Math.max(0, variance) * periods),
    expected_return: stats.annual_return,
    realised_volatility: stats.realised_volatility,
    portfolio_sharpe: stats.sharpe,
    max_drawdown: stats.max_drawdown,
    drawdown_limit: profile.max_drawdown,
    drawdown_exceeded: exceeded,
    target_sharpe: target,
    sharpe_below_target: belowTarget,
    risk_free_rate: riskFree,
    covariance: {
      estimator: 'ledoit_wolf_constant_correlation',
      shrinkage: shrunk.shrinkage,
      average_correlation: shrunk.average_correlation,
    },
    data: {
      timeframe: input.timeframe,
      periods_per_year: periods,
      return_type: 'simple',
      aligned_candles: data.aligned_candles,
      returns_used: data.timestamps.length,
      dropped_candles: data.dropped_candles,
      skipped_returns: data.skipped_returns,
      from: new Date(data.timestamps[0] - timeframeMs(input.timeframe)).toISOString(),
      to: new Date(data.timestamps[data.timestamps.length - 1]).toISOString(),
    },
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Rebalancing

export interface Trade {
  symbol: string;
  action: 'buy' | 'sell';
  value_usd: number;
  /** target − current weight (signed). */
  weight_change: number;
}

export interface RebalancePlan {
  total_value_usd: number;
  current_weights: Record<string, number>;
  /** max |current − target| over all assets. */
  max_weight_drift: number;
  rebalance_threshold: number;
  rebalance_needed: boolean;
  /** Empty unless a rebalance is needed: drift below the threshold is not worth the fees. */
  trades: Trade[];
}

/**
 * Current weights from position values and the trades that move them to the targets; assets without a
 * position count as 0. Sells come first (they fund the buys), larger first.
 */
export function rebalancePlan(
  valuesUsd: Record<string, number>,
  target: Record<string, number>,
  threshold = REBALANCE_THRESHOLD,
): RebalancePlan {
  const symbols = Object.keys(target);
  const total = symbols.reduce((s, sym) => s + (valuesUsd[sym] ?? 0), 0);
  if (!(total > 0)) {
    throw new PortfolioInputError(
      'positions: the total value_usd must be greater than 0 to derive current weights',
    );
  }
  const current = Object.fromEntries(symbols.map((s) => [s, (valuesUsd[s] ?? 0) / total]));
  const drift = Math.max(...symbols.map((s) => Math.abs(current[s] - target[s])));
  const needed = drift > threshold;
  const trades: Trade[] = needed
    ? symbols
        .map((s) => ({ symbol: s, change: target[s] - current[s] }))
        .filter(({ change }) => Math.abs(change) > 1e-9)
        .map(({ symbol, change }) => ({
          symbol,
          action: change > 0 ? ('buy' as const) : ('sell' as const),
          value_usd: Math.round(Math.abs(change) * total * 100) / 100,
          weight_change: change,
        }))
        .sort((a, b) => (a.action === b.action ? b.value_usd - a.value_usd : a.action === 'sell' ? -1 : 1))
    : [];
  return {
    total_value_usd: total,
    current_weights: current,
    max_weight_drift: drift,
    rebalance_threshold: threshold,
    rebalance_needed: needed,
    trades,
  };
}

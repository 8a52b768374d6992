import { readFileSync } from 'node:fs';
import type { Ohlcv } from '../../market-data/candles/candle-source.js';
import { parseCandleCsv } from '../../market-data/candles/csv-candle-source.js';
import {
  alignedReturns,
  ledoitWolfCovariance,
  maxSharpe,
  minVariance,
  optimizePortfolio,
  PortfolioInputError,
  rebalancePlan,
  riskContributions,
  riskParity,
  RISK_LEVEL_NAMES,
  RISK_LEVELS,
} from './optimizer.js';

/** Deterministic PRNG (mulberry32) and standard normals from it: the same "random" data on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normals(seed: number): () => number {
  const u = prng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

const load = (file: string): Ohlcv[] =>
  parseCandleCsv(readFileSync(`test/fixtures/candles/${file}`, 'utf8')).candles;
/** 400 contiguous real hours: the quiet range of late 2022 into the January 2023 rally. */
const btc = load('BTCUSDT_1h.csv')
  .filter(([ts]) => ts >= Date.parse('2023-01-01T00:00:00Z'))
  .slice(0, 400);
const btcDaily = load('BTCUSDT_1d.csv').slice(0, 200);

/** A synthetic asset on BTC's timestamps: beta to BTC's real returns plus seeded idiosyncratic noise. */
function synthetic(base: Ohlcv[], seed: number, beta: number, drift: number, vol: number): Ohlcv[] {
  const z = normals(seed);
  let price = 100;
  return base.map(([ts], i) => {
    const open = price;
    const btcReturn = i === 0 ? 0 : base[i][4] / base[i - 1][4] - 1;
    price = open * (1 + beta * btcReturn + drift + vol * z());
    return [ts, open, Math.max(open, price) * 1.001, Math.min(open, price) * 0.999, price, 1000];
  });
}
const universe = {
  BTC: btc,
  ETH: synthetic(btc, 1, 1.2, 0.0002, 0.004),
  SOL: synthetic(btc, 2, 1.5, 0.0006, 0.009),
  GOLD: synthetic(btc, 3, 0.05, 0.00005, 0.002),
  DOGE: synthetic(btc, 4, 1.8, -0.0003, 0.012),
};

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const quad = (cov: number[][], w: readonly number[]): number =>
  sum(w.map((wi, i) => wi * sum(cov[i].map((c, j) => c * w[j]))));
const sharpeOf = (cov: number[][], mu: readonly number[], w: readonly number[]): number =>
  sum(w.map((wi, i) => wi * mu[i])) / Math.sqrt(quad(cov, w));

/** A seeded covariance with a dominant common factor (like crypto): B·Bᵀ + diag, plus mean returns. */
function randomProblem(seed: number, n: number): { cov: number[][]; mu: number[] } {
  const z = normals(seed);
  const u = prng(seed + 1000);
  const factors = Array.from({ length: n }, () => [0.02 * (0.5 + u()), 0.01 * z(), 0.01 * z()]);
  const idio = Array.from({ length: n }, () => (0.002 + 0.02 * u()) ** 2);
  const cov = factors.map((fi, i) =>
    factors.map((fj, j) => sum(fi.map((f, k) => f * fj[k])) + (i === j ? idio[i] : 0)),
  );
  const mu = Array.from({ length: n }, () => 0.001 * z());
  return { cov, mu };
}

/** Scales positive weights to sum 1 under the cap: capped ones held at the cap, the rest scaled up. */
function waterFill(weights: readonly number[], cap: number): number[] {
  const w = [...weights];
  const fixed = new Set<number>();
  for (;;) {
    const free = w.map((_, i) => i).filter((i) => !fixed.has(i));
    const total = sum(free.map((i) => w[i]));
    const budget = 1 - fixed.size * cap;
    // All-zero free weights (a corner solution) can only be spread evenly.
    free.forEach((i) => (w[i] = total > 0 ? (w[i] / total) * budget : budget / free.length));
    const over = free.filter((i) => w[i] > cap);
    if (over.length === 0) return w;
    over.forEach((i) => {
      w[i] = cap;
      fixed.add(i);
    });
  }
}

/** A random feasible portfolio: random positive weights, water-filled under the cap. */
function randomCapped(seed: number, n: number, cap: number): number[] {
  const u = prng(seed);
  return waterFill(
    Array.from({ length: n }, () => -Math.log(1 - u())),
    cap,
  );
}

function expectValidWeights(w: readonly number[], cap: number): void {
  expect(Math.abs(sum(w) - 1)).toBeLessThan(1e-9);
  for (const x of w) {
    expect(x).toBeGreaterThanOrEqual(0);
    expect(x).toBeLessThanOrEqual(cap); // exactly, not within a tolerance
  }
}

describe('portfolio optimizer: weights', () => {
  it.each(RISK_LEVEL_NAMES)(
    '%s on real BTC plus synthetic assets: weights sum to 1 within 1e-9, none above max_position_size',
    (level) => {
      const r = optimizePortfolio({ candles: universe, riskLevel: level, timeframe: '1h' });
      expect(r.method).toBe(RISK_LEVELS[level].method);
      expectValidWeights(Object.values(r.target_weights), RISK_LEVELS[level].max_position_size);
      expect(Object.keys(r.target_weights)).toEqual(Object.keys(universe));
      expect(Math.abs(sum(Object.values(r.risk_contributions)) - 1)).toBeLessThan(1e-9);
    },
  );

  it('keeps the invariants on 12 seeded random covariance matrices, for every method and cap', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const n = 3 + (seed % 10);
      const { cov, mu } = randomProblem(seed, n);
      for (const cap of [0.35, 0.4, 0.5, 1 / 3 + 0.001]) {
        if (n * cap < 1) continue;
        const mv = minVariance(cov, cap);
        const rp = riskParity(cov, cap);
        expectValidWeights(mv, cap);
        expectValidWeights(rp, cap);
        const ms = maxSharpe(cov, mu, cap);
        if (ms) expectValidWeights(ms, cap);
        // Optimality against 200 random feasible portfolios: nothing beats the QP on its own objective.
        for (let k = 0; k < 200; k++) {
          const other = randomCapped(seed * 1000 + k, n, cap);
          expect(quad(cov, mv)).toBeLessThanOrEqual(quad(cov, other) * (1 + 1e-9));
          if (ms) expect(sharpeOf(cov, mu, ms)).toBeGreaterThanOrEqual(sharpeOf(cov, mu, other) - 1e-9);
        }
      }
    }
  });

  it('risk parity gives equal risk contributions to the assets below the cap', () => {
    for (let seed = 20; seed < 26; seed++) {
      const { cov } = randomProblem(seed, 6);
      const w = riskParity(cov, 0.4);
      const rc = riskContributions(cov, w);
      const free = rc.filter((_, i) => w[i] < 0.4 - 1e-9);
      for (const c of free) expect(c).toBeCloseTo(free[0], 8);
      // A capped asset is capped because its equal share of risk would need more than the cap.
      rc.forEach((c, i) => {
        if (w[i] >= 0.4 - 1e-9) expect(c).toBeLessThanOrEqual(free[0] + 1e-9);
      });
    }
  });

  it('gives different portfolios to conservative and aggressive', () => {
    const c = optimizePortfolio({ candles: universe, riskLevel: 'conservative', timeframe: '1h' });
    const a = optimizePortfolio({ candles: universe, riskLevel: 'aggressive', timeframe: '1h' });
    const diff = Math.max(
      ...Object.keys(universe).map((s) => Math.abs(c.target_weights[s] - a.target_weights[s])),
    );
    expect(diff).toBeGreaterThan(0.1);
    expect(a.portfolio_sharpe).toBeGreaterThan(c.portfolio_sharpe);
    expect(c.expected_volatility).toBeLessThan(a.expected_volatility);
  });
});

describe('portfolio optimizer: capped max-Sharpe', () => {
  it('holds the cap exactly wherever the uncapped solution would exceed it', () => {
    const { returns } = alignedReturns(universe, '1h');
    const { cov } = ledoitWolfCovariance(returns);
    const mu = returns.map((r) => sum(r) / r.length);
    const uncapped = maxSharpe(cov, mu, 1) as number[];
    let binding = 0;
    for (const cap of [0.25, 0.3, 0.35, 0.4, 0.45]) {
      if (Math.max(...uncapped) <= cap) continue;
      binding++;
      const capped = maxSharpe(cov, mu, cap) as number[];
      // Exact: equal to the cap up to floating-point rounding, neither above it nor short of it.
      expect(Math.max(...capped)).toBeGreaterThan(cap - 1e-12);
      expectValidWeights(capped, cap);
      // Clipping the uncapped solution afterwards (and water-filling so it sums to 1) is feasible but worse.
      const clipped = waterFill(uncapped, cap);
      expectValidWeights(clipped, cap);
      expect(sharpeOf(cov, mu, capped)).toBeGreaterThan(sharpeOf(cov, mu, clipped) - 1e-12);
      // And plain clip-then-renormalise breaks the cap again.
      const renormalised = uncapped.map((w) => Math.min(w, cap) / sum(uncapped.map((v) => Math.min(v, cap))));
      expect(Math.max(...renormalised)).toBeGreaterThan(cap);
    }
    expect(binding).toBeGreaterThanOrEqual(3);
  });

  it('holds the aggressive cap exactly on seeded problems whose uncapped optimum is concentrated', () => {
    const cap = RISK_LEVELS.aggressive.max_position_size;
    let binding = 0;
    for (let seed = 100; seed < 140; seed++) {
      const { cov, mu } = randomProblem(seed, 5);
      const uncapped = maxSharpe(cov, mu, 1);
      const capped = maxSharpe(cov, mu, cap);
      // null: only assets with a negative mean could fill the rest, so no capped portfolio earns anything.
      if (!uncapped || !capped || Math.max(...uncapped) <= cap + 1e-6) continue;
      binding++;
      expect(Math.max(...capped)).toBeGreaterThan(cap - 1e-12);
      expectValidWeights(capped, cap);
    }
    expect(binding).toBeGreaterThanOrEqual(5);
  });

  it('falls back to minimum variance when no capped portfolio has a positive excess return', () => {
    const { cov } = randomProblem(3, 4);
    expect(maxSharpe(cov, [-0.001, -0.002, 0.0001, -0.003], 0.5)).toBeNull();
    const falling = Object.fromEntries(
      ['A', 'B', 'C'].map((s, k) => [s, synthetic(btc, 40 + k, 0, -0.002, 0.003)]),
    );
    const r = optimizePortfolio({ candles: falling, riskLevel: 'aggressive', timeframe: '1h' });
    expect(r.method).toBe('min_variance');
    expect(r.warnings.join(' ')).toMatch(/max-Sharpe is undefined/);
    expectValidWeights(Object.values(r.target_weights), 0.5);
  });
});

describe('portfolio optimizer: metrics', () => {
  /** Recomputed here from the closes, without the module's helpers. */
  function independentSharpe(
    candles: Record<string, Ohlcv[]>,
    weights: Record<string, number>,
    periodsPerYear: number,
    riskFree = 0,
  ): { sharpe: number; vol: number; drawdown: number } {
    const symbols = Object.keys(candles);
    const bars = candles[symbols[0]].length;
    const port: number[] = [];
    for (let t = 1; t < bars; t++) {
      port.push(sum(symbols.map((s) => weights[s] * (candles[s][t][4] / candles[s][t - 1][4] - 1))));
    }
    const m = sum(port) / port.length;
    const sd = Math.sqrt(sum(port.map((r) => (r - m) ** 2)) / (port.length - 1));
    let equity = 1;
    let peak = 1;
    let drawdown = 0;
    for (const r of port) {
      equity *= 1 + r;
      peak = Math.max(peak, equity);
      drawdown = Math.max(drawdown, (peak - equity) / peak);
    }
    return {
      sharpe: ((m - riskFree / periodsPerYear) / sd) * Math.sqrt(periodsPerYear),
      vol: sd * Math.sqrt(periodsPerYear),
      drawdown,
    };
  }

  it.each(RISK_LEVEL_NAMES)(
    '%s: Sharpe equals an independent recomputation annualised with 8,760 h',
    (level) => {
      const r = optimizePortfolio({ candles: universe, riskLevel: level, timeframe: '1h' });
      const check = independentSharpe(universe, r.target_weights, 365 * 24);
      expect(r.data.periods_per_year).toBe(8760);
      expect(r.data.skipped_returns).toBe(0);
      expect(r.data.returns_used).toBe(btc.length - 1);
      expect(Math.abs(r.portfolio_sharpe - check.sharpe)).toBeLessThan(1e-9);
      expect(Math.abs(r.realised_volatility - check.vol)).toBeLessThan(1e-12);
      expect(Math.abs(r.max_drawdown - check.drawdown)).toBeLessThan(1e-12);
    },
  );

  it('annualises daily bars with 365 periods and subtracts a given risk-free rate', () => {
    const daily = {
      BTC: btcDaily,
      ETH: synthetic(btcDaily, 11, 1.1, 0.001, 0.02),
      GOLD: synthetic(btcDaily, 12, 0.1, 0.0002, 0.008),
    };
    const r = optimizePortfolio({
      candles: daily,
      riskLevel: 'moderate',
      timeframe: '1d',
      riskFreeRate: 0.04,
    });
    const check = independentSharpe(daily, r.target_weights, 365, 0.04);
    expect(r.data.periods_per_year).toBe(365);
    expect(Math.abs(r.portfolio_sharpe - check.sharpe)).toBeLessThan(1e-9);
  });

  it('warns when the historical drawdown exceeds the risk level limit', () => {
    // June 2022: BTC fell 36.5% in two weeks, far beyond the conservative 15%.
    const june = load('BTCUSDT_1h.csv')
      .filter(([ts]) => ts >= Date.parse('2022-06-05T00:00:00Z'))
      .slice(0, 330);
    const candles = {
      BTC: june,
      ETH: synthetic(june, 21, 1.3, 0, 0.004),
      SOL: synthetic(june, 22, 1.6, 0, 0.006),
    };
    const r = optimizePortfolio({ candles, riskLevel: 'conservative', timeframe: '1h' });
    expect(r.max_drawdown).toBeGreaterThan(0.15);
    expect(r.drawdown_exceeded).toBe(true);
    expect(r.warnings.join(' ')).toMatch(/exceeds the conservative limit of 15%/);
  });

  it("matches a numpy port of Ledoit & Wolf's covCor.m (constant-correlation target)", () => {
    const z = normals(77);
    const market = Array.from({ length: 120 }, () => 0.01 * z());
    const returns = [0.8, 1, 1.4, 0.3, -0.2].map((beta, i) =>
      market.map((m) => beta * m + 0.003 * (i + 1) * z()),
    );
    const { cov, shrinkage, average_correlation } = ledoitWolfCovariance(returns);
    // Reference values computed once with numpy from the same seeded returns (covCor.m, then × T/(T−1)).
    expect(shrinkage).toBeCloseTo(0.09591705959597906, 12);
    expect(average_correlation).toBeCloseTo(0.26772083966698934, 12);
    expect(cov[0][1] / 6.503045723070618e-5).toBeCloseTo(1, 12);
    expect(cov[2][4] / -1.5737624590241673e-6).toBeCloseTo(1, 12);
  });

  it('shrinks the covariance: variances kept, shrinkage in [0, 1], symmetric', () => {
    const { returns } = alignedReturns(universe, '1h');
    const { cov, shrinkage } = ledoitWolfCovariance(returns);
    expect(shrinkage).toBeGreaterThan(0);
    expect(shrinkage).toBeLessThanOrEqual(1);
    returns.forEach((r, i) => {
      const m = sum(r) / r.length;
      const variance = sum(r.map((x) => (x - m) ** 2)) / (r.length - 1);
      expect(cov[i][i]).toBeCloseTo(variance, 15);
      cov.forEach((_, j) => expect(cov[i][j]).toBe(cov[j][i]));
    });
  });
});

describe('portfolio optimizer: input problems', () => {
  it('refuses caps that cannot reach 100% with a 400 naming the problem', () => {
    const two = { BTC: universe.BTC, ETH: universe.ETH };
    for (const level of ['conservative', 'moderate'] as const) {
      let error: unknown;
      try {
        optimizePortfolio({ candles: two, riskLevel: level, timeframe: '1h' });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PortfolioInputError);
      expect((error as PortfolioInputError).status).toBe(400);
      expect((error as Error).message).toMatch(/infeasible max_position_size: 2 asset\(s\) capped at 0\.\d+/);
    }
    expect(() => minVariance([[1]], 0.5)).toThrow(/at least 2 assets/);
    // Two assets are enough for the aggressive cap of 0.5.
    const r = optimizePortfolio({ candles: two, riskLevel: 'aggressive', timeframe: '1h' });
    expectValidWeights(Object.values(r.target_weights), 0.5);
  });

  it('needs 30 aligned candles, and drops (and reports) bars not every asset has', () => {
    const short = { BTC: btc.slice(0, 20), ETH: universe.ETH.slice(0, 20), GOLD: universe.GOLD.slice(0, 20) };
    expect(() => optimizePortfolio({ candles: short, riskLevel: 'moderate', timeframe: '1h' })).toThrow(
      /at least 30 aligned candles .* got 20/,
    );
    const holes = { ...universe, ETH: universe.ETH.filter((_, i) => i !== 50 && i !== 51) };
    const r = optimizePortfolio({ candles: holes, riskLevel: 'moderate', timeframe: '1h' });
    expect(r.data.aligned_candles).toBe(btc.length - 2);
    expect(r.data.dropped_candles).toMatchObject({ BTC: 2, ETH: 0, SOL: 2 });
    expect(r.data.skipped_returns).toBe(1); // the return across the 3-hour hole
    expect(r.data.returns_used).toBe(btc.length - 4);
    expect(r.warnings.join(' ')).toMatch(/dropped: BTC 2, SOL 2, GOLD 2, DOGE 2/);
  });

  it('refuses candles of another timeframe and malformed rows', () => {
    expect(() => optimizePortfolio({ candles: universe, riskLevel: 'moderate', timeframe: '4h' })).toThrow(
      /span exactly one 4h bar/,
    );
    const bad = btc.map((row, i): unknown => (i === 3 ? [row[0], 10, 5, 20, 10, 1] : row));
    expect(() =>
      optimizePortfolio({ candles: { ...universe, BTC: bad }, riskLevel: 'moderate', timeframe: '1h' }),
    ).toThrow(/candles\.BTC is malformed: row 3: high 5 < low 20/);
    const flat = btc.map(([ts]): Ohlcv => [ts, 1, 1, 1, 1, 10]);
    expect(() =>
      optimizePortfolio({ candles: { ...universe, USDT: flat }, riskLevel: 'moderate', timeframe: '1h' }),
    ).toThrow(/candles\.USDT: the return never varies/);
  });
});

describe('rebalance plan', () => {
  const target = { BTC: 0.4, ETH: 0.35, GOLD: 0.25 };

  it('derives current weights and trades when the drift exceeds the threshold', () => {
    const plan = rebalancePlan({ BTC: 9000, ETH: 500, GOLD: 500 }, target);
    expect(plan.total_value_usd).toBe(10_000);
    expect(plan.current_weights).toEqual({ BTC: 0.9, ETH: 0.05, GOLD: 0.05 });
    expect(plan.max_weight_drift).toBeCloseTo(0.5, 12);
    expect(plan.rebalance_needed).toBe(true);
    expect(plan.trades).toEqual([
      { symbol: 'BTC', action: 'sell', value_usd: 5000, weight_change: expect.closeTo(-0.5, 12) },
      { symbol: 'ETH', action: 'buy', value_usd: 3000, weight_change: expect.closeTo(0.3, 12) },
      { symbol: 'GOLD', action: 'buy', value_usd: 2000, weight_change: expect.closeTo(0.2, 12) },
    ]);
  });

  it('does not trade a drift within the threshold, and counts a missing position as 0', () => {
    const plan = rebalancePlan({ BTC: 4500, ETH: 3000, GOLD: 2500 }, target);
    expect(plan.max_weight_drift).toBeCloseTo(0.05, 12);
    expect(plan.rebalance_needed).toBe(false);
    expect(plan.trades).toEqual([]);
    const fresh = rebalancePlan({ BTC: 1000 }, target);
    expect(fresh.current_weights).toEqual({ BTC: 1, ETH: 0, GOLD: 0 });
    expect(fresh.trades.map((t) => [t.symbol, t.action])).toEqual([
      ['BTC', 'sell'],
      ['ETH', 'buy'],
      ['GOLD', 'buy'],
    ]);
    expect(() => rebalancePlan({ BTC: 0 }, target)).toThrow(/total value_usd must be greater than 0/);
  });
});

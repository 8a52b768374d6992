import { readFileSync } from 'node:fs';
import { parseCandleCsv } from '../../market-data/candles/csv-candle-source.js';
import type { Ohlcv } from '../../market-data/candles/candle-source.js';
import { alignedReturns, maxSharpe, optimize, RISK_LEVELS, shrunkCovariance } from './optimizer.js';

/** Deterministic synthetic assets next to real BTC: a seeded PRNG, so the test never flakes. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}
const btc = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8'))
  .candles.filter(([ts]) => ts >= Date.parse('2023-01-05T00:00:00Z'))
  .slice(0, 300);
function synthetic(seed: number, drift: number, vol: number): Ohlcv[] {
  const rnd = seeded(seed);
  let price = 100;
  return btc.map(([ts]) => {
    const open = price;
    price *= 1 + drift + vol * (rnd() - 0.5) * 2;
    return [ts, open, Math.max(open, price) * 1.001, Math.min(open, price) * 0.999, price, 1000];
  });
}
const universe = {
  BTC: btc,
  ETH: synthetic(1, 0.0004, 0.012),
  SOL: synthetic(2, 0.0008, 0.03),
  STABLE: synthetic(3, 0.00001, 0.001),
};

describe('portfolio optimizer', () => {
  for (const level of Object.keys(RISK_LEVELS) as (keyof typeof RISK_LEVELS)[]) {
    it(`${level}: weights sum to 1 within 1e-9 and none exceeds max_position_size`, () => {
      const r = optimize(universe, level, '1h');
      const w = Object.values(r.target_weights);
      expect(Math.abs(w.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
      for (const x of w) {
        expect(x).toBeGreaterThanOrEqual(-1e-12);
        expect(x).toBeLessThanOrEqual(RISK_LEVELS[level].max_position_size + 1e-9);
      }
    });
  }

  it('conservative and aggressive give different portfolios', () => {
    const c = optimize(universe, 'conservative', '1h').target_weights;
    const a = optimize(universe, 'aggressive', '1h').target_weights;
    expect(Math.max(...Object.keys(c).map((k) => Math.abs(c[k] - a[k])))).toBeGreaterThan(0.05);
  });

  it('reports a Sharpe equal to an independent recomputation, annualised with 8,760 hours', () => {
    const r = optimize(universe, 'moderate', '1h');
    const { symbols, returns } = alignedReturns(universe);
    const port = returns[0].map((_, k) =>
      symbols.reduce((s, sym, i) => s + r.target_weights[sym] * returns[i][k], 0),
    );
    const m = port.reduce((a, b) => a + b, 0) / port.length;
    const sd = Math.sqrt(port.reduce((a, b) => a + (b - m) ** 2, 0) / (port.length - 1));
    expect(r.periods_per_year).toBe(8760);
    expect(Math.abs(r.portfolio_sharpe - (m / sd) * Math.sqrt(8760))).toBeLessThan(1e-9);
  });

  it('holds the cap exactly where the uncapped max-Sharpe portfolio would exceed it', () => {
    const { returns } = alignedReturns(universe);
    const cov = shrunkCovariance(returns);
    const mu = returns.map((r) => r.reduce((a, b) => a + b, 0) / r.length);
    const loose = maxSharpe(cov, mu, 1) as number[];
    const capped = maxSharpe(cov, mu, 0.35) as number[];
    expect(Math.max(...loose)).toBeGreaterThan(0.35);
    expect(Math.max(...capped)).toBeLessThanOrEqual(0.35 + 1e-9);
    expect(Math.max(...capped)).toBeGreaterThan(0.35 - 1e-6); // binding, not clipped
  });

  it('refuses caps that cannot sum to one and too few aligned bars', () => {
    expect(() => optimize({ BTC: btc }, 'conservative', '1h')).toThrow(/cannot sum to 1/);
    expect(() =>
      optimize({ BTC: btc.slice(0, 10), ETH: universe.ETH.slice(0, 10) }, 'moderate', '1h'),
    ).toThrow(/at least 31 bars/);
  });
});

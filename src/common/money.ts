/**
 * Money is counted in integer picodollars (1e-12 USD) wherever it is summed — ledger, budgets, totals — so
 * that sums are exact: a total equals the sum of its calls to the picodollar.
 */
export const toPico = (usd: number): bigint => BigInt(Math.round(usd * 1e12));

export const fromPico = (pico: bigint | string | number | null | undefined): number =>
  pico === null || pico === undefined || pico === '' ? 0 : Number(BigInt(pico)) / 1e12;

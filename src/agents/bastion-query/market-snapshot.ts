import type { MarketContext } from '../../market-data/market-context.service.js';

/**
 * The market context of a query as the answer and the prompt carry it: each source's normalised data, never
 * a vendor payload, and what failed.
 */
/** The first symbol's market data as the answer and the prompt carry it: normalised, no vendor payloads. */
export interface MarketSnapshot {
  symbol: string;
  /** Last price from the first source that has one, else null. */
  price: number | null;
  /** Source name → its normalised data. */
  data: Record<string, Record<string, unknown>>;
  data_sources: string[];
  disabled_sources: string[];
  /** Source name → why it gave nothing this time (the answer is built without it). */
  errors: Record<string, { reason: string; message: string }>;
  latency_ms: Record<string, number>;
}

/** Vendor payloads and lists: they bloat the prompt and change on every call without changing the plan. */
const HEAVY_FIELDS = new Set(['raw', 'recent_alerts', 'partial_errors']);

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
export const numberOr = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

/** Each source's normalised part (`normalized` when the source also returns the vendor payload). */
export function snapshot(context: MarketContext): MarketSnapshot {
  const data: Record<string, Record<string, unknown>> = {};
  for (const [name, value] of Object.entries(context.data)) {
    const normal = isRecord(value.normalized) ? value.normalized : value;
    data[name] = Object.fromEntries(Object.entries(normal).filter(([k]) => !HEAVY_FIELDS.has(k)));
  }
  const price = Object.values(data)
    .map((d) => numberOr(d.price))
    .find((p) => p !== null);
  return {
    symbol: context.symbol,
    price: price ?? null,
    data,
    data_sources: context.data_sources,
    disabled_sources: context.disabled_sources,
    errors: context.errors,
    latency_ms: context.latency_ms,
  };
}

/** What the model sees of the market: data only — no latencies or error texts that differ on every call. */
export function promptMarket(m: MarketSnapshot): Record<string, unknown> {
  return {
    symbol: m.symbol,
    price: m.price,
    ...m.data,
    unavailable_sources: Object.keys(m.errors).sort(),
  };
}

import type { MarketSymbol } from './symbols.js';

/**
 * One data vendor behind the market context, one interface for all of them: the context service iterates
 * every source registered under MARKET_SOURCES, so a new vendor is one class.
 */
export interface MarketSource {
  /** Stable name used in `data_sources`, `errors` and health details: `helsinki`, `coinglass`, … */
  readonly name: string;
  /** false when its configuration is absent; it is then reported as disabled, not as an error. */
  readonly enabled: boolean;
  /** Deadline of this source's part of a context request. */
  readonly deadlineMs: number;
  /** Normalised data the agents read, numbers as numbers; throws VendorError on failure. */
  context(symbol: MarketSymbol, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** Whether the vendor answers (for /health/ready details; never makes Bastion unready). */
  healthy(): Promise<boolean>;
}

export const MARKET_SOURCES = Symbol('MARKET_SOURCES');

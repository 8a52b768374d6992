import { Inject, Injectable, Logger } from '@nestjs/common';
import { MARKET_SOURCES, type MarketSource } from './market-source.js';
import { parseSymbol, type MarketSymbol } from './symbols.js';
import { VendorError } from './vendor-http.js';

export interface SourceError {
  reason: string;
  message: string;
}

export interface MarketContext {
  symbol: string;
  data: Record<string, Record<string, unknown>>;
  data_sources: string[];
  disabled_sources: string[];
  errors: Record<string, SourceError>;
  latency_ms: Record<string, number>;
}

/** Runs `work` under its own deadline; the deadline also aborts the vendor request. */
async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new VendorError('deadline', 'timeout', `no answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Gathers every configured source in parallel, each under its own deadline; one failing or slow source
 * never takes the others down — it is reported under `errors`.
 */
@Injectable()
export class MarketContextService {
  private readonly logger = new Logger(MarketContextService.name);
  private health: { at: number; value: Record<string, unknown> } | null = null;

  constructor(@Inject(MARKET_SOURCES) private readonly sources: MarketSource[]) {}

  async context(input: string): Promise<MarketContext> {
    const symbol = parseSymbol(input);
    return this.contextFor(symbol);
  }

  async contextFor(symbol: MarketSymbol): Promise<MarketContext> {
    const result: MarketContext = {
      symbol: symbol.unified,
      data: {},
      data_sources: [],
      disabled_sources: [],
      errors: {},
      latency_ms: {},
    };
    const started = performance.now();
    await Promise.all(
      this.sources.map(async (source) => {
        if (!source.enabled) {
          result.disabled_sources.push(source.name);
          return;
        }
        const t0 = performance.now();
        try {
          result.data[source.name] = await withDeadline(source.deadlineMs, (signal) =>
            source.context(symbol, signal),
          );
          result.data_sources.push(source.name);
        } catch (err) {
          const reason = err instanceof VendorError ? err.reason : 'error';
          const message = err instanceof Error ? err.message : String(err);
          result.errors[source.name] = { reason, message };
          this.logger.warn(`Market source ${source.name} failed for ${symbol.unified}: ${message}`);
        } finally {
          result.latency_ms[source.name] = Math.round(performance.now() - t0);
        }
      }),
    );
    result.latency_ms.total = Math.round(performance.now() - started);
    result.data_sources.sort();
    result.disabled_sources.sort();
    return result;
  }

  /** Each source: disabled, up or down. Cached 30 s so readiness probes do not hammer vendors. */
  async healthDetails(): Promise<Record<string, unknown>> {
    if (this.health && Date.now() - this.health.at < 30_000) return this.health.value;
    const entries = await Promise.all(
      this.sources.map(async (s): Promise<[string, string]> => {
        if (!s.enabled) return [s.name, 'disabled'];
        try {
          return [s.name, (await withDeadline(2000, () => s.healthy())) ? 'up' : 'down'];
        } catch {
          return [s.name, 'down'];
        }
      }),
    );
    const value = Object.fromEntries(entries);
    this.health = { at: Date.now(), value };
    return value;
  }
}

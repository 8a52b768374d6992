import { Injectable, Logger } from '@nestjs/common';
import { RedisService } from '../redis/redis.service.js';
import { fromPico, toPico } from '../ai-optimization/pricing.js';
import { utcDay, utcMonth } from '../common/clock.js';

/** Where a saving came from (DESIGN 5, "Savings are counted per layer"). */
export const SAVING_LAYERS = [
  'prompt_cache',
  'response_cache',
  'coalescing',
  'sampling',
  'event_filter',
  'batching',
] as const;
export type SavingLayer = (typeof SAVING_LAYERS)[number];

export interface UpstreamCallRecord {
  model: string;
  provider: string;
  promptTokens: number | null;
  cachedPromptTokens: number | null;
  completionTokens: number | null;
  costUsd: number | null;
  uncachedCostUsd: number | null;
  latencyMs: number;
}

/** One request to the gateway and, when it made one, its upstream call. */
export interface LedgerEntry {
  requestId: string;
  at: number;
  agent: string;
  symbol: string | undefined;
  reason: string;
  /** true = answered from the response cache, false = looked up and missed, null = cache not consulted. */
  cacheHit: boolean | null;
  savedUsd: number | null;
  savedLayer: SavingLayer | null;
  call: UpstreamCallRecord | null;
}

/** Aggregates kept per scope; money in integer picodollars so totals equal the sum of the calls exactly. */
export interface ScopeTotals {
  requests: number;
  calls: number;
  costUsd: number;
  costPico: bigint;
  unpricedCalls: number;
  promptTokens: number;
  cachedPromptTokens: number;
  completionTokens: number;
  cacheHits: number;
  cacheMisses: number;
  savedUsd: Record<SavingLayer, number>;
  savedPico: bigint;
  reasons: Record<string, number>;
}

const LEDGER_MAX_LEN = 100_000;

/**
 * The cost ledger: every upstream call in a capped Redis stream, plus per-scope aggregates (all time, UTC
 * day, UTC month, agent, model) updated atomically in the same round trip.
 */
@Injectable()
export class CostLedger {
  private readonly logger = new Logger(CostLedger.name);

  constructor(private readonly redis: RedisService) {}

  scopesFor(entry: Pick<LedgerEntry, 'at' | 'agent'> & { model?: string }): string[] {
    const day = utcDay(entry.at);
    const month = utcMonth(entry.at);
    const scopes = [
      'total',
      `day:${day}`,
      `month:${month}`,
      `agent:${entry.agent}`,
      `day:${day}:agent:${entry.agent}`,
    ];
    scopes.push(`month:${month}:agent:${entry.agent}`);
    if (entry.model) scopes.push(`model:${entry.model}`, `day:${day}:model:${entry.model}`);
    return scopes;
  }

  async record(entry: LedgerEntry): Promise<void> {
    const k = this.redis.keys;
    const inc: Record<string, number | bigint> = { requests: 1, [`reason:${entry.reason}`]: 1 };
    if (entry.cacheHit === true) inc.cache_hits = 1;
    if (entry.cacheHit === false) inc.cache_misses = 1;
    if (entry.savedUsd !== null && entry.savedLayer !== null && entry.savedUsd > 0) {
      inc[`saved_pico:${entry.savedLayer}`] = toPico(entry.savedUsd);
    }
    const call = entry.call;
    if (call) {
      inc.calls = 1;
      inc.prompt_tokens = call.promptTokens ?? 0;
      inc.cached_tokens = call.cachedPromptTokens ?? 0;
      inc.completion_tokens = call.completionTokens ?? 0;
      if (call.costUsd === null) inc.unpriced_calls = 1;
      else inc.cost_pico = toPico(call.costUsd);
      if (call.costUsd !== null && call.uncachedCostUsd !== null) {
        const promptSaving = toPico(call.uncachedCostUsd) - toPico(call.costUsd);
        if (promptSaving > 0n) inc['saved_pico:prompt_cache'] = promptSaving;
      }
    }
    const scopes = this.scopesFor({ at: entry.at, agent: entry.agent, model: call?.model });
    const pipeline = this.redis.pipeline();
    const args: string[] = [];
    for (const [field, by] of Object.entries(inc)) if (by !== 0 && by !== 0n) args.push(field, by.toString());
    pipeline.hincrMany(scopes.length, ...scopes.map((s) => k.stats(s)), ...args, 0);
    pipeline.sadd(k.statsIndex('agents'), entry.agent);
    if (call) {
      pipeline.sadd(k.statsIndex('models'), call.model);
      pipeline.xadd(
        k.ledger(),
        'MAXLEN',
        '~',
        LEDGER_MAX_LEN,
        '*',
        'request_id',
        entry.requestId,
        'at',
        new Date(entry.at).toISOString(),
        'agent',
        entry.agent,
        'symbol',
        entry.symbol ?? '',
        'model',
        call.model,
        'provider',
        call.provider,
        'prompt_tokens',
        String(call.promptTokens ?? ''),
        'cached_prompt_tokens',
        String(call.cachedPromptTokens ?? ''),
        'completion_tokens',
        String(call.completionTokens ?? ''),
        'cost_usd',
        call.costUsd === null ? 'unknown' : String(call.costUsd),
        'latency_ms',
        String(call.latencyMs),
      );
    }
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err !== null);
    if (failed) throw failed[0] as Error;
  }

  /** Record without letting a Redis outage fail the request; the miss is logged. */
  async recordSafely(entry: LedgerEntry): Promise<void> {
    try {
      await this.record(entry);
    } catch (err) {
      this.logger.error(
        `Could not record request ${entry.requestId} in the ledger: ${(err as Error).message}`,
      );
    }
  }

  async totals(scope: string): Promise<ScopeTotals> {
    const raw = await this.redis.client.hgetall(this.redis.keys.stats(scope));
    return parseTotals(raw);
  }

  async totalsMany(scopes: string[]): Promise<ScopeTotals[]> {
    if (scopes.length === 0) return [];
    const pipeline = this.redis.client.pipeline();
    for (const s of scopes) pipeline.hgetall(this.redis.keys.stats(s));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, raw]) => {
      if (err) throw err;
      return parseTotals(raw as Record<string, string>);
    });
  }

  async agents(): Promise<string[]> {
    return (await this.redis.client.smembers(this.redis.keys.statsIndex('agents'))).sort();
  }

  async models(): Promise<string[]> {
    return (await this.redis.client.smembers(this.redis.keys.statsIndex('models'))).sort();
  }

  /** Most recent calls, newest first. */
  async recentCalls(count: number): Promise<Record<string, string>[]> {
    const rows = await this.redis.client.xrevrange(this.redis.keys.ledger(), '+', '-', 'COUNT', count);
    return rows.map(([id, fields]) => {
      const row: Record<string, string> = { id };
      for (let i = 0; i < fields.length; i += 2) row[fields[i]] = fields[i + 1];
      return row;
    });
  }
}

export function parseTotals(raw: Record<string, string>): ScopeTotals {
  const n = (f: string): number => Number(raw[f] ?? 0);
  const costPico = BigInt(raw.cost_pico ?? 0);
  const savedUsd = {} as Record<SavingLayer, number>;
  let savedPico = 0n;
  for (const layer of SAVING_LAYERS) {
    const pico = BigInt(raw[`saved_pico:${layer}`] ?? 0);
    savedPico += pico;
    savedUsd[layer] = fromPico(pico);
  }
  const reasons: Record<string, number> = {};
  for (const [field, value] of Object.entries(raw)) {
    if (field.startsWith('reason:')) reasons[field.slice(7)] = Number(value);
  }
  return {
    requests: n('requests'),
    calls: n('calls'),
    costUsd: fromPico(costPico),
    costPico,
    unpricedCalls: n('unpriced_calls'),
    promptTokens: n('prompt_tokens'),
    cachedPromptTokens: n('cached_tokens'),
    completionTokens: n('completion_tokens'),
    cacheHits: n('cache_hits'),
    cacheMisses: n('cache_misses'),
    savedUsd,
    savedPico,
    reasons,
  };
}

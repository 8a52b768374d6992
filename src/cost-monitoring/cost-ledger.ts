import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { RedisService } from '../redis/redis.service.js';
import { MetricsService } from './metrics.service.js';
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
  /** Extra counters for this request's scopes (e.g. adaptive_calls). */
  counters?: Record<string, number>;
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
  adaptiveCalls: number;
}

const LEDGER_MAX_LEN = 100_000;
const FLUSH_INTERVAL_MS = 200;
const FLUSH_RETRY_MS = 2000;

function ledgerFields(entry: LedgerEntry, call: UpstreamCallRecord): string[] {
  return [
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
  ];
}

/**
 * The cost ledger: every upstream call in a capped Redis stream, plus per-scope aggregates (all time, UTC
 * day, UTC month, agent, model) updated atomically in the same round trip.
 */
@Injectable()
export class CostLedger implements BeforeApplicationShutdown {
  private readonly logger = new Logger(CostLedger.name);
  private pendingCounters = new Map<string, Map<string, bigint>>();
  private pendingCalls: { entry: LedgerEntry; call: UpstreamCallRecord }[] = [];
  private pendingAgents = new Set<string>();
  private pendingModels = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly averages = new Map<string, { at: number; value: number | null }>();

  constructor(
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
  ) {}

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

  /**
   * Adds the request to the in-memory batch. Counters are summed here and written in one round trip every
   * FLUSH_INTERVAL_MS (and before any read and on shutdown): a cache hit then costs no Redis write of its own.
   * Budgets do not depend on this batch; they are reserved and settled atomically in Redis per call.
   */
  record(entry: LedgerEntry): void {
    this.metrics.observe(entry);
    const inc: Record<string, bigint> = { requests: 1n, [`reason:${entry.reason}`]: 1n };
    for (const [field, by] of Object.entries(entry.counters ?? {})) inc[field] = BigInt(by);
    if (entry.cacheHit === true) inc.cache_hits = 1n;
    if (entry.cacheHit === false) inc.cache_misses = 1n;
    if (entry.savedUsd !== null && entry.savedLayer !== null && entry.savedUsd > 0) {
      inc[`saved_pico:${entry.savedLayer}`] = toPico(entry.savedUsd);
    }
    const call = entry.call;
    if (call) {
      inc.calls = 1n;
      inc.prompt_tokens = BigInt(call.promptTokens ?? 0);
      inc.cached_tokens = BigInt(call.cachedPromptTokens ?? 0);
      inc.completion_tokens = BigInt(call.completionTokens ?? 0);
      if (call.costUsd === null) inc.unpriced_calls = 1n;
      else inc.cost_pico = toPico(call.costUsd);
      if (call.costUsd !== null && call.uncachedCostUsd !== null) {
        const promptSaving = toPico(call.uncachedCostUsd) - toPico(call.costUsd);
        if (promptSaving > 0n) inc['saved_pico:prompt_cache'] = promptSaving;
      }
      this.pendingCalls.push({ entry, call });
      this.pendingModels.add(call.model);
    }
    this.pendingAgents.add(entry.agent);
    for (const scope of this.scopesFor({ at: entry.at, agent: entry.agent, model: call?.model })) {
      let fields = this.pendingCounters.get(scope);
      if (!fields) this.pendingCounters.set(scope, (fields = new Map<string, bigint>()));
      for (const [field, by] of Object.entries(inc)) fields.set(field, (fields.get(field) ?? 0n) + by);
    }
    this.timer ??= setTimeout(() => void this.flushSafely(), FLUSH_INTERVAL_MS).unref();
  }

  /** A saving that is not tied to one request (e.g. the calls a flushed batch avoided). */
  recordSaving(at: number, agent: string, layer: SavingLayer, usd: number): void {
    if (!(usd > 0)) return;
    this.metrics.saving(layer, usd);
    const field = `saved_pico:${layer}`;
    for (const scope of this.scopesFor({ at, agent })) {
      let fields = this.pendingCounters.get(scope);
      if (!fields) this.pendingCounters.set(scope, (fields = new Map<string, bigint>()));
      fields.set(field, (fields.get(field) ?? 0n) + toPico(usd));
    }
    this.timer ??= setTimeout(() => void this.flushSafely(), FLUSH_INTERVAL_MS).unref();
  }

  /** The agent's average priced call cost, the price of a call a gate avoided (null until one is priced). */
  async averageCallCost(agent: string): Promise<number | null> {
    const memo = this.averages.get(agent);
    const now = Date.now();
    if (memo && now - memo.at < 10_000) return memo.value;
    let value: number | null;
    try {
      const t = await this.totals(`agent:${agent}`);
      const priced = t.calls - t.unpricedCalls;
      value = priced > 0 ? t.costUsd / priced : null;
    } catch {
      value = memo?.value ?? null;
    }
    this.averages.set(agent, { at: now, value });
    return value;
  }

  /** Writes the batch to Redis in one pipeline. On failure the batch is kept and retried on the next flush. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingCounters.size === 0) return;
    const counters = this.pendingCounters;
    const calls = this.pendingCalls;
    const agents = this.pendingAgents;
    const models = this.pendingModels;
    this.pendingCounters = new Map();
    this.pendingCalls = [];
    this.pendingAgents = new Set();
    this.pendingModels = new Set();
    const k = this.redis.keys;
    const pipeline = this.redis.pipeline();
    for (const [scope, fields] of counters) {
      for (const [field, by] of fields) if (by !== 0n) pipeline.hincrby(k.stats(scope), field, by.toString());
    }
    pipeline.sadd(k.statsIndex('agents'), ...agents);
    if (models.size > 0) pipeline.sadd(k.statsIndex('models'), ...models);
    for (const { entry, call } of calls) {
      pipeline.xadd(k.ledger(), 'MAXLEN', '~', LEDGER_MAX_LEN, '*', ...ledgerFields(entry, call));
    }
    try {
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0] as Error;
    } catch (err) {
      // Put the batch back (merged with anything recorded meanwhile) so no count is lost across an outage.
      for (const [scope, fields] of counters) {
        const current = this.pendingCounters.get(scope) ?? new Map<string, bigint>();
        for (const [field, by] of fields) current.set(field, (current.get(field) ?? 0n) + by);
        this.pendingCounters.set(scope, current);
      }
      this.pendingCalls.unshift(...calls);
      agents.forEach((a) => this.pendingAgents.add(a));
      models.forEach((m) => this.pendingModels.add(m));
      this.timer ??= setTimeout(() => void this.flushSafely(), FLUSH_RETRY_MS).unref();
      throw err;
    }
  }

  async flushSafely(): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      this.logger.warn(
        `Ledger batch not written yet (${(err as Error).message}); kept in memory and retried`,
      );
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flushSafely();
  }

  async totals(scope: string): Promise<ScopeTotals> {
    await this.flushSafely();
    const raw = await this.redis.client.hgetall(this.redis.keys.stats(scope));
    return parseTotals(raw);
  }

  async totalsMany(scopes: string[]): Promise<ScopeTotals[]> {
    if (scopes.length === 0) return [];
    await this.flushSafely();
    const pipeline = this.redis.client.pipeline();
    for (const s of scopes) pipeline.hgetall(this.redis.keys.stats(s));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, raw]) => {
      if (err) throw err;
      return parseTotals(raw as Record<string, string>);
    });
  }

  async agents(): Promise<string[]> {
    await this.flushSafely();
    return (await this.redis.client.smembers(this.redis.keys.statsIndex('agents'))).sort();
  }

  async models(): Promise<string[]> {
    return (await this.redis.client.smembers(this.redis.keys.statsIndex('models'))).sort();
  }

  /** Most recent calls, newest first. */
  async recentCalls(count: number): Promise<Record<string, string>[]> {
    await this.flushSafely();
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
    adaptiveCalls: n('adaptive_calls'),
  };
}

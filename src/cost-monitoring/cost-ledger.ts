import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { LedgerRepository, type LedgerBatch } from '../redis/repositories/ledger.repository.js';
import { MetricsService } from './metrics.service.js';
import { fromPico, toPico } from '../common/money.js';
import { utcDay, utcMonth } from '../common/clock.js';
import { DEFAULT_TENANT } from '../common/tenant.js';
import {
  SAVING_LAYERS,
  type LedgerEntry,
  type SavingLayer,
  type UpstreamCallRecord,
} from './ledger-entry.js';

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

/** Counters of one (day, agent, model) group, spread over its scopes only when the batch is sealed. */
interface Group {
  at: number;
  agent: string;
  model: string | undefined;
  /** The owners whose own scopes the group also counts in: `tenant:<t>`, and `key:<id>` for a managed key. */
  owners: string[];
  fields: Map<string, bigint>;
}

const addTo = (fields: Map<string, bigint>, field: string, by: bigint): void => {
  fields.set(field, (fields.get(field) ?? 0n) + by);
};

/**
 * Counters and rows gathered in memory until the next write. A request adds to one group (its day, agent and
 * model); the seven scopes of the ledger (total, day, month, agent, …) are derived from the groups once per
 * batch, not once per request.
 */
class PendingBatch {
  readonly groups = new Map<string, Group>();
  /** Counters kept outside the scopes (the event gate's). */
  readonly extra = new Map<string, Map<string, bigint>>();
  readonly rows: string[][] = [];

  group(at: number, agent: string, model: string | undefined, owners: string[]): Map<string, bigint> {
    const key = `${utcDay(at)}\u0000${agent}\u0000${model ?? ''}\u0000${owners.join('\u0000')}`;
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { at, agent, model, owners, fields: new Map<string, bigint>() }));
    return g.fields;
  }

  addExtra(hash: string, field: string, by: bigint): void {
    let fields = this.extra.get(hash);
    if (!fields) this.extra.set(hash, (fields = new Map<string, bigint>()));
    addTo(fields, field, by);
  }

  get empty(): boolean {
    return this.groups.size === 0 && this.extra.size === 0 && this.rows.length === 0;
  }

  seal(ledger: LedgerRepository, scopesFor: (g: Group) => string[]): LedgerBatch {
    const counters = new Map<string, Map<string, bigint>>(this.extra);
    const agents = new Set<string>();
    const models = new Set<string>();
    const indexes = new Map<string, Set<string>>();
    const index = (set: string, member: string): void => {
      let members = indexes.get(set);
      if (!members) indexes.set(set, (members = new Set<string>()));
      members.add(member);
    };
    for (const g of this.groups.values()) {
      agents.add(g.agent);
      if (g.model) models.add(g.model);
      for (const owner of g.owners) {
        const [kind, id] = owner.split(/:(.*)/s);
        index(ledger.indexSet(kind === 'tenant' ? 'tenants' : 'keys'), id);
        index(ledger.indexSet('agents', owner), g.agent);
      }
      for (const scope of scopesFor(g)) {
        const hash = ledger.statsHash(scope);
        let fields = counters.get(hash);
        if (!fields) counters.set(hash, (fields = new Map<string, bigint>()));
        for (const [field, by] of g.fields) addTo(fields, field, by);
      }
    }
    return {
      id: randomUUID(),
      counters: [...counters].map(([hash, fields]) => ({ hash, fields })),
      indexes: [
        { set: ledger.indexSet('agents'), members: agents },
        { set: ledger.indexSet('models'), members: models },
        ...[...indexes].map(([set, members]) => ({ set, members })),
      ].filter((i) => i.members.size > 0),
      rows: this.rows,
    };
  }
}

/**
 * The cost ledger: every upstream call in a capped Redis stream, plus per-scope aggregates (all time, UTC
 * day, UTC month, agent, model). Requests are summed in memory and written every FLUSH_INTERVAL_MS as one
 * sealed batch: a cache hit costs no Redis write of its own, and a batch is written exactly once — kept while
 * Redis is away, and not counted twice when a write that timed out had in fact landed.
 */
@Injectable()
export class CostLedger implements BeforeApplicationShutdown {
  private readonly logger = new Logger(CostLedger.name);
  private pending = new PendingBatch();
  /** Sealed batches not yet acknowledged by Redis, oldest first; each is retried with its own id. */
  private readonly sealed: LedgerBatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  private readonly averages = new Map<string, { at: number; value: number | null }>();

  constructor(
    private readonly store: LedgerRepository,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * The scopes a request counts in: overall (total, day, month, agent and model, per day and month), and the
   * same per owner — its tenant, and its managed key — prefixed `tenant:<t>:` or `key:<id>:` (so usage by
   * tenant or key is read exactly like the overall figures).
   */
  scopesFor(entry: Pick<LedgerEntry, 'at' | 'agent'> & { model?: string; owners?: string[] }): string[] {
    const day = utcDay(entry.at);
    const month = utcMonth(entry.at);
    const scopes = [
      'total',
      `day:${day}`,
      `month:${month}`,
      `agent:${entry.agent}`,
      `day:${day}:agent:${entry.agent}`,
      `month:${month}:agent:${entry.agent}`,
    ];
    if (entry.model) scopes.push(`model:${entry.model}`, `day:${day}:model:${entry.model}`);
    for (const owner of entry.owners ?? []) {
      scopes.push(owner, `${owner}:day:${day}`, `${owner}:month:${month}`, `${owner}:agent:${entry.agent}`);
    }
    return scopes;
  }

  /** The owners of a request: its tenant, and its managed key if it has one. */
  private ownersOf(entry: Pick<LedgerEntry, 'tenant' | 'keyId'>): string[] {
    const owners = [`tenant:${entry.tenant ?? DEFAULT_TENANT}`];
    if (entry.keyId) owners.push(`key:${entry.keyId}`);
    return owners;
  }

  /** Adds the request to the batch in memory; it is written within FLUSH_INTERVAL_MS. */
  record(entry: LedgerEntry): void {
    this.metrics.observe(entry);
    const call = entry.call;
    const fields = this.pending.group(entry.at, entry.agent, call?.model, this.ownersOf(entry));
    addTo(fields, 'requests', 1n);
    addTo(fields, `reason:${entry.reason}`, 1n);
    for (const [field, by] of Object.entries(entry.counters ?? {})) addTo(fields, field, BigInt(by));
    if (entry.cacheHit === true) addTo(fields, 'cache_hits', 1n);
    if (entry.cacheHit === false) addTo(fields, 'cache_misses', 1n);
    if (entry.savedUsd !== null && entry.savedLayer !== null && entry.savedUsd > 0) {
      addTo(fields, `saved_pico:${entry.savedLayer}`, toPico(entry.savedUsd));
    }
    if (call) {
      addTo(fields, 'calls', 1n);
      addTo(fields, 'prompt_tokens', BigInt(call.promptTokens ?? 0));
      addTo(fields, 'cached_tokens', BigInt(call.cachedPromptTokens ?? 0));
      addTo(fields, 'completion_tokens', BigInt(call.completionTokens ?? 0));
      if (call.costUsd === null) addTo(fields, 'unpriced_calls', 1n);
      else addTo(fields, 'cost_pico', toPico(call.costUsd));
      if (call.costUsd !== null && call.uncachedCostUsd !== null) {
        const promptSaving = toPico(call.uncachedCostUsd) - toPico(call.costUsd);
        if (promptSaving > 0n) addTo(fields, 'saved_pico:prompt_cache', promptSaving);
      }
      this.pending.rows.push(ledgerFields(entry, call));
    }
    this.schedule(FLUSH_INTERVAL_MS);
  }

  /** A saving that is not tied to one request (e.g. the calls a flushed batch avoided). */
  recordSaving(at: number, agent: string, layer: SavingLayer, usd: number, tenant = DEFAULT_TENANT): void {
    if (!(usd > 0)) return;
    this.metrics.saving(layer, usd);
    addTo(
      this.pending.group(at, agent, undefined, this.ownersOf({ tenant })),
      `saved_pico:${layer}`,
      toPico(usd),
    );
    this.schedule(FLUSH_INTERVAL_MS);
  }

  /** Counters of the event gate, written with the same batch. */
  countEvent(fields: Record<string, number>): void {
    const hash = this.store.eventsHash();
    for (const [field, by] of Object.entries(fields)) this.pending.addExtra(hash, field, BigInt(by));
    this.schedule(FLUSH_INTERVAL_MS);
  }

  /** The agent's average priced call cost, the price of a call a gate avoided (null until one is priced). */
  async averageCallCost(agent: string): Promise<number | null> {
    const memo = this.averages.get(agent);
    const now = Date.now();
    if (memo && now - memo.at < 10_000) return memo.value;
    await this.flushSafely();
    const raw = await this.store.hashForAverage(this.store.statsHash(`agent:${agent}`));
    let value = memo?.value ?? null; // Redis away: the last known average
    if (raw !== null) {
      const t = parseTotals(raw);
      const priced = t.calls - t.unpricedCalls;
      value = priced > 0 ? t.costUsd / priced : null;
    }
    this.averages.set(agent, { at: now, value });
    return value;
  }

  /**
   * Writes the batch gathered so far and every batch still waiting, in order. Throws when Redis does not
   * take them; they stay and are retried (policy ledger.write).
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.writeSealed().finally(() => (this.flushing = null));
    await this.flushing;
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

  /** Batches waiting for Redis (0 once everything is written). */
  get backlog(): number {
    return this.sealed.length + (this.pending.empty ? 0 : 1);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flushSafely();
    clearTimeout(this.timer);
  }

  async totals(scope: string): Promise<ScopeTotals> {
    await this.flushSafely();
    return parseTotals(await this.store.hash(this.store.statsHash(scope)));
  }

  async totalsMany(scopes: string[]): Promise<ScopeTotals[]> {
    if (scopes.length === 0) return [];
    await this.flushSafely();
    const raws = await this.store.hashes(scopes.map((s) => this.store.statsHash(s)));
    return raws.map(parseTotals);
  }

  /** The event gate's counters (see countEvent). */
  async eventCounters(): Promise<Record<string, string>> {
    await this.flushSafely();
    return this.store.hash(this.store.eventsHash());
  }

  /** The agents seen overall, or by one owner (`tenant:<t>`, `key:<id>`). */
  async agents(owner?: string): Promise<string[]> {
    await this.flushSafely();
    return (await this.store.members(this.store.indexSet('agents', owner))).sort();
  }

  /** The tenants, or the managed keys, that have made requests. */
  async owners(kind: 'tenants' | 'keys'): Promise<string[]> {
    await this.flushSafely();
    return (await this.store.members(this.store.indexSet(kind))).sort();
  }

  async models(): Promise<string[]> {
    return (await this.store.members(this.store.indexSet('models'))).sort();
  }

  /** Most recent calls, newest first. */
  async recentCalls(count: number): Promise<Record<string, string>[]> {
    await this.flushSafely();
    return this.store.recentRows(count);
  }

  private schedule(ms: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flushSafely();
    }, ms).unref();
  }

  private async writeSealed(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending.empty) {
      this.sealed.push(this.pending.seal(this.store, (g) => this.scopesFor(g)));
      this.pending = new PendingBatch();
    }
    while (this.sealed.length > 0) {
      try {
        await this.store.write(this.sealed[0]);
      } catch (err) {
        this.schedule(FLUSH_RETRY_MS);
        throw err;
      }
      this.sealed.shift();
    }
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

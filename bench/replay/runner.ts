/**
 * Runs one layer of the replay through the real pipeline: a fresh Bastion (createApp) on a ManualClock, a
 * real Redis under its own key prefix, and the fake DeepSeek over HTTP under its own namespace (so the
 * provider's prefix cache of one layer never helps another). Requests are handed to the gateway services in
 * process (AiGateway.call is what POST /ai/call runs, EventGate.handle what POST /ai/events runs); every
 * upstream call goes over HTTP through Bastion's provider client, exactly as in production.
 *
 * What the harness does besides sending requests, and why:
 * - The app is created but not `init()`ed, so no background timer runs on the wall clock; the harness calls
 *   BatchFlusher.flushDue() on every simulated bar instead of the once-a-second job.
 * - It wraps BatchFlusher.flushOne to await the flush the gate starts in the background when a batch fills,
 *   so the clock never moves under a call in flight (and to record when each batch was answered).
 * - Redis TTLs run on the wall clock, and a year is replayed in about a minute: the harness records the TTL of
 *   every response-cache entry and deletes the entry when simulated time passes it, as Redis would.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream } from 'pino';
import { createApp } from '../../src/app.factory.js';
import { ManualClock } from '../../src/common/clock.js';
import { BatchFlusher } from '../../src/ai-optimization/events/batch-flusher.service.js';
import { EventGate } from '../../src/ai-optimization/events/event-gate.service.js';
import { EventThresholdsService } from '../../src/ai-optimization/events/event-thresholds.service.js';
import type { EventThresholds, Priority } from '../../src/ai-optimization/events/event.types.js';
import { effectivePriority } from '../../src/ai-optimization/events/priority.js';
import { AiGateway, buildMessages } from '../../src/ai-optimization/gateway.service.js';
import type { GatewayRequest, GatewayResult } from '../../src/ai-optimization/gateway.types.js';
import { ProviderRegistry } from '../../src/ai-optimization/providers/provider-registry.js';
import type { CachedAnswer } from '../../src/ai-optimization/response-cache.js';
import { ConversationRepository } from '../../src/redis/repositories/conversation.repository.js';
import { SamplingService } from '../../src/ai-optimization/sampling/sampling.service.js';
import { CostLedger } from '../../src/cost-monitoring/cost-ledger.js';
import { fromPico, toPico } from '../../src/common/money.js';
import { PriceBook } from '../../src/ai-optimization/pricing.js';
import { CostStatsService } from '../../src/cost-monitoring/cost-stats.service.js';
import { RedisService } from '../../src/redis/redis.service.js';
import { EventWindowRepository } from '../../src/redis/repositories/event-window.repository.js';
import { DEFAULT_TENANT } from '../../src/common/tenant.js';
import { observationOf } from '../../src/ai-optimization/events/adaptive-priority.js';
import {
  DEFAULT_ANSWER_TOKENS,
  fakeAnswer,
  PrefixCache,
  type FakeDeepSeek,
  type NamespaceStats,
} from '../fake-deepseek.js';
import { AGENTS, agentRequest, type AgentName } from './agents.js';
import type { LayerSpec } from './layers.js';
import type { Bar } from './market.js';

export const UPSTREAM_KEY = 'replay-upstream-key';

export interface RunSettings {
  /** The bars of every series, in time order (bars of one time in series order). */
  bars: Bar[];
  /** The event data of the bars before each series' window (they seed the gate's adaptive windows). */
  warmup: Bar[];
  fake: FakeDeepSeek;
  redisUrl: string;
  model: string;
  cacheTtlSeconds: number;
  thresholds: EventThresholds;
  runId: string;
  onBar: (layer: string, done: number) => void;
}

/** Upstream calls and their cost in one cell of the spend breakdown. */
export interface Spend {
  calls: number;
  costUsd: number;
}

/** Fidelity on the fixed yardstick (market-moving bars, see bench/replay/market.ts). */
export interface MovingFidelity {
  /** (agent, market-moving bar) requests. */
  requests: number;
  /** Of those, answered by an upstream call made for that request. */
  fresh: number;
  /** Of those, answered by a call the mechanism made for that bar and shared (counted in `fresh`). */
  shared: number;
  /** Longest time from a market-moving bar to the next fresh answer of the same agent for the symbol. */
  longestWaitSeconds: number | null;
  unansweredAtEnd: number;
}

/** Seconds from an event to the answer that covered it. */
export interface Distribution {
  count: number;
  median: number | null;
  p90: number | null;
  worst: number | null;
}

export interface LayerResult {
  id: string;
  label: string;
  /** 'pipeline' = run through Bastion; 'analytic' = computed (see analyticLayer). */
  method: 'pipeline' | 'analytic';
  requests: number;
  upstreamCalls: number;
  costUsd: number;
  /** The exact total in picodollars, as the ledger sums it. */
  costPico: string;
  /** What the batch flushes cost (included in costUsd). */
  batchCostUsd: number;
  /** Requests, upstream calls made by them and their cost, by the bar's effective priority (batches apart). */
  byPriority: Record<string, { requests: number; calls: number; costUsd: number }>;
  perAgent: Record<string, { calls: number; costUsd: number }>;
  /**
   * Where the spend goes: `<kind>|<priority>|<bar>|<agent>` → calls and cost, kind = fresh (a call made for
   * one request; priority = the gate's decision, or the static one outside the gate) or batch (priority
   * LOW, bar = all); bar = moving (market-moving) or other.
   */
  spend: Record<string, Spend>;
  /** Per symbol: requests, fresh calls and their cost, the batch cost split by the symbol's events in each batch. */
  perSymbol: Record<
    string,
    {
      requests: number;
      freshCalls: number;
      freshCostUsd: number;
      batchCostUsd: number;
      moving: MovingFidelity;
    }
  >;
  moving: MovingFidelity;
  unpricedCalls: number;
  promptTokens: number;
  cachedPromptTokens: number;
  completionTokens: number;
  reasons: Record<string, number>;
  errors: number;
  batchesFlushed: number;
  fake: NamespaceStats;
  fidelity: {
    critical: { events: number; fresh: number; freshShare: number | null };
    high: {
      events: number;
      freshAtOnce: number;
      /** Longest time from a HIGH event to the next fresh answer of its agent (0 = answered fresh at once). */
      longestWaitSeconds: number | null;
      unansweredAtEnd: number;
    };
    /** metadata.response_age_seconds of every answer not produced by its own request. */
    staleness: Distribution;
    stalenessByReason: Record<string, Distribution>;
    /** Requests answered with nothing at all (no earlier answer for the agent yet). */
    withoutAnswer: number;
    /** LOW events: time from the event to its batch's answer. */
    batchWait: Distribution;
  };
  wallSeconds: number;
  warnings: string[];
}

function distribution(values: number[]): Distribution {
  if (values.length === 0) return { count: 0, median: null, p90: null, worst: null };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return { count: sorted.length, median: at(0.5), p90: at(0.9), worst: sorted[sorted.length - 1] };
}

/** Pino destination that keeps warnings and errors for the report instead of printing them over the table. */
function logSink(): { stream: DestinationStream; warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    stream: {
      write(line: string): void {
        try {
          const entry = JSON.parse(line) as { level?: number; msg?: string; context?: string };
          if ((entry.level ?? 0) >= 40 && warnings.length < 20) {
            warnings.push(`${entry.context ?? 'bastion'}: ${entry.msg ?? line}`.slice(0, 300));
          }
        } catch {
          if (warnings.length < 20) warnings.push(line.slice(0, 300));
        }
      },
    },
  };
}

/** Tracks the yardstick: fresh answers on market-moving bars and the wait for one after them. */
class MovingTracker {
  private readonly pending = new Map<string, { symbol: string; times: number[] }>();
  private readonly tallies = new Map<string, MovingFidelity>();

  private tally(symbol: string): MovingFidelity {
    let t = this.tallies.get(symbol);
    if (!t) {
      t = { requests: 0, fresh: 0, shared: 0, longestWaitSeconds: 0, unansweredAtEnd: 0 };
      this.tallies.set(symbol, t);
    }
    return t;
  }

  /** `fresh`: an upstream call made for this request; `shared`: a call made for this bar by another request. */
  record(agent: string, bar: Bar, fresh: boolean, shared = false): void {
    const key = `${agent}|${bar.symbol}`;
    const entry = this.pending.get(key) ?? { symbol: bar.symbol, times: [] };
    this.pending.set(key, entry);
    const t = this.tally(bar.symbol);
    if (fresh) {
      for (const at of entry.times)
        t.longestWaitSeconds = Math.max(t.longestWaitSeconds ?? 0, (bar.closeTime - at) / 1000);
      entry.times.length = 0;
    }
    if (bar.marketMoving !== true) return;
    t.requests++;
    if (fresh) {
      t.fresh++;
      if (shared) t.shared++;
    } else entry.times.push(bar.closeTime);
  }

  /** Per symbol and in total; waits still open at `end` count up to it. */
  finish(end: number): { total: MovingFidelity; perSymbol: Record<string, MovingFidelity> } {
    for (const { symbol, times } of this.pending.values()) {
      const t = this.tally(symbol);
      for (const at of times) t.longestWaitSeconds = Math.max(t.longestWaitSeconds ?? 0, (end - at) / 1000);
      t.unansweredAtEnd += times.length;
    }
    const perSymbol: Record<string, MovingFidelity> = {};
    const total: MovingFidelity = {
      requests: 0,
      fresh: 0,
      shared: 0,
      longestWaitSeconds: 0,
      unansweredAtEnd: 0,
    };
    for (const [symbol, t] of [...this.tallies].sort(([a], [b]) => a.localeCompare(b))) {
      const f = { ...t, longestWaitSeconds: t.requests > 0 ? t.longestWaitSeconds : null };
      perSymbol[symbol] = f;
      total.requests += f.requests;
      total.fresh += f.fresh;
      total.shared += f.shared;
      total.unansweredAtEnd += f.unansweredAtEnd;
      if (f.longestWaitSeconds !== null)
        total.longestWaitSeconds = Math.max(total.longestWaitSeconds ?? 0, f.longestWaitSeconds);
    }
    if (total.requests === 0) total.longestWaitSeconds = null;
    return { total, perSymbol };
  }
}

const spendKey = (kind: 'fresh' | 'batch', priority: string, moving: boolean | null, agent: string): string =>
  `${kind}|${priority}|${kind === 'batch' ? 'all' : moving === true ? 'moving' : 'other'}|${agent}`;

function addSpend(
  spend: Map<string, { calls: number; costPico: bigint }>,
  key: string,
  costPico: bigint,
): void {
  const cell = spend.get(key) ?? { calls: 0, costPico: 0n };
  cell.calls++;
  cell.costPico += costPico;
  spend.set(key, cell);
}

const spendRecord = (spend: Map<string, { calls: number; costPico: bigint }>): Record<string, Spend> =>
  Object.fromEntries(
    [...spend]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, { calls: v.calls, costUsd: fromPico(v.costPico) }]),
  );

/** Groups time-ordered bars into the steps of the clock (the bars of all series closing at one time). */
export function steps(bars: Bar[]): Bar[][] {
  const out: Bar[][] = [];
  for (const bar of bars) {
    const last = out.at(-1);
    if (last && last[0].closeTime === bar.closeTime) last.push(bar);
    else out.push([bar]);
  }
  return out;
}

interface Booted {
  app: NestFastifyApplication;
  clock: ManualClock;
  logs: { stream: DestinationStream; warnings: string[] };
  namespace: string;
}

/** A fresh Bastion for one run: own clock, own Redis key prefix, own namespace on the fake upstream. */
async function boot(settings: RunSettings, name: string): Promise<Booted> {
  const namespace = `${settings.runId}-${name}`;
  const clock = new ManualClock(settings.bars[0].closeTime);
  const logs = logSink();
  const env = {
    NODE_ENV: 'test',
    REDIS_URL: settings.redisUrl,
    REDIS_KEY_PREFIX: `bench:replay:${settings.runId}:${name}:`,
    LOG_LEVEL: 'warn',
    // Every request names the model; as the default too, it also prices the fleet's agents that name none.
    AI_DEFAULT_MODEL: settings.model,
    DEEPSEEK_API_KEY: UPSTREAM_KEY,
    DEEPSEEK_BASE_URL: settings.fake.baseUrl(namespace),
    // OpenAI models (--model gpt-…) reach the same fake; it answers in DeepSeek's usage shape.
    OPENAI_API_KEY: UPSTREAM_KEY,
    OPENAI_BASE_URL: settings.fake.baseUrl(namespace),
  };
  const app = await createApp(env, { clock, logStream: logs.stream });
  try {
    app.get(ProviderRegistry).chain(settings.model); // an unknown model fails here, before any request
  } catch (err) {
    await app.close();
    throw err;
  }
  return { app, clock, logs, namespace };
}

async function shutdown({ app, logs }: Booted): Promise<void> {
  // Write the ledger's last batch first, so nothing is written under the prefix after it is deleted.
  await app.get(CostLedger).flushSafely();
  await app
    .get(RedisService)
    .deleteAllWithPrefix()
    .catch((err: Error) => logs.warnings.push(`keys not deleted: ${err.message}`));
  await app.close();
}

async function ledgerFigures(app: NestFastifyApplication) {
  const ledger = app.get(CostLedger);
  const [total, ...agents] = await ledger.totalsMany(['total', ...AGENTS.map((a) => `agent:${a}`)]);
  return {
    total,
    perAgent: Object.fromEntries(
      AGENTS.map((a, i) => [a, { calls: agents[i].calls, costUsd: agents[i].costUsd }]),
    ),
  };
}

/** Runs one layer through the real pipeline (see the header comment). `name` defaults to the layer id. */
export async function runLayer(spec: LayerSpec, settings: RunSettings, name = spec.id): Promise<LayerResult> {
  const started = performance.now();
  const { bars, fake, thresholds } = settings;
  const booted = await boot(settings, name);
  const { app, clock, logs, namespace } = booted;
  const redis = app.get(RedisService);
  try {
    const gateway = app.get(AiGateway);
    const gate = app.get(EventGate);
    const flusher = app.get(BatchFlusher);
    const conversations = app.get(ConversationRepository);

    if (spec.sampling === 'always') {
      for (const agent of AGENTS) await app.get(SamplingService).set(agent, { strategy: 'ALWAYS' });
    }
    await app.get(EventThresholdsService).update({ ...thresholds, ...(spec.gate ?? {}) });
    const adaptive = spec.gate?.priority_mode === 'adaptive';
    if (adaptive) {
      // A gate that had been running would know the 30 days before the replay: its windows get them first.
      const t = app.get(EventThresholdsService).current();
      const windows = app.get(EventWindowRepository);
      const tenant = DEFAULT_TENANT; // the replay's fleet calls without API keys
      for (const bar of settings.warmup) {
        const obs = observationOf(bar.event.data);
        if (obs === null) continue;
        const scope = t.adaptive_scope === 'global' ? '*' : bar.symbol;
        await windows.observe(tenant, scope, bar.symbol, bar.closeTime, obs, t.adaptive_window);
      }
    }

    // Response-cache entries expire on the simulated clock (see the header comment).
    const expiries = new Map<string, number>();
    const postcall = conversations.postcall.bind(conversations);
    conversations.postcall = (write) => {
      if (write.cache) {
        const answer = JSON.parse(write.cache.value) as CachedAnswer;
        expiries.set(write.cache.key, answer.created_at + write.cache.ttlSeconds * 1000);
      }
      return postcall(write);
    };
    const expireCache = async (now: number): Promise<void> => {
      const due: string[] = [];
      for (const [key, at] of expiries) if (at <= now) due.push(key);
      if (due.length === 0) return;
      for (const key of due) expiries.delete(key);
      await redis.client.del(...due);
    };

    // Observes what the batch flushes cost (the flusher calls the gateway with response_type batch_analysis),
    // per batch: the flush runs inside flushing.run(batch id), so the call knows its batch.
    let batchCostPico = 0n;
    const flushing = new AsyncLocalStorage<string>();
    const batchCosts = new Map<string, bigint>();
    const spend = new Map<string, { calls: number; costPico: bigint }>();
    const call = gateway.call.bind(gateway);
    gateway.call = async (request: GatewayRequest): Promise<GatewayResult> => {
      const result = await call(request);
      if (request.responseType === 'batch_analysis' && result.metadata.ai_called) {
        const cost = toPico(result.metadata.cost_usd ?? 0);
        batchCostPico += cost;
        const id = flushing.getStore();
        if (id !== undefined) batchCosts.set(id, (batchCosts.get(id) ?? 0n) + cost);
        addSpend(spend, spendKey('batch', 'LOW', null, request.agentType), cost);
      }
      return result;
    };

    // Batch flushes: awaited before the clock moves; the simulated time each batch was answered.
    const flushedAt = new Map<string, number>();
    const inFlight = new Set<Promise<boolean>>();
    const flushOne = flusher.flushOne.bind(flusher);
    flusher.flushOne = (id: string): Promise<boolean> => {
      const at = clock.now();
      const flush = flushing
        .run(id, () => flushOne(id))
        .then((answered) => {
          if (answered) flushedAt.set(id, at);
          return answered;
        });
      inFlight.add(flush);
      void flush.finally(() => inFlight.delete(flush));
      return flush;
    };
    const settleFlushes = async (): Promise<void> => {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    };

    const reasons: Record<string, number> = {};
    const byPriority = new Map<Priority, { requests: number; calls: number; costPico: bigint }>();
    const critical = { events: 0, fresh: 0 };
    const high = { events: 0, freshAtOnce: 0, longestWait: 0 };
    const pendingHigh = new Map<AgentName, number[]>(AGENTS.map((a) => [a, []]));
    const ages: number[] = [];
    const agesByReason: Record<string, number[]> = {};
    const batched = new Map<string, { at: number; symbol: string }[]>();
    const moving = new MovingTracker();
    const perSymbol = new Map<string, { requests: number; freshCalls: number; freshCostPico: bigint }>();
    let withoutAnswer = 0;
    let errors = 0;

    const record = (agent: AgentName, bar: Bar, priority: Priority, result: GatewayResult): void => {
      const meta = result.metadata;
      const fresh = meta.ai_called;
      reasons[meta.reason] = (reasons[meta.reason] ?? 0) + 1;
      const decided = (meta.event as { priority?: Priority } | undefined)?.priority ?? priority;
      const cost = fresh ? toPico(meta.cost_usd ?? 0) : 0n;
      if (fresh) addSpend(spend, spendKey('fresh', decided, bar.marketMoving, agent), cost);
      const sym = perSymbol.get(bar.symbol) ?? { requests: 0, freshCalls: 0, freshCostPico: 0n };
      sym.requests++;
      if (fresh) {
        sym.freshCalls++;
        sym.freshCostPico += cost;
      }
      perSymbol.set(bar.symbol, sym);
      // A coalesced answer comes from the identical request's call in flight for the same bar: shared, fresh.
      const shared = !fresh && meta.reason === 'coalesced';
      moving.record(agent, bar, fresh || shared, shared);
      const tally = byPriority.get(priority) ?? { requests: 0, calls: 0, costPico: 0n };
      tally.requests++;
      if (fresh) {
        tally.calls++;
        tally.costPico += toPico(meta.cost_usd ?? 0);
      }
      byPriority.set(priority, tally);
      const pending = pendingHigh.get(agent) as number[];
      if (fresh) {
        for (const at of pending) high.longestWait = Math.max(high.longestWait, (bar.closeTime - at) / 1000);
        pending.length = 0;
      }
      if (priority === 'CRITICAL') {
        critical.events++;
        if (fresh) critical.fresh++;
      }
      if (priority === 'HIGH') {
        high.events++;
        if (fresh) high.freshAtOnce++;
        else pending.push(bar.closeTime);
      }
      if (!fresh) {
        if (result.response === null) withoutAnswer++;
        if (typeof meta.response_age_seconds === 'number') {
          ages.push(meta.response_age_seconds);
          (agesByReason[meta.reason] ??= []).push(meta.response_age_seconds);
        }
      }
      const event = meta.event as { decision?: string; batch_id?: string } | undefined;
      if (event?.decision === 'batched' && typeof event.batch_id === 'string') {
        const list = batched.get(event.batch_id) ?? [];
        list.push({ at: bar.closeTime, symbol: bar.symbol });
        batched.set(event.batch_id, list);
      }
    };

    const ask = async (agent: AgentName, bar: Bar): Promise<void> => {
      const request = agentRequest(agent, bar, {
        model: settings.model,
        dynamicSystemPrompt: spec.dynamicSystemPrompt,
        cache: spec.responseCache,
        cacheTtlSeconds: settings.cacheTtlSeconds,
      });
      const { priority } = effectivePriority(bar.event.declared, bar.event.data, thresholds);
      const viaGate = spec.events === 'all' || (spec.events === 'event-bars' && priority !== 'LOW');
      try {
        const result = viaGate
          ? await gate.handle(request, {
              symbol: bar.symbol,
              eventType: bar.event.type,
              priority: spec.declare === 'low' ? 'LOW' : bar.event.declared,
              data: bar.event.data,
              timestamp: bar.closeTime,
            })
          : await gateway.call(request);
        record(agent, bar, priority, result);
      } catch (err) {
        errors++;
        if (errors <= 5) logs.warnings.push(`request failed: ${(err as Error).message}`.slice(0, 300));
      }
    };

    let done = 0;
    for (const step of steps(bars)) {
      const now = step[0].closeTime;
      clock.set(now);
      await expireCache(now);
      if (spec.events === 'all') {
        await flusher.flushDue();
        await settleFlushes();
      }
      // The agents ask at once; one agent's requests for the symbols of a step go one after the other, so
      // a batch is filled in the same order on every run.
      await Promise.all(
        AGENTS.map(async (agent) => {
          for (const bar of step) await ask(agent, bar);
        }),
      );
      await settleFlushes();
      done += step.length;
      settings.onBar(name, done);
    }
    if (spec.events === 'all') {
      // Events still queued at the end are answered when their batch times out, as they would be live.
      const { batch_timeout } = app.get(EventThresholdsService).current();
      clock.set((bars.at(-1) as Bar).closeTime + batch_timeout * 1000);
      await flusher.flushDue();
      await settleFlushes();
    }

    const batchWaits: number[] = [];
    const symbolBatchPico = new Map<string, bigint>();
    for (const [id, events] of batched) {
      const answeredAt = flushedAt.get(id);
      if (answeredAt !== undefined) for (const { at } of events) batchWaits.push((answeredAt - at) / 1000);
      // A batch's cost is split between its symbols by their number of events (the remainder to the first).
      const cost = batchCosts.get(id) ?? 0n;
      const counts = new Map<string, number>();
      for (const { symbol } of events) counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
      let left = cost;
      const entries = [...counts];
      entries.forEach(([symbol, n], i) => {
        const part = i === entries.length - 1 ? left : (cost * BigInt(n)) / BigInt(events.length);
        left -= part;
        symbolBatchPico.set(symbol, (symbolBatchPico.get(symbol) ?? 0n) + part);
      });
    }
    const stats = await app.get(CostStatsService).stats();
    const ledger = await ledgerFigures(app);
    const fakeStats = (await fake.stats())[namespace] ?? {
      calls: 0,
      promptTokens: 0,
      cachedTokens: 0,
      completionTokens: 0,
    };
    const end = (bars.at(-1) as Bar).closeTime;
    const movingFigures = moving.finish(end);
    let unansweredAtEnd = 0;
    for (const pending of pendingHigh.values()) {
      for (const at of pending) high.longestWait = Math.max(high.longestWait, (end - at) / 1000);
      unansweredAtEnd += pending.length;
    }
    const stalenessByReason: Record<string, Distribution> = {};
    for (const [reason, values] of Object.entries(agesByReason))
      stalenessByReason[reason] = distribution(values);

    return {
      id: spec.id,
      label: spec.label,
      method: 'pipeline',
      requests: bars.length * AGENTS.length,
      upstreamCalls: stats.overall.total_calls,
      costUsd: stats.overall.total_cost_usd,
      costPico: ledger.total.costPico.toString(),
      batchCostUsd: fromPico(batchCostPico),
      byPriority: Object.fromEntries(
        [...byPriority].map(([p, t]) => [
          p,
          { requests: t.requests, calls: t.calls, costUsd: fromPico(t.costPico) },
        ]),
      ),
      perAgent: ledger.perAgent,
      spend: spendRecord(spend),
      perSymbol: Object.fromEntries(
        [...perSymbol].map(([symbol, t]) => [
          symbol,
          {
            requests: t.requests,
            freshCalls: t.freshCalls,
            freshCostUsd: fromPico(t.freshCostPico),
            batchCostUsd: fromPico(symbolBatchPico.get(symbol) ?? 0n),
            moving: movingFigures.perSymbol[symbol],
          },
        ]),
      ),
      moving: movingFigures.total,
      unpricedCalls: stats.overall.unpriced_calls,
      promptTokens: stats.overall.total_prompt_tokens,
      cachedPromptTokens: stats.overall.total_cached_prompt_tokens,
      completionTokens: stats.overall.total_completion_tokens,
      reasons,
      errors,
      batchesFlushed: flushedAt.size,
      fake: fakeStats,
      fidelity: {
        critical: {
          events: critical.events,
          fresh: critical.fresh,
          freshShare: critical.events > 0 ? critical.fresh / critical.events : null,
        },
        high: {
          events: high.events,
          freshAtOnce: high.freshAtOnce,
          longestWaitSeconds: high.events > 0 ? high.longestWait : null,
          unansweredAtEnd,
        },
        staleness: distribution(ages),
        stalenessByReason,
        withoutAnswer,
        batchWait: distribution(batchWaits),
      },
      wallSeconds: (performance.now() - started) / 1000,
      warnings: logs.warnings,
    };
  } finally {
    await shutdown(booted);
  }
}

/**
 * A layer where every request is exactly one upstream call, computed without sending the requests: response
 * cache off, sampling ALWAYS and no event gate, with no budget limit, so AiGateway.call calls the upstream
 * once per request (there is no other branch it can take). The cost of each call is what the pipeline would
 * record: the messages from buildMessages, the usage the fake upstream would return (the same
 * fakeAnswer function the fake runs, with its own prefix cache), priced by Bastion's PriceBook at the bar's
 * time, summed in picodollars like the ledger. The replay checks it against a real run of the first days.
 */
export async function analyticLayer(spec: LayerSpec, settings: RunSettings): Promise<LayerResult> {
  if (spec.responseCache || spec.sampling !== 'always' || spec.events !== 'none') {
    throw new Error(
      `layer ${spec.id} cannot be computed analytically: not every request is an upstream call`,
    );
  }
  const started = performance.now();
  const booted = await boot(settings, `${spec.id}-analytic`);
  const { app, logs } = booted;
  try {
    const prices = app.get(PriceBook);
    const [primary] = app.get(ProviderRegistry).chain(settings.model);
    const cache = new PrefixCache();
    let costPico = 0n;
    let unpriced = 0;
    const tokens = { prompt: 0, cached: 0, completion: 0 };
    const perAgent: Record<string, { calls: number; costPico: bigint }> = Object.fromEntries(
      AGENTS.map((a) => [a, { calls: 0, costPico: 0n }]),
    );
    let critical = 0;
    let high = 0;
    const byPriority = new Map<Priority, { requests: number; costPico: bigint }>();
    const spend = new Map<string, { calls: number; costPico: bigint }>();
    const moving = new MovingTracker();
    const perSymbol = new Map<string, { requests: number; costPico: bigint }>();
    let done = 0;
    for (const bar of settings.bars) {
      const { priority } = effectivePriority(bar.event.declared, bar.event.data, settings.thresholds);
      const rates = prices.rates(primary.entry, primary.upstreamModel, new Date(bar.closeTime));
      for (const agent of AGENTS) {
        const request = agentRequest(agent, bar, {
          model: settings.model,
          dynamicSystemPrompt: spec.dynamicSystemPrompt,
          cache: false,
          cacheTtlSeconds: settings.cacheTtlSeconds,
        });
        const answer = fakeAnswer(
          primary.upstreamModel,
          buildMessages(request),
          cache,
          DEFAULT_ANSWER_TOKENS,
          request.maxTokens,
        );
        const { costUsd } = prices.price(rates, {
          promptTokens: answer.promptTokens,
          cachedPromptTokens: answer.cachedTokens,
          completionTokens: answer.completionTokens,
        });
        const tally = byPriority.get(priority) ?? { requests: 0, costPico: 0n };
        tally.requests++;
        const sym = perSymbol.get(bar.symbol) ?? { requests: 0, costPico: 0n };
        perSymbol.set(bar.symbol, sym);
        sym.requests++;
        const cost = costUsd === null ? 0n : toPico(costUsd);
        if (costUsd === null) unpriced++;
        else {
          costPico += cost;
          perAgent[agent].costPico += cost;
          tally.costPico += cost;
          sym.costPico += cost;
        }
        addSpend(spend, spendKey('fresh', priority, bar.marketMoving, agent), cost);
        moving.record(agent, bar, true);
        byPriority.set(priority, tally);
        perAgent[agent].calls++;
        tokens.prompt += answer.promptTokens;
        tokens.cached += answer.cachedTokens;
        tokens.completion += answer.completionTokens;
        if (priority === 'CRITICAL') critical++;
        if (priority === 'HIGH') high++;
      }
      settings.onBar(spec.id, ++done);
      // Let the other rows' Redis replies in between: a year computed in one go would hold the event loop
      // for seconds, and their commands would time out (ioredis commandTimeout 2 s).
      if (done % 24 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const requests = settings.bars.length * AGENTS.length;
    const movingFigures = moving.finish((settings.bars.at(-1) as Bar).closeTime);
    const none: Distribution = { count: 0, median: null, p90: null, worst: null };
    return {
      id: spec.id,
      label: spec.label,
      method: 'analytic',
      requests,
      upstreamCalls: requests,
      costUsd: fromPico(costPico),
      costPico: costPico.toString(),
      batchCostUsd: 0,
      byPriority: Object.fromEntries(
        [...byPriority].map(([p, t]) => [
          p,
          { requests: t.requests, calls: t.requests, costUsd: fromPico(t.costPico) },
        ]),
      ),
      perAgent: Object.fromEntries(
        Object.entries(perAgent).map(([a, v]) => [a, { calls: v.calls, costUsd: fromPico(v.costPico) }]),
      ),
      spend: spendRecord(spend),
      perSymbol: Object.fromEntries(
        [...perSymbol].map(([symbol, t]) => [
          symbol,
          {
            requests: t.requests,
            freshCalls: t.requests,
            freshCostUsd: fromPico(t.costPico),
            batchCostUsd: 0,
            moving: movingFigures.perSymbol[symbol],
          },
        ]),
      ),
      moving: movingFigures.total,
      unpricedCalls: unpriced,
      promptTokens: tokens.prompt,
      cachedPromptTokens: tokens.cached,
      completionTokens: tokens.completion,
      reasons: { called: requests },
      errors: 0,
      batchesFlushed: 0,
      fake: {
        calls: requests,
        promptTokens: tokens.prompt,
        cachedTokens: tokens.cached,
        completionTokens: tokens.completion,
      },
      fidelity: {
        critical: { events: critical, fresh: critical, freshShare: critical > 0 ? 1 : null },
        high: {
          events: high,
          freshAtOnce: high,
          longestWaitSeconds: high > 0 ? 0 : null,
          unansweredAtEnd: 0,
        },
        staleness: none,
        stalenessByReason: {},
        withoutAnswer: 0,
        batchWait: none,
      },
      wallSeconds: (performance.now() - started) / 1000,
      warnings: logs.warnings,
    };
  } finally {
    await shutdown(booted);
  }
}

export const newRunId = (): string => randomUUID().slice(0, 8);

import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { Clock } from '../../common/clock.js';
import { addReplyHeaders } from '../../common/request-context.js';
import { Scrubber } from '../../common/secrets.js';
import type { UpstreamCallRecord } from '../../cost-monitoring/ledger-entry.js';
import { MetricsService } from '../../cost-monitoring/metrics.service.js';
import {
  ConversationRepository,
  type InflightClaim,
  type PrecallResult,
} from '../../redis/repositories/conversation.repository.js';
import { SettingsRepository } from '../../redis/repositories/settings.repository.js';
import { Coalescer } from '../coalescer.js';
import type { ResolvedModel } from '../providers/provider-registry.js';
import { StreamUsageTracker } from '../providers/usage.js';
import type { CachedAnswer } from '../response-cache.js';
import { AdmitStage, rateLimitHeaders, type AdmitPlan } from './admit.stage.js';
import { assemble, CallStage, StreamIdleError, type OpenedStream } from './call.stage.js';
import { GateStage, type GatePlan } from './gate.stage.js';
import type { MeteredCall, Outcome, Trace } from './metered-call.js';
import { parseLast, RecordStage } from './record.stage.js';
import { SettleStage, type PricedCall } from './settle.stage.js';
import { conversationOf, ScreenStage, type Screened } from './screen.stage.js';
import { StreamHub } from './stream-hub.js';

/** Puts a LOW event into its batch; throws when the event store cannot take it. */
export type Enqueue = () => Promise<{ batchId: string; position: number }>;

type Led = { outcome: Outcome; callRecord?: UpstreamCallRecord; adaptive?: boolean };

const SETTINGS_RETRIES = 2;
/** An in-flight marker lapses this long after its leader stops renewing it (a dead instance's call). */
const INFLIGHT_LEASE_MS = 10_000;

/**
 * The one metered-call path every door and agent goes through:
 *
 *   screen (AI switch, model chain, cache key) → gate (event interval, sampling) → admit (budget
 *   reservation) → call (retries, fallbacks, streaming or not) → settle (exact cost) → store and record.
 *
 * The stages plan; the cache lookup and every claim before the upstream call (interval, sampling,
 * reservation) are then made in one Redis round trip, and what follows the call is written in one pipelined
 * write off the response path. Identical calls in flight share one upstream call (coalescing): within an
 * instance they share its promise; across instances the first marks the call in flight in the pre-call step,
 * and the others wait for the answer it stores (see `awaitLeader`).
 */
@Injectable()
export class MeteredCallPipeline {
  private readonly logger = new Logger(MeteredCallPipeline.name);
  /** Streams in flight, joinable until they end (not merely until they open). */
  private readonly streams = new Map<string, Promise<Led>>();

  constructor(
    private readonly screen: ScreenStage,
    private readonly gate: GateStage,
    private readonly admit: AdmitStage,
    private readonly caller: CallStage,
    private readonly settle: SettleStage,
    private readonly recorder: RecordStage,
    private readonly conversations: ConversationRepository,
    private readonly settings: SettingsRepository,
    private readonly coalescer: Coalescer,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly scrubber: Scrubber,
  ) {}

  /** Runs one call; with `enqueue` (a LOW event) what would call the model is queued into a batch instead. */
  async run(call: MeteredCall, enqueue?: Enqueue): Promise<Outcome> {
    const trace: Trace = {
      requestId: randomUUID(),
      started: performance.now(),
      now: this.clock.now(),
      conversation: conversationOf(call),
    };
    if (!this.screen.aiEnabled(call.agent)) {
      const outcome = await this.skipWithLast(trace, 'ai_disabled', `AI is disabled for agent ${call.agent}`);
      this.finish(call, { outcome });
      return outcome;
    }
    const screened = this.screen.screen(call);
    trace.rate = await this.admit.admitKey(call, screened, trace.now);
    if (trace.rate) addReplyHeaders(call.scope, rateLimitHeaders(trace.rate));
    if (call.stream) return this.runStream(call, screened, trace);
    let led: Led;
    if (enqueue) {
      led = await this.lead(call, screened, trace, enqueue);
    } else {
      const shared = await this.coalescer.run(coalescingKey(call, screened), () =>
        this.lead(call, screened, trace),
      );
      led = shared.leader ? shared.value : { outcome: follow(shared.value.outcome, trace) };
    }
    this.finish(call, led);
    return led.outcome;
  }

  /** Records the request and observes Bastion's own overhead (its time minus the upstream's). */
  private finish(call: MeteredCall, led: Led): void {
    const o = led.outcome;
    // A coalesced request waited on the leader's upstream call: that wait is the upstream's, not Bastion's.
    const upstream = o.kind === 'answered' && o.source !== 'response_cache' ? (o.upstreamMs ?? 0) : 0;
    const overhead = Math.max(0, performance.now() - o.trace.started - upstream) / 1000;
    // Only a call's own upstream answer has bookkeeping worth moving after the answer (its settle and store go
    // with it); a hit or a skip only adds to the ledger in memory, so it is recorded at once.
    if (o.kind === 'answered' && o.source === 'called')
      this.books(call, () => this.record(call, led, overhead));
    else this.record(call, led, overhead);
  }

  private record(call: MeteredCall, led: Led, overheadSeconds: number): void {
    this.recorder.record(call, led.outcome, led);
    this.metrics.overhead.observe(overheadSeconds);
  }

  /**
   * Bookkeeping of a call (settle, store, record): now, or once its answer is on its way when the door asked
   * for it (MeteredCall.booksAfterAnswer) — then it no longer delays this answer, nor the answers of other
   * requests whose upstream replies arrived in the same turn of the event loop.
   */
  private books(call: MeteredCall, ...steps: (() => void)[]): void {
    if (!call.booksAfterAnswer) {
      for (const step of steps) step();
      return;
    }
    setImmediate(() => {
      // Each step on its own: a settle that failed must not keep the answer out of the cache.
      for (const step of steps) {
        try {
          step();
        } catch (err) {
          // Nothing is waiting for it any more: say what was not booked rather than crash the process.
          this.logger.error(`Bookkeeping of a ${call.agent} call failed: ${(err as Error).message}`);
        }
      }
    });
  }

  /**
   * Decides and makes one call. `waitUntil` bounds the wait for an identical call on another instance (epoch
   * ms; computed on the first try, null once the wait ran out: the request then calls without waiting).
   */
  private async lead(
    call: MeteredCall,
    screened: Screened,
    trace: Trace,
    enqueue?: Enqueue,
    stream = false,
    waitUntil?: number | null,
  ): Promise<Led> {
    const shared = enqueue === undefined && call.cache.read && call.cache.write && waitUntil !== null;
    const inflight: InflightClaim | null =
      shared && this.conversations.sharedAcrossInstances
        ? {
            key: this.conversations.inflightKey(screened.cacheKey),
            token: trace.requestId,
            leaseMs: INFLIGHT_LEASE_MS,
          }
        : null;
    const { gate, admit, result } = await this.precall(call, screened, trace, !enqueue, inflight);
    const cacheHit = call.cache.read ? false : null;
    switch (result.kind) {
      case 'hit': {
        const answer = JSON.parse(result.cached) as CachedAnswer;
        return { outcome: { kind: 'answered', source: 'response_cache', trace, answer, cacheHit: true } };
      }
      case 'wait': {
        const deadline = waitUntil ?? Date.now() + this.caller.waitBudgetMs(screened.chain, stream);
        return this.awaitLeader(call, screened, trace, stream, inflight as InflightClaim, deadline);
      }
      case 'filtered':
        return {
          outcome: await this.skip(
            trace,
            'event_filtered',
            this.gate.filtered(call),
            result.last,
            cacheHit,
            call.agent,
          ),
        };
      case 'sampled_out':
        return {
          outcome: await this.skip(
            trace,
            'sampled_out',
            this.gate.sampledOut(gate, call, result.change),
            result.last,
            cacheHit,
            call.agent,
          ),
        };
      case 'refused': {
        const message = admit ? this.admit.refusal(admit, result.counter) : 'budget exceeded';
        this.logger.warn(`Refused ${call.agent} call: ${message}`);
        return { outcome: await this.skip(trace, 'budget_exceeded', message, result.last, cacheHit) };
      }
      case 'store_down': {
        const refusal = admit ? this.admit.whenStoreDown(admit) : null;
        if (refusal !== null) {
          this.logger.warn(`Refused ${call.agent} call: ${refusal}`);
          // A slow Redis may still run the pre-call late: its reservation and claims must not outlive this answer.
          if (admit) this.settle.release(admit);
          this.conversations.unclaim(screened.conversation, trace.now);
          if (inflight) this.conversations.releaseInflight(inflight);
          return { outcome: await this.skip(trace, 'budget_exceeded', refusal, null, cacheHit) };
        }
        break; // fail open: no cache, claims granted, charged to the budget when Redis is back
      }
      case 'stale':
        break; // settings kept changing under us: decide with the newest copy we could read
      case 'go':
        break;
    }
    if (enqueue) return this.queue(call, screened, trace, enqueue, result, cacheHit);
    if (stream) return this.openStream(call, screened, trace, admit as AdmitPlan, inflight);
    return this.callUpstream(call, screened, trace, admit as AdmitPlan, gate, cacheHit, inflight);
  }

  /**
   * A request whose identical call is in flight on another instance waits for the answer that call stores, and
   * answers with it (a stream is replayed from it). If the leader fails or dies (its marker released or
   * lapsed) the request decides again — one of the waiting requests becomes the new leader; once `deadline`
   * passes it calls the upstream itself, so a wait is bounded and never hangs.
   */
  private async awaitLeader(
    call: MeteredCall,
    screened: Screened,
    trace: Trace,
    stream: boolean,
    inflight: InflightClaim,
    deadline: number,
  ): Promise<Led> {
    const started = performance.now();
    const waited = await this.conversations.awaitLeader(screened.cacheKey, inflight.key, deadline);
    if (waited.kind === 'answer') {
      const answer = JSON.parse(waited.cached) as CachedAnswer;
      const upstreamMs = Math.round(performance.now() - started);
      return {
        outcome: { kind: 'answered', source: 'coalesced', trace, answer, cacheHit: false, upstreamMs },
      };
    }
    if (waited.kind === 'timeout') {
      this.logger.warn(
        `Gave up waiting for an identical ${call.agent} call on another instance; calling the upstream`,
      );
    }
    const next = waited.kind === 'leader_gone' && Date.now() < deadline ? deadline : null;
    return this.lead(call, screened, trace, undefined, stream, next);
  }

  /** Keeps the in-flight marker of a call this instance leads alive until the returned function is called. */
  private holdInflight(inflight: InflightClaim | null): () => void {
    if (inflight === null) return () => undefined;
    const timer = setInterval(() => {
      void this.conversations.renewInflight(inflight);
    }, inflight.leaseMs / 3);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * The pre-call step: plans the gate and the reservation from this instance's copy of the run-time settings,
   * then reads and claims in one round trip. When another instance changed the settings meanwhile, the copy
   * is refreshed and the plan made again, so a change applies to the very next request everywhere.
   */
  private async precall(
    call: MeteredCall,
    screened: Screened,
    trace: Trace,
    reserve: boolean,
    inflight: InflightClaim | null,
  ): Promise<{ gate: GatePlan; admit: AdmitPlan | null; result: PrecallResult }> {
    for (let attempt = 0; ; attempt++) {
      const gate = this.gate.plan(call);
      const admit = reserve
        ? this.admit.plan(call, screened.chain[0], screened.promptTokens, trace.requestId, trace.now)
        : null;
      const result = await this.conversations.precall({
        conversation: screened.conversation,
        settingsVersion: this.settings.snapshot.version,
        cacheKey: call.cache.read ? screened.cacheKey : null,
        intervalMs: gate.intervalMs,
        sampling: gate.sampling,
        reservation: admit?.reservation ?? null,
        lastAnswerOnGo: !reserve,
        inflight,
        now: trace.now,
      });
      if (result.kind !== 'stale' || attempt === SETTINGS_RETRIES) return { gate, admit, result };
      await this.settings.reload();
    }
  }

  private async callUpstream(
    call: MeteredCall,
    screened: Screened,
    trace: Trace,
    admit: AdmitPlan,
    gate: GatePlan,
    cacheHit: boolean | null,
    inflight: InflightClaim | null,
  ): Promise<Led> {
    let answer;
    const letGo = this.holdInflight(inflight);
    try {
      answer = await this.caller.complete(screened.chain, call.body);
    } catch (err) {
      this.settle.release(admit);
      if (inflight) this.conversations.releaseInflight(inflight);
      throw err;
    } finally {
      letGo();
    }
    const priced = this.settle.price(answer.model, answer.completion.usage, trace.now);
    const stored = this.recorder.answerOf(
      answer.model,
      answer.completion,
      priced,
      trace.now,
      call.cache.keepCompletion,
    );
    this.books(
      call,
      () => this.settle.settle(admit, priced.costUsd),
      () => this.recorder.store(call, screened, stored, inflight),
    );
    const primary = screened.chain[0];
    return {
      outcome: {
        kind: 'answered',
        source: 'called',
        trace,
        answer: stored,
        cacheHit,
        upstreamMs: answer.latencyMs,
        completion: answer.completion,
        ...(answer.model !== primary ? { fallbackFrom: primary.entry.name } : {}),
      },
      callRecord: callRecord(answer.model, priced, answer.latencyMs),
      adaptive: this.gate.adaptive(gate),
    };
  }

  /** A LOW event that would call the model waits in its batch; if it cannot be queued it is answered fresh. */
  private async queue(
    call: MeteredCall,
    screened: Screened,
    trace: Trace,
    enqueue: Enqueue,
    result: PrecallResult,
    cacheHit: boolean | null,
  ): Promise<Led> {
    try {
      const queued = await enqueue();
      const last = result.kind === 'go' ? parseLast(result.last) : null;
      return {
        outcome: {
          kind: 'skipped',
          reason: 'batched',
          trace,
          message: `Queued in batch ${queued.batchId} at position ${queued.position}`,
          last,
          cacheHit,
          savedUsd: null,
          batch: queued,
        },
      };
    } catch (err) {
      this.logger.warn(
        `LOW event of ${call.agent} not queued (${(err as Error).message}); answering it fresh`,
      );
      const fresh: MeteredCall = { ...call, cache: { ...call.cache, read: false }, sampling: null };
      const led = await this.lead(fresh, screened, trace);
      if (led.outcome.kind === 'answered') led.outcome.degraded = 'event_store_unavailable';
      return led;
    }
  }

  private async skip(
    trace: Trace,
    reason: 'sampled_out' | 'event_filtered' | 'budget_exceeded',
    message: string,
    last: string | null,
    cacheHit: boolean | null,
    savedAgent?: string,
  ): Promise<Outcome> {
    // The call a gate avoided is priced at the agent's average (unknown until one is priced).
    const savedUsd = savedAgent === undefined ? null : await this.recorder.averageCallCost(savedAgent);
    return { kind: 'skipped', reason, trace, message, last: parseLast(last), cacheHit, savedUsd };
  }

  private async skipWithLast(trace: Trace, reason: 'ai_disabled', message: string): Promise<Outcome> {
    const last = await this.recorder.lastAnswer(trace.conversation);
    return { kind: 'skipped', reason, trace, message, last, cacheHit: null, savedUsd: null };
  }

  // --- streaming -------------------------------------------------------------------------------------

  /**
   * A streamed call: a cache hit is answered whole (the door replays it as SSE); otherwise the first
   * request opens the upstream stream and every identical request that arrives before it ends joins it,
   * getting what was already sent and then the rest live.
   */
  private async runStream(call: MeteredCall, screened: Screened, trace: Trace): Promise<Outcome> {
    const key = coalescingKey(call, screened);
    const existing = this.streams.get(key);
    if (existing) {
      const led = await existing;
      const outcome = follow(led.outcome, trace);
      if (outcome.kind === 'streaming') {
        // Joining costs Bastion what it took to get here; the saving is the shared stream's cost, known at its end.
        this.metrics.overhead.observe((performance.now() - trace.started) / 1000);
        outcome.hub.onFinish(({ costUsd }) =>
          this.recorder.recordJoin(call, trace.requestId, trace.now, costUsd),
        );
      } else this.finish(call, { outcome });
      return outcome;
    }
    const leading = this.lead(call, screened, trace, undefined, true);
    this.streams.set(key, leading);
    const forget = (): void => {
      if (this.streams.get(key) === leading) this.streams.delete(key);
    };
    let led: Led;
    try {
      led = await leading;
    } catch (err) {
      forget();
      throw err;
    }
    if (led.outcome.kind === 'streaming') led.outcome.hub.onFinish(() => forget());
    else {
      forget();
      this.finish(call, led);
    }
    return led.outcome;
  }

  /** Opens the upstream stream (resolves once the upstream accepted it), then pumps it in the background. */
  private async openStream(
    call: MeteredCall,
    screened: Screened,
    trace: Trace,
    admit: AdmitPlan,
    inflight: InflightClaim | null,
  ): Promise<Led> {
    const abort = new AbortController();
    const hub = new StreamHub(() => abort.abort(new ClientsGoneError()));
    // Bastion's own time is what it spends before the upstream is asked.
    this.metrics.overhead.observe((performance.now() - trace.started) / 1000);
    const letGo = this.holdInflight(inflight);
    let opened;
    try {
      opened = await this.caller.open(screened.chain, call.body, abort);
    } catch (err) {
      letGo();
      this.settle.release(admit);
      if (inflight) this.conversations.releaseInflight(inflight);
      throw err;
    }
    void this.pump(call, screened, trace, admit, opened, hub, abort.signal, inflight).finally(letGo);
    return { outcome: { kind: 'streaming', source: 'called', trace, hub } };
  }

  /**
   * Forwards the upstream stream to its clients, then settles it:
   * - complete and valid → priced from its usage, cached, recorded as a call;
   * - every client gone → charged what was streamed (the usage if it arrived, else an estimate from the chunks),
   *   the rest of the reservation released, nothing cached;
   * - silent for STREAM_IDLE_TIMEOUT_SECONDS, failed midway, or a 200 that carried no completion (an HTML page,
   *   no choices, neither content nor a finish) → an error event to the clients, the reservation released,
   *   nothing cached and no call recorded.
   */
  private async pump(
    call: MeteredCall,
    screened: Screened,
    trace: Trace,
    admit: AdmitPlan,
    opened: OpenedStream,
    hub: StreamHub,
    aborted: AbortSignal,
    inflight: InflightClaim | null,
  ): Promise<void> {
    const started = performance.now();
    const chunks: ChatCompletionChunk[] = [];
    const usage = new StreamUsageTracker();
    let failure: { code: string; message: string } | null = null;
    try {
      for await (const chunk of opened.stream) {
        chunks.push(chunk);
        usage.observe(chunk);
        hub.publish(chunk as unknown as Record<string, unknown>);
      }
    } catch (err) {
      failure = { code: 'upstream_error', message: this.scrubber.scrub((err as Error).message) };
    } finally {
      opened.close();
    }
    // The SDK ends an aborted stream quietly: why it was aborted decides what it was.
    const reason: unknown = aborted.reason;
    if (reason instanceof StreamIdleError) failure = { code: 'upstream_timeout', message: reason.message };
    else if (reason instanceof ClientsGoneError) failure = { code: 'client_gone', message: reason.message };
    if (failure === null && !carriesCompletion(chunks)) {
      failure = { code: 'upstream_error', message: 'the upstream answered 200 without a completion' };
    }
    const latencyMs = Math.round(performance.now() - started);
    if (failure === null || failure.code === 'client_gone') {
      const gone = failure !== null;
      const priced = gone
        ? this.settle.price(opened.model, usage.raw ?? streamedUsage(screened, chunks), trace.now)
        : this.settle.price(opened.model, usage.raw, trace.now);
      this.settle.settle(admit, priced.costUsd);
      if (gone) {
        this.logger.warn(
          `Stream for ${call.agent} abandoned by its clients: charged ${usage.raw === null ? 'an estimate of what was streamed' : 'the usage received'}`,
        );
      } else {
        const completion = assemble(chunks, usage.raw, opened.model.upstreamModel);
        const stored = this.recorder.answerOf(
          opened.model,
          completion,
          priced,
          trace.now,
          call.cache.keepCompletion,
        );
        this.recorder.store(call, screened, stored, inflight);
      }
      // Abandoned: nothing stored, so waiting instances decide again.
      if (gone && inflight) this.conversations.releaseInflight(inflight);
      this.recorder.recordStream(
        call,
        trace.requestId,
        trace.now,
        callRecord(opened.model, priced, latencyMs),
      );
      hub.finish({ costUsd: priced.costUsd });
      return;
    }
    this.logger.warn(`Stream for ${call.agent} failed: ${failure.message}; its reservation is released`);
    this.settle.release(admit);
    if (inflight) this.conversations.releaseInflight(inflight);
    this.recorder.recordFailedStream(call, trace.requestId, trace.now);
    hub.publish({
      error: {
        message: `Upstream stream failed: ${failure.message}`,
        type: 'server_error',
        param: null,
        code: failure.code,
      },
    });
    hub.finish({ costUsd: null });
  }
}

/** Every client of a shared stream left before its end. */
class ClientsGoneError extends Error {
  constructor() {
    super('every client disconnected');
    this.name = 'ClientsGoneError';
  }
}

/** A stream is an answer when some chunk has a choice with content, tool calls or a finish reason. */
function carriesCompletion(chunks: ChatCompletionChunk[]): boolean {
  return chunks.some((c) =>
    (c.choices ?? []).some(
      (choice) =>
        choice.finish_reason != null ||
        (choice.delta?.content ?? '') !== '' ||
        (choice.delta?.tool_calls?.length ?? 0) > 0,
    ),
  );
}

/**
 * The usage of a stream its clients abandoned before the provider reported it: the prompt as estimated for the
 * reservation (every token uncached), and the output streamed so far at the same upper bound per character.
 */
function streamedUsage(screened: Screened, chunks: ChatCompletionChunk[]): Record<string, number> {
  let characters = 0;
  for (const c of chunks) {
    for (const choice of c.choices ?? []) {
      characters += (choice.delta?.content ?? '').length;
      for (const tc of choice.delta?.tool_calls ?? []) characters += (tc.function?.arguments ?? '').length;
    }
  }
  return { prompt_tokens: screened.promptTokens, completion_tokens: Math.ceil(characters / 3) };
}

/** Requests share an upstream call only when they would be decided the same way. */
function coalescingKey(call: MeteredCall, screened: Screened): string {
  const lane = `${call.cache.read ? 'r' : '-'}${call.cache.write ? 'w' : '-'}${call.sampling ? 's' : '-'}${call.intervalSeconds ?? '-'}${call.critical ? 'c' : '-'}`;
  return `${screened.cacheKey}|${lane}`;
}

/** What a request that shared the leader's work gets: the same outcome, under its own trace. */
function follow(outcome: Outcome, trace: Trace): Outcome {
  if (outcome.kind === 'answered' && outcome.source === 'called') {
    return { ...outcome, trace, source: 'coalesced' };
  }
  if (outcome.kind === 'streaming') return { ...outcome, trace, source: 'coalesced' };
  return { ...outcome, trace };
}

function callRecord(model: ResolvedModel, priced: PricedCall, latencyMs: number): UpstreamCallRecord {
  return {
    model: model.entry.name,
    provider: model.provider,
    promptTokens: priced.usage?.promptTokens ?? null,
    cachedPromptTokens: priced.usage?.cachedPromptTokens ?? null,
    completionTokens: priced.usage?.completionTokens ?? null,
    costUsd: priced.costUsd,
    uncachedCostUsd: priced.uncachedCostUsd,
    latencyMs,
  };
}

import { Scrubber } from '../../common/secrets.js';
import { Logger } from '@nestjs/common';
import {
  agentsConfig,
  appConfig,
  chainOf,
  chunk,
  completion,
  deferred,
  FakeBudgetCounters,
  FakeConversations,
  FakeLedger,
  FakeSettings,
  FakeUpstream,
  fixedPrices,
  meteredCall,
  MODELS,
  NOON,
  usageChunk,
  FakeRateLimits,
} from '../../../test/support/pipeline-fakes.js';
import { ManualClock } from '../../common/clock.js';
import { BudgetService, type BudgetSettings } from '../../cost-monitoring/budget.service.js';
import { MetricsService } from '../../cost-monitoring/metrics.service.js';
import type { StoredSettings } from '../../redis/repositories/settings.repository.js';
import { Coalescer } from '../coalescer.js';
import { ProviderRegistry } from '../providers/provider-registry.js';
import type { UpstreamAnswer } from '../providers/upstream-caller.js';
import type { CachedAnswer } from '../response-cache.js';
import { SamplingService } from '../sampling/sampling.service.js';
import { AdmitStage } from './admit.stage.js';
import { CallStage } from './call.stage.js';
import { GateStage } from './gate.stage.js';
import type { MeteredCall, Outcome } from './metered-call.js';
import { MeteredCallPipeline } from './pipeline.js';
import { RecordStage } from './record.stage.js';
import { ScreenStage } from './screen.stage.js';
import { SettleStage } from './settle.stage.js';
import type { HubSubscriber, StreamHub, StreamSummary } from './stream-hub.js';

// The stages log refusals, outages and providers: not wanted in test output.
Logger.overrideLogger(false);

/** (1000 × $0.28 + 200 × $0.42) per million tokens: the cost of the fake upstream's default answer. */
const CALL_COST_PICO = 364_000_000n;

interface Setup {
  env?: Record<string, string>;
  budgets?: Partial<BudgetSettings>;
  /** STREAM_IDLE_TIMEOUT_SECONDS (default 30). */
  idleSeconds?: number;
}

/** The real stages and orchestrator over fakes of every repository and of the upstream. */
function build(setup: Setup = {}) {
  const settings = new FakeSettings({
    version: '1',
    sampling: {},
    eventThresholds: null,
    budgets: setup.budgets ?? null,
  });
  const conversations = new FakeConversations();
  const counters = new FakeBudgetCounters();
  const ledger = new FakeLedger();
  const upstream = new FakeUpstream();
  const metrics = new MetricsService();
  const config = appConfig(setup.env);
  const agents = agentsConfig({
    market_regime: { samplingStrategy: 'ALWAYS' },
    quiet_bot: { enableAi: false },
    never_bot: { samplingStrategy: 'NEVER' },
  });
  const { prices } = fixedPrices();
  const pipeline = new MeteredCallPipeline(
    new ScreenStage(new ProviderRegistry(config, MODELS), conversations.asRepository(), agents),
    new GateStage(new SamplingService(settings.asRepository(), agents)),
    new AdmitStage(
      new BudgetService(settings.asRepository(), counters.asRepository(), config),
      prices,
      new FakeRateLimits().asRepository(),
    ),
    new CallStage(upstream, { streamIdleTimeoutSeconds: setup.idleSeconds ?? 30 }),
    new SettleStage(prices, counters.asRepository()),
    new RecordStage(conversations.asRepository(), ledger.asLedger(), MODELS),
    conversations.asRepository(),
    settings.asRepository(),
    new Coalescer(),
    new ManualClock(NOON),
    metrics,
    new Scrubber([]),
  );
  const overhead = async (): Promise<{ count: number; sum: number }> => {
    const values = (await metrics.overhead.get()).values;
    const of = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
    return { count: of('bastion_overhead_seconds_count'), sum: of('bastion_overhead_seconds_sum') };
  };
  return { pipeline, settings, conversations, counters, ledger, upstream, overhead };
}

const CACHED: CachedAnswer = {
  response: 'Cached: BTC is trending up.',
  model: 'deepseek-v4-flash',
  provider: 'deepseek',
  prompt_tokens: 1000,
  cached_prompt_tokens: 0,
  completion_tokens: 200,
  cost_usd: 0.000364,
  created_at: NOON - 60_000,
};

const LAST = JSON.stringify({
  response: 'The last answer.',
  model: 'deepseek-v4-flash',
  at: NOON - 3_600_000,
});

/** The outcome, narrowed to `kind` (fails the test otherwise). */
function as<K extends Outcome['kind']>(outcome: Outcome, kind: K): Extract<Outcome, { kind: K }> {
  expect(outcome.kind).toBe(kind);
  return outcome as Extract<Outcome, { kind: K }>;
}

/** A client of a streamed answer: the text it got and how the stream ended for it. */
class StreamClient implements HubSubscriber {
  text = '';
  ended: StreamSummary | null = null;
  write(c: Record<string, unknown>): void {
    const choices = c.choices as { delta?: { content?: string } }[] | undefined;
    this.text += choices?.[0]?.delta?.content ?? '';
  }
  end(summary: StreamSummary): void {
    this.ended = summary;
  }
}

const finished = (hub: StreamHub): Promise<void> => new Promise((resolve) => hub.onFinish(() => resolve()));

/** Lets the pipeline's pending promise callbacks run (the stream pump reads chunk by chunk). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MeteredCallPipeline', () => {
  describe('a plain call', () => {
    it('calls the upstream once, settles its exact cost, caches the answer and records the call', async () => {
      const t = build();
      const outcome = as(await t.pipeline.run(meteredCall()), 'answered');
      expect(outcome.source).toBe('called');
      expect(outcome.answer).toMatchObject({
        response: 'An answer',
        cost_usd: 0.000364,
        provider: 'deepseek',
      });
      expect(t.upstream.calls).toBe(1);
      const reservation = t.conversations.plans[0].reservation;
      expect(reservation?.amountPico).toBeGreaterThan(0n);
      expect(t.counters.settles).toEqual([
        {
          requestId: reservation?.requestId,
          counters: reservation?.counters.map((c) => c.key),
          costPico: CALL_COST_PICO,
        },
      ]);
      expect(t.conversations.writes).toHaveLength(1);
      expect(t.conversations.writes[0].cache?.key).toBe(t.conversations.plans[0].cacheKey);
      expect(t.ledger.entries).toMatchObject([
        { reason: 'called', cacheHit: false, call: { costUsd: 0.000364 } },
      ]);
      expect((await t.overhead()).count).toBe(1);
    });

    it('books a door’s call once its answer is on its way: nothing before, everything in the next check phase', async () => {
      const t = build();
      const running = t.pipeline.run(meteredCall({ booksAfterAnswer: true }));
      const outcome = as(await running, 'answered');
      // The answer is complete (and exact) before any bookkeeping ...
      expect(outcome.answer).toMatchObject({ response: 'An answer', cost_usd: 0.000364 });
      expect(t.counters.settles).toEqual([]);
      expect(t.conversations.writes).toEqual([]);
      expect(t.ledger.entries).toEqual([]);
      expect((await t.overhead()).count).toBe(0);
      // ... which runs before the server can take in the next request (the poll phase after this check phase).
      await settle();
      expect(t.counters.settles).toMatchObject([{ costPico: CALL_COST_PICO }]);
      expect(t.conversations.writes).toHaveLength(1);
      expect(t.ledger.entries).toMatchObject([{ reason: 'called', call: { costUsd: 0.000364 } }]);
      expect((await t.overhead()).count).toBe(1);
    });

    it('logs a failure of deferred bookkeeping instead of crashing the process, and books the rest', async () => {
      const t = build();
      const errors: string[] = [];
      const ignore = (): void => undefined;
      Logger.overrideLogger({ log: ignore, warn: ignore, error: (m: unknown) => errors.push(String(m)) });
      t.counters.failSettle = true;
      t.ledger.failRecord = true;
      try {
        as(await t.pipeline.run(meteredCall({ booksAfterAnswer: true })), 'answered');
        await settle();
      } finally {
        Logger.overrideLogger(false);
      }
      expect(errors).toEqual([
        expect.stringMatching(/^Bookkeeping of a market_regime call failed: the budget counters broke/),
        expect.stringMatching(/^Bookkeeping of a market_regime call failed: the ledger broke/),
      ]);
      // The settle failing did not keep the answer out of the cache (nor release its in-flight marker late).
      expect(t.conversations.writes).toHaveLength(1);
    });

    it('answers a cache hit without an upstream call, a reservation or a write', async () => {
      const t = build();
      t.conversations.answers.push({ kind: 'hit', cached: JSON.stringify(CACHED) });
      const outcome = as(await t.pipeline.run(meteredCall()), 'answered');
      expect(outcome).toMatchObject({ source: 'response_cache', cacheHit: true, answer: CACHED });
      expect(t.upstream.calls).toBe(0);
      expect(t.counters.settles).toEqual([]);
      expect(t.conversations.writes).toEqual([]);
      expect(t.ledger.entries).toMatchObject([
        { reason: 'response_cache', savedUsd: 0.000364, savedLayer: 'response_cache' },
      ]);
      expect((await t.overhead()).count).toBe(1);
    });

    it('names the model asked for when a fallback answered', async () => {
      const t = build();
      t.upstream.answer = (chain) =>
        Promise.resolve({
          model: chain[1],
          completion: completion('From the fallback'),
          latencyMs: 30,
          attempts: 4,
        });
      const outcome = as(await t.pipeline.run(meteredCall()), 'answered');
      expect(outcome.fallbackFrom).toBe('deepseek-v4-flash');
      expect(outcome.answer.model).toBe('gpt-4o-mini');
    });

    it('skips an agent whose AI is off, with its last answer, before any claim', async () => {
      const t = build();
      t.conversations.lastAnswers.set('default:quiet_bot:BTC/USDT', LAST);
      const outcome = as(await t.pipeline.run(meteredCall({ agent: 'quiet_bot' })), 'skipped');
      expect(outcome).toMatchObject({
        reason: 'ai_disabled',
        message: 'AI is disabled for agent quiet_bot',
        last: { response: 'The last answer.' },
      });
      expect(t.conversations.plans).toEqual([]);
      expect(t.upstream.calls).toBe(0);
    });

    it("skips a sampled-out call with the strategy's reason, its last answer and the avoided average cost", async () => {
      const t = build();
      t.ledger.average = 0.0004;
      t.conversations.answers.push({ kind: 'sampled_out', last: LAST, change: null });
      const outcome = as(await t.pipeline.run(meteredCall({ agent: 'never_bot', sampling: {} })), 'skipped');
      expect(outcome).toMatchObject({
        reason: 'sampled_out',
        message: 'Sampled out (NEVER): strategy NEVER',
        last: { response: 'The last answer.' },
        savedUsd: 0.0004,
      });
      expect(t.conversations.plans[0].sampling).toEqual({ kind: 'deny' });
      expect(t.upstream.calls).toBe(0);
    });

    it('refuses a call over a hard budget with the window named, and makes no call', async () => {
      const t = build({ env: { BUDGET_ENFORCEMENT: 'hard', DAILY_BUDGET_USD: '1' } });
      t.conversations.answers.push({ kind: 'refused', last: LAST, counter: 0 });
      const outcome = as(await t.pipeline.run(meteredCall()), 'skipped');
      expect(outcome).toMatchObject({
        reason: 'budget_exceeded',
        message: 'The daily budget of $1 would be exceeded by this call (enforcement: hard)',
        last: { response: 'The last answer.' },
      });
      expect(t.conversations.plans[0].reservation?.counters[0].limitPico).toBe(1_000_000_000_000n);
      expect(t.upstream.calls).toBe(0);
      expect(t.ledger.entries).toMatchObject([{ reason: 'budget_exceeded' }]);
    });
  });

  describe('identical calls in flight', () => {
    it('make one upstream call; the others are answered as coalesced', async () => {
      const t = build();
      const held = deferred<UpstreamAnswer>();
      t.upstream.answer = () => held.promise;
      const runs = Array.from({ length: 5 }, () => t.pipeline.run(meteredCall()));
      await settle();
      held.resolve({
        model: chainOf('deepseek-v4-flash')[0],
        completion: completion('Shared answer'),
        latencyMs: 50,
        attempts: 1,
      });
      const outcomes = await Promise.all(runs);
      expect(t.upstream.calls).toBe(1);
      expect(outcomes.map((o) => (o.kind === 'answered' ? o.source : o.kind)).sort()).toEqual([
        'called',
        'coalesced',
        'coalesced',
        'coalesced',
        'coalesced',
      ]);
      for (const o of outcomes) expect(as(o, 'answered').answer.response).toBe('Shared answer');
      expect(new Set(outcomes.map((o) => o.trace.requestId)).size).toBe(5);
      expect(t.counters.settles).toHaveLength(1);
      expect(t.ledger.entries.filter((e) => e.reason === 'coalesced')).toHaveLength(4);
      expect((await t.overhead()).count).toBe(5);
    });

    it('do not make a CRITICAL event wait on, or share, a normal call', async () => {
      const t = build();
      const held = deferred<UpstreamAnswer>();
      t.upstream.answer = () => held.promise;
      const normal = t.pipeline.run(meteredCall());
      const critical = t.pipeline.run(
        meteredCall({ critical: true, cache: { ...meteredCall().cache, read: false } }),
      );
      await settle();
      expect(t.upstream.calls).toBe(2);
      held.resolve({
        model: chainOf('deepseek-v4-flash')[0],
        completion: completion('Fresh'),
        latencyMs: 10,
        attempts: 1,
      });
      const outcomes = await Promise.all([normal, critical]);
      expect(outcomes.map((o) => as(o, 'answered').source)).toEqual(['called', 'called']);
    });

    it("count a coalesced request's wait on the leader's upstream call as upstream time, not Bastion's", async () => {
      const t = build();
      const chain = chainOf('deepseek-v4-flash');
      t.upstream.answer = () =>
        new Promise((resolve) =>
          setTimeout(
            () => resolve({ model: chain[0], completion: completion('Slow'), latencyMs: 300, attempts: 1 }),
            300,
          ),
        );
      await Promise.all(Array.from({ length: 4 }, () => t.pipeline.run(meteredCall())));
      const { count, sum } = await t.overhead();
      expect(count).toBe(4);
      // Bastion's own work for the four together is far less than one upstream wait, let alone three.
      expect(sum).toBeLessThan(0.3);
    });
  });

  describe('the run-time settings', () => {
    const never: StoredSettings = {
      version: '2',
      sampling: { market_regime: { strategy: 'NEVER' } },
      eventThresholds: null,
      budgets: null,
    };

    it('are reloaded when another instance changed them, and the call is planned again with the new copy', async () => {
      const t = build();
      t.settings.upcoming.push(never);
      t.conversations.answers.push(
        { kind: 'stale', version: '2' },
        { kind: 'sampled_out', last: null, change: null },
      );
      const outcome = as(await t.pipeline.run(meteredCall({ sampling: {} })), 'skipped');
      expect(t.settings.reloads).toBe(1);
      expect(t.conversations.plans.map((p) => [p.settingsVersion, p.sampling])).toEqual([
        ['1', null],
        ['2', { kind: 'deny' }],
      ]);
      expect(outcome.message).toBe('Sampled out (NEVER): strategy NEVER');
    });

    it('that keep changing do not hold the call forever: it is decided with the newest copy read', async () => {
      const t = build();
      for (let i = 0; i < 5; i++) t.conversations.answers.push({ kind: 'stale', version: String(i + 2) });
      const outcome = as(await t.pipeline.run(meteredCall()), 'answered');
      expect(outcome.source).toBe('called');
      expect(t.conversations.plans).toHaveLength(3);
      expect(t.settings.reloads).toBe(2);
    });
  });

  describe('when the store does not answer', () => {
    const down = { kind: 'store_down' as const, error: new Error('connect ECONNREFUSED') };

    it('under a soft budget calls the upstream anyway and settles the real cost for when Redis is back', async () => {
      const t = build({ env: { BUDGET_ENFORCEMENT: 'soft', DAILY_BUDGET_USD: '1' } });
      t.conversations.answers.push(down);
      const outcome = as(await t.pipeline.run(meteredCall()), 'answered');
      expect(outcome.source).toBe('called');
      expect(t.upstream.calls).toBe(1);
      expect(t.counters.settles.map((s) => s.costPico)).toEqual([CALL_COST_PICO]);
    });

    it('under a hard budget refuses the call, which cannot be checked', async () => {
      const t = build({ env: { BUDGET_ENFORCEMENT: 'hard', DAILY_BUDGET_USD: '1' } });
      t.conversations.answers.push(down);
      const outcome = as(await t.pipeline.run(meteredCall()), 'skipped');
      expect(outcome.reason).toBe('budget_exceeded');
      expect(outcome.message).toMatch(/unreachable and the budget is hard/);
      expect(t.upstream.calls).toBe(0);
      // Redis may still run the pre-call late: its reservation goes back and its claims are taken back.
      expect(t.counters.settles.map((s) => s.costPico)).toEqual([0n]);
      expect(t.conversations.unclaims).toEqual([{ conversation: outcome.trace.conversation, now: NOON }]);
    });
  });

  describe('an upstream failure', () => {
    it('gives the reservation back and reaches the caller and every request that shared the call', async () => {
      const t = build();
      const failure = new Error('Upstream model call failed after 3 attempt(s)');
      t.upstream.answer = () => Promise.reject(failure);
      const results = await Promise.allSettled([
        t.pipeline.run(meteredCall()),
        t.pipeline.run(meteredCall()),
      ]);
      expect(results).toEqual([
        { status: 'rejected', reason: failure },
        { status: 'rejected', reason: failure },
      ]);
      const reservation = t.conversations.plans[0].reservation;
      expect(t.counters.settles).toEqual([
        {
          requestId: reservation?.requestId,
          counters: reservation?.counters.map((c) => c.key),
          costPico: 0n,
        },
      ]);
      expect(t.conversations.writes).toEqual([]);
    });
  });

  describe('a LOW event', () => {
    const low = (): MeteredCall => meteredCall({ sampling: {} });

    it('that would call the model is queued into its batch, with no reservation and no call', async () => {
      const t = build();
      const outcome = as(
        await t.pipeline.run(low(), () => Promise.resolve({ batchId: 'b-1', position: 3 })),
        'skipped',
      );
      expect(outcome).toMatchObject({
        reason: 'batched',
        message: 'Queued in batch b-1 at position 3',
        batch: { batchId: 'b-1', position: 3 },
      });
      expect(t.conversations.plans[0].reservation).toBeNull();
      expect(t.upstream.calls).toBe(0);
    });

    it('that cannot be queued is answered fresh, reserved, and marked degraded', async () => {
      const t = build();
      const outcome = as(
        await t.pipeline.run(low(), () => Promise.reject(new Error('event store unavailable'))),
        'answered',
      );
      expect(outcome).toMatchObject({ source: 'called', degraded: 'event_store_unavailable' });
      expect(t.upstream.calls).toBe(1);
      const [queued, fresh] = t.conversations.plans;
      expect(queued.reservation).toBeNull();
      expect(fresh).toMatchObject({ cacheKey: null, sampling: null });
      expect(fresh.reservation?.amountPico).toBeGreaterThan(0n);
      expect(t.counters.settles.map((s) => s.costPico)).toEqual([CALL_COST_PICO]);
    });
  });

  describe('a streamed call', () => {
    const streamed = (over: Partial<MeteredCall> = {}): MeteredCall =>
      meteredCall({ stream: true, cache: { ...meteredCall().cache, keepCompletion: true }, ...over });
    const USAGE = { prompt_tokens: 1000, completion_tokens: 200, prompt_cache_hit_tokens: 0 };

    it('is forwarded as produced, then settled exactly, cached whole and recorded once', async () => {
      const t = build();
      const hub = as(await t.pipeline.run(streamed()), 'streaming').hub;
      const client = new StreamClient();
      hub.subscribe(client);
      const feed = t.upstream.feeds[0];
      feed.push(chunk({ role: 'assistant', content: 'BTC ' }));
      await settle();
      expect(client.text).toBe('BTC ');
      expect(t.conversations.writes).toEqual([]);
      feed.push(chunk({ content: 'is up.' }, 'stop'));
      feed.push(usageChunk(USAGE));
      feed.end();
      await finished(hub);
      expect(client.text).toBe('BTC is up.');
      expect(client.ended).toEqual({ costUsd: 0.000364 });
      expect(t.upstream.streamBodies[0].stream_options).toEqual({ include_usage: true });
      expect(t.counters.settles.map((s) => s.costPico)).toEqual([CALL_COST_PICO]);
      const cached = JSON.parse(t.conversations.writes[0].cache?.value ?? 'null');
      expect(cached.response).toBe('BTC is up.');
      expect(cached.completion.choices[0].message.content).toBe('BTC is up.');
      expect(t.ledger.entries).toMatchObject([{ reason: 'called', call: { costUsd: 0.000364 } }]);
      expect((await t.overhead()).count).toBe(1);
    });

    it('is answered whole from the cache on a hit, without opening a stream', async () => {
      const t = build();
      t.conversations.answers.push({ kind: 'hit', cached: JSON.stringify(CACHED) });
      expect(as(await t.pipeline.run(streamed()), 'answered').source).toBe('response_cache');
      expect(t.upstream.calls).toBe(0);
      expect((await t.overhead()).count).toBe(1);
    });

    it('is shared by an identical request that arrives before it ends: one upstream stream, the whole text for both', async () => {
      const t = build();
      const leader = as(await t.pipeline.run(streamed()), 'streaming');
      const first = new StreamClient();
      leader.hub.subscribe(first);
      const feed = t.upstream.feeds[0];
      feed.push(chunk({ content: 'one ' }));
      await settle();
      const follower = as(await t.pipeline.run(streamed()), 'streaming');
      expect(follower.source).toBe('coalesced');
      const second = new StreamClient();
      follower.hub.subscribe(second);
      feed.push(chunk({ content: 'two' }, 'stop'));
      feed.end();
      await finished(leader.hub);
      expect(t.upstream.calls).toBe(1);
      expect([first.text, second.text]).toEqual(['one two', 'one two']);
      expect(t.ledger.entries.map((e) => e.reason).sort()).toEqual(['called', 'coalesced']);
    });

    it("counts every request of a shared stream in Bastion's overhead, the followers too", async () => {
      const t = build();
      const leader = as(await t.pipeline.run(streamed()), 'streaming');
      leader.hub.subscribe(new StreamClient());
      await t.pipeline.run(streamed());
      await t.pipeline.run(streamed());
      t.upstream.feeds[0].end();
      await finished(leader.hub);
      expect((await t.overhead()).count).toBe(3);
    });

    it("credits a follower of a shared stream with the stream's cost as its saving, like a coalesced plain call", async () => {
      const t = build();
      const leader = as(await t.pipeline.run(streamed()), 'streaming');
      leader.hub.subscribe(new StreamClient());
      const follower = as(await t.pipeline.run(streamed()), 'streaming');
      follower.hub.subscribe(new StreamClient());
      const feed = t.upstream.feeds[0];
      feed.push(chunk({ content: 'done' }, 'stop'));
      feed.push(usageChunk(USAGE));
      feed.end();
      await finished(leader.hub);
      await settle();
      const join = t.ledger.entries.find((e) => e.reason === 'coalesced');
      expect(join).toMatchObject({ savedUsd: 0.000364, savedLayer: 'coalescing' });
    });

    it('aborts the upstream when every client has left, caches nothing, and charges what was streamed', async () => {
      const t = build();
      const hub = as(await t.pipeline.run(streamed()), 'streaming').hub;
      const leave = hub.subscribe(new StreamClient());
      t.upstream.feeds[0].push(chunk({ content: 'half an ans' }));
      await settle();
      leave();
      await finished(hub);
      expect(t.upstream.feeds[0].aborted).toBe(true);
      expect(t.conversations.writes).toEqual([]);
      // No usage was reported before the abort: the prompt and the streamed output are charged at the
      // reservation's upper bound per token; the rest of the reservation goes back.
      const [settled] = t.counters.settles.map((s) => s.costPico);
      const reserved = t.conversations.plans[0].reservation?.amountPico ?? 0n;
      expect(typeof settled).toBe('bigint');
      expect(settled as bigint).toBeGreaterThan(0n);
      expect(settled as bigint).toBeLessThan(reserved);
    });

    it('tells its clients when the upstream fails midway, and caches nothing', async () => {
      const t = build();
      const hub = as(await t.pipeline.run(streamed()), 'streaming').hub;
      const chunks: Record<string, unknown>[] = [];
      hub.subscribe({ write: (c) => chunks.push(c), end: () => undefined });
      t.upstream.feeds[0].push(chunk({ content: 'partial' }));
      t.upstream.feeds[0].fail(new Error('socket hang up'));
      await finished(hub);
      expect(chunks.at(-1)).toMatchObject({
        error: { message: 'Upstream stream failed: socket hang up', code: 'upstream_error' },
      });
      expect(t.conversations.writes).toEqual([]);
    });

    it('that the upstream refuses gives the reservation back, and the next request opens a new stream', async () => {
      const t = build();
      t.upstream.openError = new Error('Upstream model call failed after 3 attempt(s)');
      await expect(t.pipeline.run(streamed())).rejects.toBe(t.upstream.openError);
      expect(t.counters.settles.map((s) => s.costPico)).toEqual([0n]);
      t.upstream.openError = null;
      expect(as(await t.pipeline.run(streamed()), 'streaming').source).toBe('called');
      expect(t.upstream.streamBodies).toHaveLength(2);
    });
  });
});

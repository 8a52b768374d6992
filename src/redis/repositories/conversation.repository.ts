import { Injectable } from '@nestjs/common';
import { type BastionPipeline, RedisService } from '../redis.service.js';
import { WriteQueue } from '../write-queue.js';

/** Whose conversation a request belongs to: the slot of its cache entries, last answer and claims. */
export interface ConversationRef {
  tenant: string;
  agent: string;
  symbol: string;
}

/** The sampler's part of the pre-call step, decided by the caller from the agent's strategy. */
export type SamplingClaim =
  | { kind: 'deny' }
  | { kind: 'interval'; ms: number }
  | { kind: 'change'; threshold: number; features: Record<string, number> };

export interface ReservationPlan {
  requestId: string;
  /** The budget counters the call counts in (global, agent, ...), each with its limit (pico, null = none). */
  counters: { key: string; limitPico: bigint | null }[];
  amountPico: bigint;
}

export interface PrecallPlan {
  conversation: ConversationRef;
  /** Run-time settings version the plan was made with. */
  settingsVersion: string;
  /** The response-cache entry to read first (null: do not read the cache). */
  cacheKey: string | null;
  /** Event gate: at most one call per interval (null: no interval). */
  intervalMs: number | null;
  sampling: SamplingClaim | null;
  reservation: ReservationPlan | null;
  /** The last answer is always returned when no call is made; on "go" only when asked. */
  lastAnswerOnGo: boolean;
  /** Coalescing across instances: mark the call in flight, or wait when another instance marked it. */
  inflight: InflightClaim | null;
  now: number;
}

/** The in-flight marker of a call whose answer other instances may wait for; it lapses unless renewed. */
export interface InflightClaim {
  key: string;
  token: string;
  leaseMs: number;
}

/** What a follower found while waiting for another instance's call. */
export type LeaderWait =
  | { kind: 'answer'; cached: string }
  /** The marker is gone without an answer (the leader failed or died): decide again. */
  | { kind: 'leader_gone' }
  | { kind: 'timeout' };

export type PrecallResult =
  | { kind: 'stale'; version: string }
  | { kind: 'hit'; cached: string }
  /** An identical call is in flight on another instance (nothing was claimed). */
  | { kind: 'wait' }
  | { kind: 'filtered'; last: string | null }
  | { kind: 'sampled_out'; last: string | null; change: number | null }
  | { kind: 'refused'; last: string | null; counter: number }
  | { kind: 'go'; last: string | null; change: number | null; reserved: boolean }
  /** Redis did not answer: the caller applies the policies of `gateway.precall` and `budget.reserve`. */
  | { kind: 'store_down'; error: Error };

export interface PostcallWrite {
  conversation: ConversationRef;
  cache: { key: string; value: string; ttlSeconds: number } | null;
  lastAnswer: { value: string; ttlSeconds: number } | null;
  /** Released after the cache entry is written (same connection, so waiting instances find the entry). */
  inflight?: InflightClaim | null;
}

/** Budget counters: a day and a month window each; 40 days covers a month and its alert checks. */
export const COUNTER_TTL_SECONDS = 40 * 86_400;
/** A reservation marker outlives any call and its settle retries. */
const MARKER_TTL_SECONDS = 2 * 86_400;

const changeOf = (raw: string | undefined): number | null =>
  raw === undefined || raw === '' || raw === 'first' ? null : raw === 'inf' ? Infinity : Number(raw);

/**
 * The gateway's state per conversation (tenant, agent, symbol): response cache, last answer, event-interval
 * and sampling claims, and the budget reservation of a call — read and claimed before an upstream call in
 * one round trip, written after it in one pipeline.
 */
@Injectable()
export class ConversationRepository {
  private readonly writes = new WriteQueue(ConversationRepository.name);

  constructor(private readonly redis: RedisService) {}

  /** Several instances may share this store (a real Redis): identical calls coalesce across them. */
  get sharedAcrossInstances(): boolean {
    return !this.redis.embedded;
  }

  inflightKey(cacheKey: string): string {
    return this.redis.keys.inflight(cacheKey);
  }

  cacheKey(c: ConversationRef, responseType: string, hash: string): string {
    return this.redis.keys.responseCache(c.tenant, c.agent, c.symbol, responseType, hash);
  }

  /**
   * The pre-call step (see PRECALL). On one Redis it is one script and one round trip; on a Cluster the
   * settings version, the conversation's claims and the budget counters sit in three slots, so it is a read of
   * the version, the claims, then the reservation — and a refused reservation gives back the in-flight marker.
   */
  async precall(plan: PrecallPlan): Promise<PrecallResult> {
    try {
      const reply = this.redis.cluster ? await this.precallSplit(plan) : await this.precallWhole(plan);
      return this.resultOf(plan, reply);
    } catch (err) {
      return { kind: 'store_down', error: err as Error };
    }
  }

  private precallWhole(plan: PrecallPlan): Promise<string[]> {
    const k = this.redis.keys;
    const res = plan.reservation;
    const filler = k.settingsVersion(); // unused slots repeat a key the script never touches there
    const keys = [
      k.settingsVersion(),
      ...this.claimKeys(plan, filler),
      res ? k.budgetReservation(res.requestId) : filler,
      ...(res?.counters.map((c) => c.key) ?? []),
    ];
    const args = this.argsOf(plan, plan.lastAnswerOnGo);
    return this.redis.run('gateway.precall', (client) => client.precall(keys.length, ...keys, ...args));
  }

  private async precallSplit(plan: PrecallPlan): Promise<string[]> {
    const k = this.redis.keys;
    const version = await this.redis.run('gateway.precall', (c) => c.get(k.settingsVersion()));
    if ((version ?? '') !== plan.settingsVersion) return ['stale', version ?? ''];
    const res = plan.reservation;
    // With a reservation to make, the claims return the last answer: a refusal answers with it.
    const args = this.argsOf(plan, plan.lastAnswerOnGo || res !== null);
    const { tenant, agent, symbol } = plan.conversation;
    const claimKeys = this.claimKeys(plan, k.lastAnswer(tenant, agent, symbol));
    const claims = await this.redis.run('gateway.precall', (c) =>
      c.precallClaims(claimKeys.length, ...claimKeys, ...args),
    );
    if (claims[0] !== 'go' || res === null) return claims;
    const reserveKeys = [k.budgetReservation(res.requestId), ...res.counters.map((c) => c.key)];
    const reserved = await this.redis.run('gateway.precall', (c) =>
      c.precallReserve(reserveKeys.length, ...reserveKeys, ...args),
    );
    if (reserved[0] === 'refused') {
      if (plan.inflight) this.releaseInflight(plan.inflight);
      return ['refused', claims[1] ?? '', reserved[2]];
    }
    return ['go', plan.lastAnswerOnGo ? (claims[1] ?? '') : '', claims[2] ?? ''];
  }

  /** Cache entry, last answer, interval claim, sampling claim, in-flight marker: one conversation's slot. */
  private claimKeys(plan: PrecallPlan, filler: string): string[] {
    const k = this.redis.keys;
    const { tenant, agent, symbol } = plan.conversation;
    return [
      plan.cacheKey ?? filler,
      k.lastAnswer(tenant, agent, symbol),
      k.eventGate(tenant, agent, symbol),
      plan.sampling?.kind === 'change'
        ? k.samplingFeatures(tenant, agent, symbol)
        : k.samplingClaim(tenant, agent, symbol),
      plan.inflight?.key ?? filler,
    ];
  }

  private argsOf(plan: PrecallPlan, lastOnGo: boolean): (string | number)[] {
    const res = plan.reservation;
    const s = plan.sampling;
    const features = s?.kind === 'change' ? Object.entries(s.features) : [];
    return [
      plan.settingsVersion,
      plan.cacheKey === null ? '0' : '1',
      plan.intervalMs ?? -1,
      plan.now,
      s?.kind ?? 'none',
      s?.kind === 'interval' ? s.ms : s?.kind === 'change' ? s.threshold : 0,
      res ? res.amountPico.toString() : '',
      COUNTER_TTL_SECONDS,
      MARKER_TTL_SECONDS,
      lastOnGo ? '1' : '0',
      plan.inflight?.token ?? '',
      plan.inflight?.leaseMs ?? 0,
      features.length,
      ...features.flat(),
      ...(res?.counters.map((c) => (c.limitPico === null ? '-1' : c.limitPico.toString())) ?? []),
    ];
  }

  private resultOf(plan: PrecallPlan, reply: string[]): PrecallResult {
    const last = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
    switch (reply[0]) {
      case 'stale':
        return { kind: 'stale', version: reply[1] ?? '' };
      case 'hit':
        return { kind: 'hit', cached: reply[1] };
      case 'wait':
        return { kind: 'wait' };
      case 'filtered':
        return { kind: 'filtered', last: last(reply[1]) };
      case 'sampled':
        return { kind: 'sampled_out', last: last(reply[1]), change: changeOf(reply[2]) };
      case 'refused':
        return { kind: 'refused', last: last(reply[1]), counter: Number(reply[2]) - 1 };
      default:
        return {
          kind: 'go',
          last: last(reply[1]),
          change: changeOf(reply[2]),
          reserved: plan.reservation !== null,
        };
    }
  }

  /**
   * Waits for the answer of an identical call in flight on another instance: reads its cache entry and its
   * marker together, every `pollMs`, until the answer is there, the marker is gone (its leader failed, or died
   * and its lease lapsed) or `deadline` (epoch ms) passes. Redis failing counts as the leader gone.
   */
  async awaitLeader(
    cacheKey: string,
    inflightKey: string,
    deadline: number,
    pollMs = 20,
  ): Promise<LeaderWait> {
    for (;;) {
      let entry: string | null;
      let marker: string | null;
      try {
        [entry, marker] = await this.redis.run('gateway.await_leader', (c) => c.mget(cacheKey, inflightKey));
      } catch {
        return { kind: 'leader_gone' };
      }
      if (entry !== null) return { kind: 'answer', cached: entry };
      if (marker === null) return { kind: 'leader_gone' };
      if (Date.now() + pollMs > deadline) return { kind: 'timeout' };
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Extends the leader's in-flight marker while its call runs (false: the marker is no longer ours). */
  async renewInflight(claim: InflightClaim): Promise<boolean> {
    const renewed = await this.redis.run(
      'gateway.inflight_lease',
      (c) => c.renewLease(claim.key, claim.token, claim.leaseMs),
      () => 0,
    );
    return renewed === 1;
  }

  /** Gives back an in-flight marker without an answer (failed call, refusal): followers decide again. */
  releaseInflight(claim: InflightClaim): void {
    this.writes.send(() =>
      this.redis.run('gateway.inflight_lease', (c) => c.releaseLease(claim.key, claim.token)),
    );
  }

  /** The cache entry and the last answer of a call, in one pipeline; sent at once, not awaited by callers. */
  async postcall(write: PostcallWrite): Promise<void> {
    const { tenant, agent, symbol } = write.conversation;
    const op = write.cache ? 'response_cache.store' : 'last_answer.write';
    await this.redis.run(
      op,
      async (client) => {
        const p = client.pipeline() as BastionPipeline;
        if (write.cache) p.set(write.cache.key, write.cache.value, 'EX', write.cache.ttlSeconds);
        if (write.lastAnswer) {
          const key = this.redis.keys.lastAnswer(tenant, agent, symbol);
          p.set(key, write.lastAnswer.value, 'EX', write.lastAnswer.ttlSeconds);
        }
        if (write.inflight) p.releaseLease(write.inflight.key, write.inflight.token);
        await p.exec();
      },
      () => undefined,
    );
  }

  /**
   * Takes back the interval and sampling claims of a pre-call step Bastion gave up on (see UNCLAIM), once Redis
   * takes the write; sent after the pre-call on the same connection, so it runs after it.
   */
  unclaim(c: ConversationRef, now: number): void {
    const k = this.redis.keys;
    this.writes.send(() =>
      this.redis.run('gateway.unclaim', (client) =>
        client.unclaim(
          k.eventGate(c.tenant, c.agent, c.symbol),
          k.samplingClaim(c.tenant, c.agent, c.symbol),
          k.samplingFeatures(c.tenant, c.agent, c.symbol),
          now,
        ),
      ),
    );
  }

  async lastAnswer(c: ConversationRef): Promise<string | null> {
    return this.redis.run(
      'last_answer.read',
      (client) => client.get(this.redis.keys.lastAnswer(c.tenant, c.agent, c.symbol)),
      () => null,
    );
  }

  async rememberAnswer(c: ConversationRef, value: string, ttlSeconds: number): Promise<void> {
    await this.postcall({ conversation: c, cache: null, lastAnswer: { value, ttlSeconds } });
  }
}

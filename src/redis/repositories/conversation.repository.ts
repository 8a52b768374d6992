import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';
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
  now: number;
}

export type PrecallResult =
  | { kind: 'stale'; version: string }
  | { kind: 'hit'; cached: string }
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

  cacheKey(c: ConversationRef, responseType: string, hash: string): string {
    return this.redis.keys.responseCache(c.tenant, c.agent, c.symbol, responseType, hash);
  }

  async precall(plan: PrecallPlan): Promise<PrecallResult> {
    const k = this.redis.keys;
    const { tenant, agent, symbol } = plan.conversation;
    const res = plan.reservation;
    const features = plan.sampling?.kind === 'change' ? Object.entries(plan.sampling.features) : [];
    const keys = [
      k.settingsVersion(),
      plan.cacheKey ?? k.settingsVersion(), // unused slots repeat a key the script never touches there
      k.lastAnswer(tenant, agent, symbol),
      k.eventGate(tenant, agent, symbol),
      plan.sampling?.kind === 'change'
        ? k.samplingFeatures(tenant, agent, symbol)
        : k.samplingClaim(tenant, agent, symbol),
      res ? k.budgetReservation(res.requestId) : k.settingsVersion(),
      ...(res?.counters.map((c) => c.key) ?? []),
    ];
    const s = plan.sampling;
    const args: (string | number)[] = [
      plan.settingsVersion,
      plan.cacheKey === null ? '0' : '1',
      plan.intervalMs ?? -1,
      plan.now,
      s?.kind ?? 'none',
      s?.kind === 'interval' ? s.ms : s?.kind === 'change' ? s.threshold : 0,
      res ? res.amountPico.toString() : '',
      COUNTER_TTL_SECONDS,
      MARKER_TTL_SECONDS,
      plan.lastAnswerOnGo ? '1' : '0',
      features.length,
      ...features.flat(),
      ...(res?.counters.map((c) => (c.limitPico === null ? '-1' : c.limitPico.toString())) ?? []),
    ];
    let reply: string[];
    try {
      reply = await this.redis.run('gateway.precall', (client) =>
        client.precall(keys.length, ...keys, ...args),
      );
    } catch (err) {
      return { kind: 'store_down', error: err as Error };
    }
    const last = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
    switch (reply[0]) {
      case 'stale':
        return { kind: 'stale', version: reply[1] ?? '' };
      case 'hit':
        return { kind: 'hit', cached: reply[1] };
      case 'filtered':
        return { kind: 'filtered', last: last(reply[1]) };
      case 'sampled':
        return { kind: 'sampled_out', last: last(reply[1]), change: changeOf(reply[2]) };
      case 'refused':
        return { kind: 'refused', last: last(reply[1]), counter: Number(reply[2]) - 1 };
      default:
        return { kind: 'go', last: last(reply[1]), change: changeOf(reply[2]), reserved: res !== null };
    }
  }

  /** The cache entry and the last answer of a call, in one pipeline; sent at once, not awaited by callers. */
  async postcall(write: PostcallWrite): Promise<void> {
    const { tenant, agent, symbol } = write.conversation;
    const op = write.cache ? 'response_cache.store' : 'last_answer.write';
    await this.redis.run(
      op,
      async (client) => {
        const p = client.pipeline();
        if (write.cache) p.set(write.cache.key, write.cache.value, 'EX', write.cache.ttlSeconds);
        if (write.lastAnswer) {
          const key = this.redis.keys.lastAnswer(tenant, agent, symbol);
          p.set(key, write.lastAnswer.value, 'EX', write.lastAnswer.ttlSeconds);
        }
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

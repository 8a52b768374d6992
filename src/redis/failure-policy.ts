import { DomainError } from '../common/errors.js';

/**
 * What a store operation does when Redis cannot answer (down, timed out, refusing writes):
 * - `open`: answer as if nothing were stored or the claim were granted; the request goes on (money-saving
 *   reads: without them a call costs more, but no bot goes blind);
 * - `closed`: refuse what the operation guards (a hard budget that cannot be checked);
 * - `queue`: keep the write in memory and write it when Redis is back (counters that must not be lost);
 * - `unavailable`: the caller gets 503 `store_unavailable` (a read that has no meaningful fallback).
 */
export type FailurePolicy = 'open' | 'closed' | 'queue' | 'unavailable';

/**
 * Every store operation and its policy, in one place. The README's "Budgets and Redis outages" table lists
 * the same rows (a unit test keeps the two equal). A repository runs an operation through
 * `RedisService.run(op, ...)`, which applies the policy named here; no caller invents its own.
 */
export const FAILURE_POLICIES = {
  'response_cache.lookup': { policy: 'open', effect: 'a miss: the model is called' },
  'response_cache.store': { policy: 'open', effect: 'the answer is delivered, not cached' },
  'last_answer.read': { policy: 'open', effect: 'no earlier answer is attached' },
  'last_answer.write': {
    policy: 'open',
    effect: 'the answer is delivered; the next skip serves an older one',
  },
  'settings.read': { policy: 'open', effect: 'the last settings read (or the files and environment) apply' },
  'settings.write': { policy: 'unavailable', effect: '503 store_unavailable; nothing changes' },
  'prompt.register': { policy: 'open', effect: 'the template is kept in memory and sent as usual' },
  'prompt.load': { policy: 'unavailable', effect: '503 store_unavailable' },
  lease: { policy: 'open', effect: 'no lease: the scheduled job skips this tick' },

  // Market data and budget alerts
  'market_cache.read': { policy: 'open', effect: 'a miss: the vendor is asked' },
  'market_cache.write': { policy: 'open', effect: 'the vendor answer is served, not cached' },
  'whale_alert.mark_seen': {
    policy: 'open',
    effect: 'the alert is processed as new: a duplicate event is better than a lost whale',
  },
  'whale_alert.store': {
    policy: 'open',
    effect: 'the alert still reaches the event gate; it is missing from the recent list',
  },
  'whale_alert.recent': {
    policy: 'unavailable',
    effect: '503 store_unavailable; the market context answers without recent alerts',
  },
  'alert.claim': {
    policy: 'closed',
    effect:
      'no alert this tick; the first check after Redis returns claims the marker and sends it once ' +
      '(sending without a marker would repeat the alert on every tick)',
  },
  'alert.record': {
    policy: 'open',
    effect: 'the claimed alert is still delivered (it would otherwise be lost); it is missing from the list',
  },
  'alert.list': { policy: 'unavailable', effect: '503 store_unavailable' },
} as const satisfies Record<string, { policy: FailurePolicy; effect: string }>;

export type StoreOperation = keyof typeof FAILURE_POLICIES;

export const policyOf = (op: StoreOperation): FailurePolicy => FAILURE_POLICIES[op].policy;

/** Redis could not serve an operation whose policy is `closed` or `unavailable`: answered as 503. */
export class StoreUnavailableError extends DomainError {
  constructor(
    readonly operation: StoreOperation,
    cause: unknown,
  ) {
    super(
      'store_unavailable',
      `The store (Redis) is unavailable for ${operation}: ${cause instanceof Error ? cause.message : String(cause)}. Retry when it is back.`,
      503,
    );
    this.name = 'StoreUnavailableError';
  }
}

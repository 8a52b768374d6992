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
  // The gateway's pre-call step: one script reads the cache and claims intervals, sampling and budget.
  'gateway.precall': {
    policy: 'open',
    effect:
      'a cache miss; the event interval and sampling claims are granted; the budget as `budget.reserve` says',
  },
  'budget.reserve': {
    policy: 'closed',
    effect:
      'a hard budget refuses the call (`budget_exceeded`); soft and off go on, and the call is charged to the counters when Redis is back',
  },
  'gateway.await_leader': {
    policy: 'open',
    effect:
      'a request waiting for an identical call on another instance stops waiting and decides again (it may call itself)',
  },
  'gateway.inflight_lease': {
    policy: 'queue',
    effect:
      'renewals are skipped and a release is retried from memory; an unreleased in-flight marker lapses with its lease (10 s)',
  },
  'gateway.unclaim': {
    policy: 'queue',
    effect:
      'kept in memory and retried: the claims of a pre-call step Bastion gave up waiting for are taken back once Redis answers',
  },
  'rate_limit.take': {
    policy: 'open',
    effect: 'the request goes through unlimited (a limit cannot be counted; the budget still holds)',
  },
  'api_key.lookup': {
    policy: 'unavailable',
    effect:
      'a managed key seen in the last minute is still recognised from memory; an unknown one gets 503 store_unavailable',
  },
  'api_key.budgets': { policy: 'open', effect: "no managed key's budget is checked this tick" },
  'api_key.write': {
    policy: 'unavailable',
    effect: '503 store_unavailable; no key is created, changed or removed',
  },
  'budget.settle': {
    policy: 'queue',
    effect: 'kept in memory and retried until written; written once even if a retry follows a timeout',
  },
  'budget.read': { policy: 'unavailable', effect: '503 store_unavailable' },
  'ledger.write': {
    policy: 'queue',
    effect: 'counters and rows stay in memory and are written when Redis is back, each batch exactly once',
  },
  'ledger.read': { policy: 'unavailable', effect: '503 store_unavailable' },
  'ledger.average_cost': {
    policy: 'open',
    effect: 'the last known average prices an avoided call (or none is counted)',
  },
  'event_window.observe': {
    policy: 'open',
    effect:
      'adaptive priority falls back to the static thresholds for that event (metadata `priority_fallback`)',
  },
  'batch.enqueue': {
    policy: 'open',
    effect: 'the LOW event is answered fresh instead (metadata `degraded: "event_store_unavailable"`)',
  },
  'batch.flush': { policy: 'open', effect: 'the batch stays queued and is taken again on a later tick' },
  'batch.read': { policy: 'unavailable', effect: '503 store_unavailable' },
  lease: { policy: 'open', effect: 'no lease: the scheduled job skips this tick' },
  // Agents: telemetry, run-time agent settings, scheduled anomaly scans and their alerts
  'telemetry.write': {
    policy: 'unavailable',
    effect: '503 store_unavailable; the bot sends the batch again',
  },
  'telemetry.read': { policy: 'unavailable', effect: '503 store_unavailable (no verdict without the data)' },
  'telemetry.active_bots': { policy: 'open', effect: 'no bot to scan: the scheduled scan skips this tick' },
  'agent_settings.read': { policy: 'open', effect: 'the settings of config/agents.yaml apply' },
  'agent_settings.write': { policy: 'unavailable', effect: '503 store_unavailable; nothing changes' },
  'anomaly_scan.store': { policy: 'open', effect: 'the scan result is not kept for /recent' },
  'anomaly_scan.recent': { policy: 'unavailable', effect: '503 store_unavailable' },
  'anomaly_alert.claim': {
    policy: 'closed',
    effect: 'no alert this tick (it could not be deduplicated); the next scan tries again',
  },
  'anomaly_alert.record': { policy: 'open', effect: 'the alert is sent but not listed' },
  'anomaly_alert.list': { policy: 'unavailable', effect: '503 store_unavailable' },

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

const POLICY_WORDS: Record<FailurePolicy, string> = {
  open: 'fail open',
  closed: 'fail closed',
  queue: 'queue in memory',
  unavailable: '503',
};

/** The README's table of these policies (a test keeps the README's copy equal to this). */
export function failurePolicyTable(): string {
  const rows = Object.entries(FAILURE_POLICIES).map(
    ([op, { policy, effect }]) => `| \`${op}\` | ${POLICY_WORDS[policy]} | ${effect} |`,
  );
  return ['| operation | when Redis fails | what happens |', '| --- | --- | --- |', ...rows].join('\n');
}

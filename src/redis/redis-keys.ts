import { botKeyOf, type BotRef } from '../common/tenant.js';

/**
 * Every Redis key Bastion uses is built here, under REDIS_KEY_PREFIX, so two tenants or two test runs can
 * share one Redis and a reader can see the whole key space in one file.
 *
 * On a Redis Cluster, keys a script or a transaction uses together must sit in one hash slot: each such family
 * shares a hash tag (`{...}`), chosen so the load still spreads — one tag per conversation (tenant, agent,
 * symbol), per batch group (tenant, agent), per bot, per managed key and per alert window; one for the ledger,
 * one for the budget counters (a reservation checks them all at once), one for the run-time settings and one
 * for the Whale Alert stream (its lease, fence and alerts).
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  private k(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /**
   * The hash tag of everything the gateway keeps per tenant, agent and symbol (cache entries, last answer,
   * interval and sampling claims): one Redis Cluster slot per conversation, so the pre-call script can read
   * and claim them together while the load spreads over agents and symbols.
   */
  private conversation(tenant: string, agent: string, symbol: string): string {
    return `{${tenant}:${agent}:${symbol}}`;
  }

  // AI gateway
  responseCache(tenant: string, agent: string, symbol: string, responseType: string, hash: string): string {
    return this.k('ai', 'response', this.conversation(tenant, agent, symbol), responseType, hash);
  }
  lastAnswer(tenant: string, agent: string, symbol: string): string {
    return this.k('ai', 'last', this.conversation(tenant, agent, symbol));
  }
  prompt(name: string, version: string): string {
    return this.k('ai', 'prompt', name, version);
  }

  // Event gate, sampling and batches
  eventGate(tenant: string, agent: string, symbol: string): string {
    return this.k('ai', 'event-gate', this.conversation(tenant, agent, symbol));
  }
  samplingClaim(tenant: string, agent: string, symbol: string): string {
    return this.k('ai', 'sampling', 'last', this.conversation(tenant, agent, symbol));
  }
  /** A hash of the features at the last CHANGE_BASED call. */
  samplingFeatures(tenant: string, agent: string, symbol: string): string {
    return this.k('ai', 'sampling', 'features', this.conversation(tenant, agent, symbol));
  }
  // Run-time settings: written with the version they bump in one transaction.
  samplingStrategies(): string {
    return this.k('ai', '{config}', 'sampling');
  }
  eventThresholds(): string {
    return this.k('ai', '{config}', 'event-thresholds');
  }
  budgetSettings(): string {
    return this.k('ai', '{config}', 'budgets');
  }
  /** Bumped by every run-time settings change, so each instance knows its copy is stale. */
  settingsVersion(): string {
    return this.k('ai', '{config}', 'version');
  }

  /**
   * The rolling window of adaptive event priority: one per tenant and symbol (`*` for the global scope), its
   * four sorted sets under one hash tag so the script that appends, trims and ranks runs in one slot.
   */
  eventWindow(tenant: string, scope: string): { times: string; move: string; range: string; volume: string } {
    const base = this.k('ai', 'event-window', `{window:${tenant}:${scope}}`);
    return { times: `${base}:t`, move: `${base}:move`, range: `${base}:range`, volume: `${base}:volume` };
  }

  // LOW-event batches, per batch group: a tenant's agent (`tenant.agent`, the start of each of its batch ids).
  private batchGroup(group: string): string {
    return `{batch:${group}}`;
  }
  /** Where a group's batches live: a batch's hash is this + its id, its events that + `:events`. */
  batchPrefix(group: string): string {
    return this.k('ai', 'batch', this.batchGroup(group), '');
  }
  batch(group: string, id: string): string {
    return this.batchPrefix(group) + id;
  }
  batchEvents(group: string, id: string): string {
    return `${this.batch(group, id)}:events`;
  }
  /** The batch a group is filling now (batches are per tenant: one never sees another's prompts). */
  openBatch(group: string): string {
    return this.k('ai', 'batch-open', this.batchGroup(group));
  }
  /** The group's batches by when they are due. */
  batchesDue(group: string): string {
    return this.k('ai', 'batches-due', this.batchGroup(group));
  }
  /** Every batch group that has queued events (the flusher looks through them). */
  batchGroups(): string {
    return this.k('ai', 'batch-groups');
  }
  /**
   * Marks the call whose answer will be stored under `responseCacheKey` as in flight on some instance, so the
   * others wait for that answer (same slot as the entry: the hash tag comes first).
   */
  inflight(responseCacheKey: string): string {
    return `${responseCacheKey}:inflight`;
  }
  eventStats(): string {
    return this.k('cost', '{ledger}', 'events');
  }

  // Cost ledger and stats: one slot, so a batch of counters and ledger rows is written in one atomic step.
  ledger(): string {
    return this.k('cost', '{ledger}', 'calls');
  }
  stats(scope: string): string {
    return this.k('cost', '{ledger}', 'stats', scope);
  }
  /** The agents and models seen overall, the tenants and keys seen, or the agents of one owner (tenant or key). */
  statsIndex(kind: 'agents' | 'models' | 'tenants' | 'keys', owner?: string): string {
    return owner === undefined
      ? this.k('cost', '{ledger}', 'index', kind)
      : this.k('cost', '{ledger}', 'index', owner, kind);
  }
  /** Marks a ledger batch as written, so a batch retried after a timeout is counted once. */
  ledgerBatch(id: string): string {
    return this.k('cost', '{ledger}', 'batch', id);
  }

  // Budgets: every counter in one slot, because a reservation checks and adds to all of them atomically.
  budgetSpend(period: string, scope: string): string {
    return this.k('budget', '{spend}', period, scope);
  }
  /** One call's reservation (its negated amount until it is settled, then "settled"). */
  budgetReservation(requestId: string): string {
    return this.k('budget', '{spend}', 'reservation', requestId);
  }

  // Market data
  market(key: string): string {
    return this.k('market', key);
  }

  // The Whale Alert stream, in one slot: the lease that picks the one instance holding the WebSocket, its
  // fencing counter, and the alerts' seen markers and recent list (an alert is checked against the fence,
  // marked and listed in one script). Alerts are rare, so one slot carries no real load.
  whaleStreamLease(): string {
    return this.k('market', '{whale-stream}', 'lease');
  }
  /** Bumped by every acquisition of the lease: the holder's fencing token. */
  whaleStreamFence(): string {
    return this.k('market', '{whale-stream}', 'fence');
  }
  whaleAlerts(): string {
    return this.k('market', '{whale-stream}', 'recent');
  }
  /** Marks one Whale Alert stream alert as handled, so a replay or a second instance skips it. */
  whaleAlertSeen(id: string): string {
    return this.k('market', '{whale-stream}', 'seen', id);
  }

  // Bot telemetry: one slot per bot (a tenant's bot: see botKeyOf).
  botEvents(bot: BotRef, kind: string): string {
    return this.k('bots', `{bot:${botKeyOf(bot)}}`, kind);
  }
  botMeta(bot: BotRef): string {
    return this.k('bots', `{bot:${botKeyOf(bot)}}`, 'meta');
  }

  // Budget alerts: the markers of one window together (their thresholds are claimed in one transaction).
  alertMarker(scope: string, periodId: string, threshold: number): string {
    return this.k('alerts', 'sent', `{${scope}:${periodId}}`, String(threshold));
  }
  alertList(): string {
    return this.k('alerts', '{alerts}', 'list');
  }
  alertRecords(): string {
    return this.k('alerts', '{alerts}', 'records');
  }

  // Managed API keys: records by id, and their SHA-256 digests (never the keys) to find them by.
  apiKeyRecords(): string {
    return this.k('keys', '{keys}', 'records');
  }
  apiKeyDigests(): string {
    return this.k('keys', '{keys}', 'digests');
  }
  /** A key's rate-limit state (GCRA arrival time), per limit; one slot per key. */
  rateLimit(keyId: string, limit: 'requests' | 'tokens'): string {
    return this.k('rate', `{${keyId}}`, limit);
  }

  // Scheduling
  lease(name: string): string {
    return this.k('lease', name);
  }

  // Agents: run-time settings, the index of bots that report telemetry, scheduled anomaly scans and alerts
  agentSettings(): string {
    return this.k('agents', 'settings');
  }
  activeBots(): string {
    return this.k('bots-index', 'active');
  }
  anomalyRecent(bot: BotRef): string {
    return this.k('anomaly', '{anomaly}', 'recent', botKeyOf(bot));
  }
  /** Every bot's scan results, or one tenant's bots' (null: the whole deployment). */
  anomalyRecentAll(tenant: string | null): string {
    return tenant === null
      ? this.k('anomaly', '{anomaly}', 'recent-all')
      : this.k('anomaly', '{anomaly}', 'recent-tenant', tenant);
  }
  anomalyAlertMarker(bot: BotRef, anomaly: string): string {
    return this.k('anomaly', 'alerted', botKeyOf(bot), anomaly);
  }
  /** Anomaly alerts of every tenant, or of one (null: the whole deployment). */
  anomalyAlertList(tenant: string | null): string {
    return tenant === null ? this.k('anomaly', 'alerts') : this.k('anomaly', 'alerts-tenant', tenant);
  }
  /** Pattern matching every key of this prefix (used by tests and maintenance, never on a hot path). */
  all(): string {
    return `${this.prefix.replace(/([*?[\]])/g, '\\$1')}*`;
  }
}

/**
 * Every Redis key Bastion uses is built here, under REDIS_KEY_PREFIX, so two tenants or two test runs can
 * share one Redis and a reader can see the whole key space in one file.
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
  samplingStrategies(): string {
    return this.k('ai', 'config', 'sampling');
  }
  eventThresholds(): string {
    return this.k('ai', 'config', 'event-thresholds');
  }
  /** Bumped by every run-time settings change, so each instance knows its copy is stale. */
  settingsVersion(): string {
    return this.k('ai', 'config', 'version');
  }
  batchPrefix(): string {
    return this.k('ai', 'batch', '');
  }
  batch(id: string): string {
    return this.batchPrefix() + id;
  }
  batchEvents(id: string): string {
    return `${this.batch(id)}:events`;
  }
  openBatchPrefix(): string {
    return this.k('ai', 'batch-open', '');
  }
  /** The batch a tenant's agent is filling now (batches are per tenant: one never sees another's prompts). */
  openBatch(tenant: string, agent: string): string {
    return `${this.openBatchPrefix()}${tenant}:${agent}`;
  }
  batchesDue(): string {
    return this.k('ai', 'batches-due');
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
  budgetSettings(): string {
    return this.k('budget', 'settings');
  }

  // Market data
  market(key: string): string {
    return this.k('market', key);
  }
  whaleAlerts(): string {
    return this.k('market', 'whale-alert', 'recent');
  }

  // Bot telemetry
  botEvents(botId: string, kind: string): string {
    return this.k('bots', botId, kind);
  }
  botMeta(botId: string): string {
    return this.k('bots', botId, 'meta');
  }

  // Budget alerts
  alertMarker(scope: string, periodId: string, threshold: number): string {
    return this.k('alerts', 'sent', scope, periodId, String(threshold));
  }
  alertList(): string {
    return this.k('alerts', 'list');
  }
  alertRecords(): string {
    return this.k('alerts', 'records');
  }

  // Managed API keys: records by id, and their SHA-256 digests (never the keys) to find them by.
  apiKeyRecords(): string {
    return this.k('keys', 'records');
  }
  apiKeyDigests(): string {
    return this.k('keys', 'digests');
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
  anomalyRecent(botId: string): string {
    return this.k('anomaly', 'recent', botId);
  }
  anomalyRecentAll(): string {
    return this.k('anomaly', 'recent-all');
  }
  anomalyAlertMarker(botId: string, anomaly: string): string {
    return this.k('anomaly', 'alerted', botId, anomaly);
  }
  anomalyAlertList(): string {
    return this.k('anomaly', 'alerts');
  }
  // Market data and budget alerts (store layer)
  /** Marks one Whale Alert stream alert as handled, so a replay or a second instance skips it. */
  whaleAlertSeen(id: string): string {
    return this.market(`whale_alert:seen:${id}`);
  }

  /** Pattern matching every key of this prefix (used by tests and maintenance, never on a hot path). */
  all(): string {
    return `${this.prefix.replace(/([*?[\]])/g, '\\$1')}*`;
  }
}

/**
 * Every Redis key Bastion uses is built here, under REDIS_KEY_PREFIX, so two tenants or two test runs can
 * share one Redis and a reader can see the whole key space in one file.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  private k(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  // AI gateway
  responseCache(agent: string, symbol: string, responseType: string, hash: string): string {
    return this.k('ai', 'response', agent, symbol, responseType, hash);
  }
  lastAnswer(agent: string, symbol: string): string {
    return this.k('ai', 'last', agent, symbol);
  }
  prompt(name: string, version: string): string {
    return this.k('ai', 'prompt', name, version);
  }
  inflight(hash: string): string {
    return this.k('ai', 'inflight', hash);
  }

  // Event gate, sampling and batches
  eventGate(agent: string, symbol: string): string {
    return this.k('ai', 'event-gate', agent, symbol);
  }
  samplingClaim(agent: string, symbol: string): string {
    return this.k('ai', 'sampling', 'last', agent, symbol);
  }
  samplingFeatures(agent: string, symbol: string): string {
    return this.k('ai', 'sampling', 'features', agent, symbol);
  }
  samplingStrategies(): string {
    return this.k('ai', 'config', 'sampling');
  }
  eventThresholds(): string {
    return this.k('ai', 'config', 'event-thresholds');
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
  openBatch(agent: string): string {
    return this.openBatchPrefix() + agent;
  }
  batchesDue(): string {
    return this.k('ai', 'batches-due');
  }
  eventStats(): string {
    return this.k('cost', 'events');
  }

  // Cost ledger and stats
  ledger(): string {
    return this.k('cost', 'ledger');
  }
  stats(scope: string): string {
    return this.k('cost', 'stats', scope);
  }
  statsIndex(kind: 'agents' | 'models'): string {
    return this.k('cost', 'index', kind);
  }

  // Budgets
  budgetSpend(period: string, scope: string): string {
    return this.k('budget', 'spend', period, scope);
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

  // Scheduling
  lease(name: string): string {
    return this.k('lease', name);
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

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

  // Scheduling
  lease(name: string): string {
    return this.k('lease', name);
  }

  /** Pattern matching every key of this prefix (used by tests and maintenance, never on a hot path). */
  all(): string {
    return `${this.prefix.replace(/([*?[\]])/g, '\\$1')}*`;
  }
}

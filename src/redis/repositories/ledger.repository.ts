import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/** Counters to add to one hash of the ledger (a stats scope, or the event counters). */
export interface CounterIncrements {
  hash: string;
  fields: Map<string, bigint>;
}

/** One sealed ledger batch: written exactly once, whatever the retries. */
export interface LedgerBatch {
  id: string;
  counters: CounterIncrements[];
  /** Members to add to the ledger's index sets (agents, models). */
  indexes: { set: string; members: Set<string> }[];
  /** Rows of the call stream, as field/value pairs. */
  rows: string[][];
}

const BATCH_MARKER_TTL_SECONDS = 7 * 86_400;
const LEDGER_MAX_LEN = 100_000;

/**
 * The cost ledger in Redis: per-scope counter hashes, index sets and a capped stream of calls, all in one
 * slot. A batch goes in one script that first sets the batch's marker, so a batch retried after a timeout
 * (written, but the reply lost) is counted once.
 */
@Injectable()
export class LedgerRepository {
  constructor(private readonly redis: RedisService) {}

  statsHash(scope: string): string {
    return this.redis.keys.stats(scope);
  }

  eventsHash(): string {
    return this.redis.keys.eventStats();
  }

  indexSet(kind: 'agents' | 'models' | 'tenants' | 'keys', owner?: string): string {
    return this.redis.keys.statsIndex(kind, owner);
  }

  /** Throws when Redis does not take the batch (policy `queue`: the caller keeps it and retries). */
  async write(batch: LedgerBatch): Promise<void> {
    const keys = [this.redis.keys.ledgerBatch(batch.id), this.redis.keys.ledger()];
    const index = new Map<string, number>();
    const slot = (key: string): number => {
      let i = index.get(key);
      if (i === undefined) {
        keys.push(key);
        i = keys.length;
        index.set(key, i);
      }
      return i;
    };
    const args: string[] = [String(BATCH_MARKER_TTL_SECONDS), String(LEDGER_MAX_LEN)];
    for (const { hash, fields } of batch.counters) {
      const i = String(slot(hash));
      for (const [field, by] of fields) if (by !== 0n) args.push('h', i, field, by.toString());
    }
    for (const { set, members } of batch.indexes) {
      const i = String(slot(set));
      for (const m of members) args.push('s', i, m);
    }
    for (const row of batch.rows) args.push('x', String(row.length / 2), ...row);
    await this.redis.run('ledger.write', (c) => c.ledgerFlush(keys.length, ...keys, ...args));
  }

  async hash(key: string): Promise<Record<string, string>> {
    return this.redis.run('ledger.read', (c) => c.hgetall(key));
  }

  /** A hash read to price an avoided call; null when Redis is away (the caller keeps its last average). */
  async hashForAverage(key: string): Promise<Record<string, string> | null> {
    return this.redis.run(
      'ledger.average_cost',
      (c) => c.hgetall(key),
      () => null,
    );
  }

  async hashes(keys: string[]): Promise<Record<string, string>[]> {
    if (keys.length === 0) return [];
    return this.redis.run('ledger.read', async (c) => {
      const p = c.pipeline();
      for (const key of keys) p.hgetall(key);
      const results = (await p.exec()) ?? [];
      return results.map(([err, raw]) => {
        if (err) throw err;
        return raw as Record<string, string>;
      });
    });
  }

  async members(set: string): Promise<string[]> {
    return this.redis.run('ledger.read', (c) => c.smembers(set));
  }

  /** Most recent calls, newest first. */
  async recentRows(count: number): Promise<Record<string, string>[]> {
    const rows = await this.redis.run('ledger.read', (c) =>
      c.xrevrange(this.redis.keys.ledger(), '+', '-', 'COUNT', count),
    );
    return rows.map(([id, fields]) => {
      const row: Record<string, string> = { id };
      for (let i = 0; i < fields.length; i += 2) row[fields[i]] = fields[i + 1];
      return row;
    });
  }
}

import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/** A managed API key as stored: its SHA-256 digest, never the key. */
export interface StoredApiKey {
  id: string;
  name: string;
  tenant: string;
  role: 'bot' | 'admin';
  digest: string;
  /** The first characters of the key, to tell keys apart in a list (not enough to use it). */
  prefix: string;
  rpm: number | null;
  tpm: number | null;
  daily_budget_usd: number | null;
  monthly_budget_usd: number | null;
  agents: string[] | null;
  models: string[] | null;
  created_at: string;
  rotated_at: string | null;
}

const parse = (raw: string | null): StoredApiKey | null =>
  raw === null ? null : (JSON.parse(raw) as StoredApiKey);

/** Managed API keys: records by id, and an index from digest to id to recognise a presented key. */
@Injectable()
export class ApiKeyRepository {
  constructor(private readonly redis: RedisService) {}

  async byDigest(digest: string): Promise<StoredApiKey | null> {
    const k = this.redis.keys;
    return this.redis.run('api_key.lookup', async (c) => {
      const id = await c.hget(k.apiKeyDigests(), digest);
      return id === null ? null : parse(await c.hget(k.apiKeyRecords(), id));
    });
  }

  async get(id: string): Promise<StoredApiKey | null> {
    return this.redis.run('api_key.lookup', async (c) =>
      parse(await c.hget(this.redis.keys.apiKeyRecords(), id)),
    );
  }

  async list(): Promise<StoredApiKey[]> {
    const all = await this.redis.run('api_key.lookup', (c) => c.hgetall(this.redis.keys.apiKeyRecords()));
    return Object.values(all)
      .map((raw) => JSON.parse(raw) as StoredApiKey)
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** The keys that have a budget (the scheduled budget check alerts on them); none while Redis is away. */
  async withBudgets(): Promise<StoredApiKey[]> {
    const all = await this.redis.run<Record<string, string>>(
      'api_key.budgets',
      (c) => c.hgetall(this.redis.keys.apiKeyRecords()),
      () => ({}),
    );
    return Object.values(all)
      .map((raw) => JSON.parse(raw) as StoredApiKey)
      .filter((k) => k.daily_budget_usd !== null || k.monthly_budget_usd !== null);
  }

  /** Stores a new key and starts recognising its secret. */
  async create(key: StoredApiKey): Promise<void> {
    const k = this.redis.keys;
    await this.redis.run('api_key.write', async (c) => {
      const results = await c
        .multi()
        .hset(k.apiKeyRecords(), key.id, JSON.stringify(key))
        .hset(k.apiKeyDigests(), key.digest, key.id)
        .exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0] as Error;
    });
  }

  /**
   * Changes a key as `change` says (null: delete it), on the record as it is in Redis at that moment: read,
   * then written only if unchanged since (CHANGE_API_KEY), again on a race. A deleted key stays deleted and a
   * rotated key's old secret stays refused, whatever change raced them. Returns the record before and after,
   * or null when there is no such key.
   */
  async change(
    id: string,
    change: (current: StoredApiKey) => StoredApiKey | null,
  ): Promise<{ before: StoredApiKey; after: StoredApiKey | null } | null> {
    const k = this.redis.keys;
    return this.redis.run('api_key.write', async (c) => {
      for (;;) {
        const raw = await c.hget(k.apiKeyRecords(), id);
        if (raw === null) return null;
        const before = JSON.parse(raw) as StoredApiKey;
        const after = change(before);
        const moved = after === null || after.digest !== before.digest;
        const written = await c.changeApiKey(
          k.apiKeyRecords(),
          k.apiKeyDigests(),
          id,
          raw,
          after === null ? '' : JSON.stringify(after),
          moved ? before.digest : '',
          after !== null && moved ? after.digest : '',
        );
        if (written === 1) return { before, after };
      }
    });
  }
}

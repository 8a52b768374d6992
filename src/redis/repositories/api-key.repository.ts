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

  /** Stores a key (new, changed or rotated); `replacedDigest` stops recognising the old secret. */
  async save(key: StoredApiKey, replacedDigest?: string): Promise<void> {
    const k = this.redis.keys;
    await this.redis.run('api_key.write', async (c) => {
      const tx = c
        .multi()
        .hset(k.apiKeyRecords(), key.id, JSON.stringify(key))
        .hset(k.apiKeyDigests(), key.digest, key.id);
      if (replacedDigest && replacedDigest !== key.digest) tx.hdel(k.apiKeyDigests(), replacedDigest);
      const results = await tx.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0] as Error;
    });
  }

  async delete(key: StoredApiKey): Promise<void> {
    const k = this.redis.keys;
    await this.redis.run('api_key.write', async (c) => {
      await c.multi().hdel(k.apiKeyRecords(), key.id).hdel(k.apiKeyDigests(), key.digest).exec();
    });
  }
}

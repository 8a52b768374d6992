import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { hash, timingSafeEqual } from 'node:crypto';
import { authConfig } from '../config/namespaces.js';
import { ApiKeyRepository, type StoredApiKey } from '../redis/repositories/api-key.repository.js';
import { StoreUnavailableError } from '../redis/failure-policy.js';
import type { Caller } from './caller.js';

interface KnownKey {
  digest: Buffer;
  caller: Caller;
}

/** How long an instance trusts what it read about a managed key: a revoked key is refused everywhere within it. */
const FRESH_MS = 500;
/** While Redis is away, a managed key seen this recently is still recognised. */
const STALE_MS = 60_000;
const MAX_CACHED = 10_000;

/** SHA-256 of a key (one-shot `hash`: about half the cost of createHash on every request's key). */
export const keyDigest = (key: string): Buffer => hash('sha256', key, 'buffer');

/** The caller a managed key stands for. */
export function managedCaller(key: StoredApiKey): Caller {
  return {
    scope: `managed:${key.id}`,
    tenant: key.tenant,
    admin: key.role === 'admin',
    key: {
      id: key.id,
      name: key.name,
      rpm: key.rpm,
      tpm: key.tpm,
      dailyBudgetUsd: key.daily_budget_usd,
      monthlyBudgetUsd: key.monthly_budget_usd,
      agents: key.agents,
      models: key.models,
    },
  };
}

/**
 * Who a presented key belongs to: the keys of the environment (API_KEYS, ADMIN_API_KEYS), compared in constant
 * time whatever their length — every known key's digest against the presented key's digest, no early exit —
 * then the managed keys of POST /admin/keys, found by their SHA-256 digest in Redis and trusted for FRESH_MS.
 */
@Injectable()
export class KeyDirectory {
  private readonly logger = new Logger(KeyDirectory.name);
  private readonly environment: KnownKey[];
  private readonly managed = new Map<string, { caller: Caller | null; at: number }>();

  constructor(
    @Inject(authConfig.KEY) config: ConfigType<typeof authConfig>,
    private readonly store: ApiKeyRepository,
  ) {
    this.environment = [
      ...config.adminApiKeys.map((k, i) => ({
        digest: keyDigest(k.key),
        caller: { scope: `admin${i}`, tenant: k.tenant, admin: true, key: null },
      })),
      ...config.apiKeys.map((k, i) => ({
        digest: keyDigest(k.key),
        caller: { scope: `key${i}`, tenant: k.tenant, admin: false, key: null },
      })),
    ];
  }

  /** No key is configured in the environment (the API is open unless keys are managed at run time). */
  get noEnvironmentKeys(): boolean {
    return this.environment.length === 0;
  }

  async identify(presented: string): Promise<Caller | undefined> {
    const digest = keyDigest(presented);
    let found: Caller | undefined;
    for (const k of this.environment) {
      if (timingSafeEqual(digest, k.digest) && found === undefined) found = k.caller;
    }
    return found ?? (await this.managedCaller(digest.toString('hex'))) ?? undefined;
  }

  /** Forgets what this instance knows of a key (it changed here); other instances forget within FRESH_MS. */
  forget(digest: string): void {
    this.managed.delete(digest);
  }

  private async managedCaller(digest: string): Promise<Caller | null> {
    const now = Date.now();
    const known = this.managed.get(digest);
    if (known && now - known.at < FRESH_MS) return known.caller;
    let stored: StoredApiKey | null;
    try {
      stored = await this.store.byDigest(digest);
    } catch (err) {
      if (known && known.caller && now - known.at < STALE_MS) return known.caller;
      if (err instanceof StoreUnavailableError) throw err;
      throw new StoreUnavailableError('api_key.lookup', err);
    }
    const caller = stored ? managedCaller(stored) : null;
    if (this.managed.size >= MAX_CACHED) this.managed.clear();
    this.managed.set(digest, { caller, at: now });
    return caller;
  }
}

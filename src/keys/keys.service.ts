import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { Clock } from '../common/clock.js';
import { keyDigest, KeyDirectory } from '../common/key-directory.js';
import { ApiKeyRepository, type StoredApiKey } from '../redis/repositories/api-key.repository.js';
import type { KeyFields } from './keys.schema.js';

/** A key as the API shows it: never the secret, never its digest. */
export type ShownKey = Omit<StoredApiKey, 'digest'>;

const show = ({ digest: _d, ...key }: StoredApiKey): ShownKey => key;

/** The secret of a new key: 32 random bytes, base64url, after a prefix that says what it is. */
const newSecret = (): string => `bst_${randomBytes(32).toString('base64url')}`;

/**
 * API keys managed at run time: created with a tenant, a role, limits and budgets, shown once, stored as a
 * SHA-256 digest, changed, rotated and deleted. Every instance recognises a change within half a second.
 */
@Injectable()
export class KeysService {
  private readonly logger = new Logger(KeysService.name);

  constructor(
    private readonly store: ApiKeyRepository,
    private readonly directory: KeyDirectory,
    private readonly clock: Clock,
  ) {}

  async create(fields: KeyFields): Promise<ShownKey & { key: string }> {
    const secret = newSecret();
    const record: StoredApiKey = {
      id: randomUUID(),
      name: fields.name,
      tenant: fields.tenant,
      role: fields.role ?? 'bot',
      digest: keyDigest(secret).toString('hex'),
      prefix: secret.slice(0, 8),
      rpm: fields.rpm ?? null,
      tpm: fields.tpm ?? null,
      daily_budget_usd: fields.daily_budget_usd ?? null,
      monthly_budget_usd: fields.monthly_budget_usd ?? null,
      agents: fields.agents ?? null,
      models: fields.models ?? null,
      created_at: new Date(this.clock.now()).toISOString(),
      rotated_at: null,
    };
    await this.store.create(record);
    this.logger.log(
      `API key ${record.id} (${record.name}) created for tenant ${record.tenant}, role ${record.role}`,
    );
    return { ...show(record), key: secret };
  }

  async list(): Promise<ShownKey[]> {
    return (await this.store.list()).map(show);
  }

  async get(id: string): Promise<ShownKey> {
    return show(await this.found(id));
  }

  async update(id: string, change: Partial<KeyFields>): Promise<ShownKey> {
    const { before, after } = await this.changed(id, (current) => ({ ...current, ...change }));
    this.directory.forget(before.digest);
    this.logger.log(`API key ${id} changed: ${Object.keys(change).join(', ')}`);
    return show(after as StoredApiKey);
  }

  /** A new secret for the key; the old one is refused from now on (on every instance within half a second). */
  async rotate(id: string): Promise<ShownKey & { key: string }> {
    const secret = newSecret();
    const { before, after } = await this.changed(id, (current) => ({
      ...current,
      digest: keyDigest(secret).toString('hex'),
      prefix: secret.slice(0, 8),
      rotated_at: new Date(this.clock.now()).toISOString(),
    }));
    this.directory.forget(before.digest);
    this.logger.log(`API key ${id} rotated`);
    return { ...show(after as StoredApiKey), key: secret };
  }

  async delete(id: string): Promise<void> {
    const { before } = await this.changed(id, () => null);
    this.directory.forget(before.digest);
    this.logger.log(`API key ${id} (${before.name}) deleted`);
  }

  /** Applies `change` to the key as stored at that moment (see ApiKeyRepository.change); 404 if there is none. */
  private async changed(id: string, change: (current: StoredApiKey) => StoredApiKey | null) {
    const result = /^[0-9a-f-]{36}$/.test(id) ? await this.store.change(id, change) : null;
    if (!result) throw new NotFoundException(`No API key ${id}`);
    return result;
  }

  private async found(id: string): Promise<StoredApiKey> {
    const key = /^[0-9a-f-]{36}$/.test(id) ? await this.store.get(id) : null;
    if (!key) throw new NotFoundException(`No API key ${id}`);
    return key;
  }
}

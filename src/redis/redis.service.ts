import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { type ChainableCommander, Cluster, Redis, type RedisOptions } from 'ioredis';
import RedisMock from 'ioredis-mock';
import type { ConfigType } from '@nestjs/config';
import { redisConfig } from '../config/namespaces.js';
import { RedisKeys } from './redis-keys.js';
import { policyOf, StoreUnavailableError, type StoreOperation } from './failure-policy.js';
import {
  CLAIM_BATCH,
  COMPLETE_BATCH,
  ENQUEUE_EVENT,
  LEDGER_FLUSH,
  OBSERVE_EVENT,
  PRECALL,
  PRECALL_CLAIMS,
  PRECALL_RESERVE,
  RATE_LIMIT,
  RELEASE_BATCH,
  RELEASE_LEASE,
  RENEW_LEASE,
  CHANGE_API_KEY,
  SETTLE,
  UNCLAIM,
} from './scripts.js';

export type RedisClient = Redis;

/** The user and password of REDIS_URL, for the nodes of a Cluster or the master behind Sentinels. */
function credentialsOf(url: string | undefined): Pick<RedisOptions, 'username' | 'password'> {
  if (url === undefined) return {};
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}

/** A pipeline, with the scripts that can be queued in one. */
export type BastionPipeline = ChainableCommander & {
  releaseLease(key: string, token: string): BastionPipeline;
};

export interface BastionScripts {
  precall(numKeys: number, ...args: (string | number)[]): Promise<string[]>;
  precallClaims(numKeys: number, ...args: (string | number)[]): Promise<string[]>;
  precallReserve(numKeys: number, ...args: (string | number)[]): Promise<string[]>;
  renewLease(key: string, token: string, ms: number): Promise<number>;
  settle(numKeys: number, ...args: (string | number)[]): Promise<number>;
  ledgerFlush(numKeys: number, ...args: (string | number)[]): Promise<number>;
  releaseLease(key: string, token: string): Promise<number>;
  changeApiKey(
    records: string,
    digests: string,
    id: string,
    read: string,
    next: string,
    dropDigest: string,
    addDigest: string,
  ): Promise<number>;
  unclaim(intervalKey: string, samplingKey: string, featuresKey: string, now: number): Promise<number>;
  rateLimit(requestsKey: string, tokensKey: string, ...args: (string | number)[]): Promise<string[]>;
  enqueueEvent(...args: (string | number)[]): Promise<[string, number, number]>;
  claimBatch(...args: (string | number)[]): Promise<string[] | null>;
  completeBatch(...args: (string | number)[]): Promise<number>;
  releaseBatch(...args: (string | number)[]): Promise<number>;
  observeEvent(...args: (string | number)[]): Promise<number[]>;
}

/**
 * The one owner of the Redis connection: creates it, connects it before anyone uses it, reconnects
 * forever when Redis goes away, holds the Lua scripts and closes the connection last on shutdown.
 * Without REDIS_URL it runs on an embedded in-process store (ioredis-mock) for single-process use.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis & BastionScripts;
  readonly keys: RedisKeys;
  readonly embedded: boolean;
  /** A Redis Cluster: scripts touching keys of two slots run as one call per slot (see ConversationRepository). */
  readonly cluster: boolean;
  private lastErrorLog = 0;

  constructor(@Inject(redisConfig.KEY) config: ConfigType<typeof redisConfig>) {
    this.keys = new RedisKeys(config.redisKeyPrefix);
    this.cluster = config.redisClusterNodes.length > 0;
    const sentinel = config.redisSentinels.length > 0;
    this.embedded = config.redisUrl === undefined && !this.cluster && !sentinel;
    // Fail fast while disconnected: callers degrade (no cache, budget policy) instead of queueing.
    const options: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      ...credentialsOf(config.redisUrl),
    };
    let client: Redis | Cluster;
    if (this.embedded) client = new RedisMock({ lazyConnect: true });
    else if (this.cluster) {
      client = new Cluster(config.redisClusterNodes, {
        lazyConnect: true,
        enableOfflineQueue: false,
        redisOptions: options,
        clusterRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      });
    } else if (sentinel) {
      client = new Redis({ ...options, sentinels: config.redisSentinels, name: config.redisSentinelName });
    } else client = new Redis(config.redisUrl as string, options);
    // Scripts whose number of keys varies per call. ioredis-mock ignores a per-call key count on a defined
    // command, so the embedded store runs them through EVAL instead.
    const variadic = {
      precall: PRECALL,
      precallClaims: PRECALL_CLAIMS,
      precallReserve: PRECALL_RESERVE,
      settle: SETTLE,
      ledgerFlush: LEDGER_FLUSH,
    };
    for (const [name, lua] of Object.entries(variadic)) {
      if (this.embedded) {
        Object.assign(client, {
          [name]: (numKeys: number, ...args: (string | number)[]) => client.eval(lua, numKeys, ...args),
        });
      } else {
        client.defineCommand(name, { lua });
      }
    }
    client.defineCommand('releaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE });
    client.defineCommand('renewLease', { numberOfKeys: 1, lua: RENEW_LEASE });
    client.defineCommand('changeApiKey', { numberOfKeys: 2, lua: CHANGE_API_KEY });
    client.defineCommand('unclaim', { numberOfKeys: 3, lua: UNCLAIM });
    client.defineCommand('rateLimit', { numberOfKeys: 2, lua: RATE_LIMIT });
    client.defineCommand('enqueueEvent', { numberOfKeys: 2, lua: ENQUEUE_EVENT });
    client.defineCommand('claimBatch', { numberOfKeys: 3, lua: CLAIM_BATCH });
    client.defineCommand('completeBatch', { numberOfKeys: 2, lua: COMPLETE_BATCH });
    client.defineCommand('releaseBatch', { numberOfKeys: 2, lua: RELEASE_BATCH });
    client.defineCommand('observeEvent', { numberOfKeys: 4, lua: OBSERVE_EVENT });
    client.on('error', (err: Error) => this.logError(err));
    client.on('ready', () =>
      this.logger.log(
        this.embedded ? 'Embedded store ready' : this.cluster ? 'Redis Cluster connected' : 'Redis connected',
      ),
    );
    // A Cluster client speaks the same commands as a Redis client (each routed to its key's slot).
    this.client = client as unknown as Redis & BastionScripts;
  }

  /** Called by the module factory so the connection exists before any consumer is constructed. */
  async connect(): Promise<void> {
    if (this.embedded) {
      this.logger.warn(
        'REDIS_URL is not set: using the embedded in-process store. State is lost on restart and not shared ' +
          'between instances; set REDIS_URL to run more than one instance.',
      );
    }
    try {
      // ioredis keeps retrying a refused connection; do not hold the whole boot hostage to it.
      await Promise.race([
        this.client.connect(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
      ]);
    } catch (err) {
      // Keep starting: readiness reports the outage and ioredis keeps reconnecting in the background.
      this.logger.error(
        `Redis is not reachable at start (${(err as Error).message}); retrying in the background`,
      );
    }
  }

  /**
   * Runs one store operation under its failure policy (failure-policy.ts): `open` answers `fallback()` and
   * logs, `closed` and `unavailable` throw StoreUnavailableError, `queue` rethrows for the repository to keep
   * the write. Only repositories in src/redis/ call this; nothing else touches the client.
   */
  async run<T>(
    op: StoreOperation,
    work: (client: RedisClient & BastionScripts) => Promise<T>,
    fallback?: () => T,
  ): Promise<T> {
    try {
      return await work(this.client);
    } catch (err) {
      const policy = policyOf(op);
      if (policy === 'open' && fallback) {
        this.logDegraded(op, err);
        return fallback();
      }
      if (policy === 'queue') throw err;
      throw new StoreUnavailableError(op, err);
    }
  }

  pipeline(): BastionPipeline {
    return this.client.pipeline() as BastionPipeline;
  }

  get ready(): boolean {
    return this.embedded || this.client.status === 'ready';
  }

  async ping(timeoutMs = 1000): Promise<boolean> {
    if (!this.ready) return false;
    const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    try {
      return await Promise.race([this.client.ping().then((r) => r === 'PONG'), timeout]);
    } catch {
      return false;
    }
  }

  /** Try to take a named lease for `ttlMs`; returns a release function, or null if another holder has it. */
  async acquireLease(name: string, ttlMs: number): Promise<(() => Promise<void>) | null> {
    const key = this.keys.lease(name);
    const token = randomUUID();
    const ok = await this.run(
      'lease',
      (c) => c.set(key, token, 'PX', ttlMs, 'NX'),
      () => null,
    );
    if (ok !== 'OK') return null;
    return async () => {
      // A lease that cannot be released expires by itself.
      await this.run(
        'lease',
        (c) => c.releaseLease(key, token),
        () => 0,
      );
    };
  }

  /** Delete every key under this instance's prefix (tests and `memory://` resets only). */
  async deleteAllWithPrefix(): Promise<void> {
    if (this.keys.prefix === '') throw new Error('Refusing to delete keys without a REDIS_KEY_PREFIX');
    // A Cluster's keys are spread over its masters: scan each, delete key by key (one slot per command).
    const nodes = this.cluster ? (this.client as unknown as Cluster).nodes('master') : [this.client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', this.keys.all(), 'COUNT', 500);
        cursor = next;
        if (batch.length === 0) continue;
        if (this.cluster) await Promise.all(batch.map((key) => this.client.del(key)));
        else await this.client.del(...batch);
      } while (cursor !== '0');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
  }

  private readonly degradedLogged = new Map<string, number>();

  /** One warning per operation and outage burst, not one per request. */
  private logDegraded(op: StoreOperation, err: unknown): void {
    const now = Date.now();
    if (now - (this.degradedLogged.get(op) ?? 0) < 10_000) return;
    this.degradedLogged.set(op, now);
    this.logger.warn(`Store unavailable for ${op} (${(err as Error).message}); failing open`);
  }

  private logError(err: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 5000) return; // one line per outage burst, not one per retry
    this.lastErrorLog = now;
    this.logger.error(`Redis error: ${err.message}`);
  }
}

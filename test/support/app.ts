import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Cluster } from 'ioredis';
import { createApp } from '../../src/app.factory.js';
import { Clock } from '../../src/common/clock.js';
import { RedisService } from '../../src/redis/redis.service.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether this test file runs in the jest "cluster" project (against the local three-master Redis Cluster). */
export const ON_CLUSTER = process.env.BASTION_TEST_STORE === 'cluster';

/**
 * The store settings of this run: the single Redis (REDIS_URL) by default, the local Redis Cluster
 * (REDIS_CLUSTER_NODES, started by the cluster project's global setup) in the "cluster" project.
 */
export function testStoreEnv(): Record<string, string | undefined> {
  if (!ON_CLUSTER) return { REDIS_URL: TEST_REDIS_URL };
  const nodes = process.env.BASTION_TEST_CLUSTER_NODES;
  if (!nodes)
    throw new Error('The cluster project runs without its Redis Cluster (see jest.config.js globalSetup)');
  return { REDIS_URL: undefined, REDIS_CLUSTER_NODES: nodes };
}

/** A human name of the store this run uses, for test titles. */
export const TEST_STORE_NAME = ON_CLUSTER ? 'Redis Cluster' : 'Redis';
export const BOT_KEY = 'test-bot-key-0001';
export const ADMIN_KEY = 'test-admin-key-0001';

/** Captured JSON log lines of one app, so tests can check what was (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: NestFastifyApplication;
  url: string;
  prefix: string;
  logs: LogCapture;
  redis: RedisService;
  /** fetch JSON with the bot key (or `key`), returning status and parsed body. */
  request(
    method: string,
    path: string,
    body?: unknown,
    key?: string | null,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(opts?: { keepKeys?: boolean }): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string | undefined>;
  /** Share another app's key prefix (two instances on one Redis). */
  prefix?: string;
  clock?: Clock;
}

/** Boots the real application on a random port against real Redis, under a fresh key prefix. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const prefix = options.prefix ?? `bastion-test:${randomUUID().slice(0, 8)}:`;
  const env = {
    NODE_ENV: 'test',
    // A test that brings its own Redis (REDIS_URL: a disposable or faulty one) gets it, not the run's store.
    ...(options.env?.REDIS_URL === undefined ? testStoreEnv() : {}),
    REDIS_KEY_PREFIX: prefix,
    API_KEYS: BOT_KEY,
    ADMIN_API_KEYS: ADMIN_KEY,
    LOG_LEVEL: 'info',
    // Scheduled budget checks would race the tests that run them by hand: once a year is never here.
    BUDGET_CHECK_CRON: '0 0 0 1 1 *',
    // Tests never reach the real vendor: a closed local port answers "refused" at once.
    FEAR_GREED_URL: 'http://127.0.0.1:9/fng/',
    ...options.env,
  };
  const logs = new LogCapture();
  const app = await createApp(env, { logStream: logs, clock: options.clock });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const redis = app.get(RedisService);
  return {
    app,
    url,
    prefix,
    logs,
    redis,
    async request(method, path, body, key = BOT_KEY, headers = {}) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close(opts = {}) {
      if (!opts.keepKeys) await redis.deleteAllWithPrefix().catch(() => undefined);
      await app.close();
    },
  };
}

/**
 * Every key matching `pattern`, on a single Redis or on every master of a Redis Cluster (a SCAN sent to a
 * Cluster client reaches one node only).
 */
export async function scanKeys(redis: RedisService, pattern: string): Promise<string[]> {
  const nodes = redis.cluster ? (redis.client as unknown as Cluster).nodes('master') : [redis.client];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/**
 * Boots the real Bastion (createApp) for a benchmark target, listening on a free port, against an upstream
 * base URL, under its own Redis key prefix (deleted again by `stop`).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory.js';
import { CostLedger } from '../../src/cost-monitoring/cost-ledger.js';
import { RedisService } from '../../src/redis/redis.service.js';
import { startFakeDeepSeekWorker, type FakeDeepSeekOptions } from '../fake-deepseek.js';
import type { Log, StartedTarget } from './target.js';

export const API_KEY = 'bench-key';
export const UPSTREAM_KEY = 'bench-upstream-key';
export const JSON_HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };

export interface StartedBastion {
  app: NestFastifyApplication;
  /** http://127.0.0.1:PORT */
  url: string;
  prefix: string;
  stop(): Promise<void>;
}

export async function startBastion(
  redisUrl: string,
  upstreamBaseUrl: string,
  log: Log,
): Promise<StartedBastion> {
  const prefix = `bench:${randomUUID().slice(0, 8)}:`;
  const env = {
    NODE_ENV: 'test',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    API_KEYS: API_KEY,
    LOG_LEVEL: 'warn',
    DEEPSEEK_API_KEY: UPSTREAM_KEY,
    DEEPSEEK_BASE_URL: upstreamBaseUrl,
  };
  const app = await createApp(env);
  const stop = async (): Promise<void> => {
    // The ledger writes its last batch first, so nothing lands under the prefix after it is deleted.
    await app.get(CostLedger).flushSafely();
    await app
      .get(RedisService)
      .deleteAllWithPrefix()
      .catch((err: Error) => log(`could not delete the bench's Redis keys (${prefix}*): ${err.message}`));
    await app.close();
  };
  try {
    await app.listen(0, '127.0.0.1');
  } catch (err) {
    await stop();
    throw err;
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  log(`Bastion listening on ${url}, Redis prefix ${prefix}, upstream ${upstreamBaseUrl}`);
  return { app, url, prefix, stop };
}

/**
 * A fake DeepSeek (in a worker thread, its calls counted under `namespace`) and the real Bastion in front of
 * it. `prepare` checks that the intended path answers and returns what to load (it may close the fake early
 * with `closeUpstream`); if anything fails on the way, both are stopped again.
 */
export async function bastionOnFake(
  redisUrl: string,
  namespace: string,
  log: Log,
  fakeOptions: Omit<FakeDeepSeekOptions, 'apiKey'>,
  prepare: (
    bastion: StartedBastion,
    upstreamCalls: () => Promise<number>,
    closeUpstream: () => Promise<void>,
  ) => Promise<Omit<StartedTarget, 'stop'>>,
): Promise<StartedTarget> {
  const fake = await startFakeDeepSeekWorker({ apiKey: UPSTREAM_KEY, ...fakeOptions });
  let closing: Promise<void> | null = null;
  const closeUpstream = (): Promise<void> => (closing ??= fake.close());
  const bastion = await startBastion(redisUrl, fake.baseUrl(namespace), log).catch(async (err: unknown) => {
    await closeUpstream();
    throw err;
  });
  const stop = async (): Promise<void> => {
    await bastion.stop();
    await closeUpstream();
  };
  try {
    const upstreamCalls = async (): Promise<number> => (await fake.stats())[namespace]?.calls ?? 0;
    return { ...(await prepare(bastion, upstreamCalls, closeUpstream)), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** metadata.reason of an /ai/call answer, when there is one. */
  reason: string | undefined;
}

export async function post(
  url: string,
  body: string,
  headers: Record<string, string> = JSON_HEADERS,
): Promise<HttpAnswer> {
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  let reason: string | undefined;
  try {
    const parsed = JSON.parse(text) as { metadata?: { reason?: unknown } };
    if (typeof parsed.metadata?.reason === 'string') reason = parsed.metadata.reason;
  } catch {
    // not JSON: reason stays unknown
  }
  return { status: res.status, headers: res.headers, text, reason };
}

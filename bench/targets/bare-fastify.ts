/**
 * The floor: a bare Fastify server whose one route does one Redis GET of a fixed key with ioredis and
 * returns the value as JSON. Everything Bastion adds on its cache-hit path is measured against this.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fastify } from 'fastify';
import { Redis } from 'ioredis';
import type { BenchTarget, Log, StartedTarget } from './target.js';

const MARKER = 'bare-fastify-bench-value';

export function bareFastify(redisUrl: string): BenchTarget {
  return {
    id: 'bare-fastify',
    label: 'bare Fastify + 1 Redis GET',
    async start(log: Log): Promise<StartedTarget> {
      const key = `bench:${randomUUID().slice(0, 8)}:bare-fastify:value`;
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      // A Redis that does not answer fails the run at once (ioredis would keep reconnecting otherwise).
      redis.on('error', () => undefined);
      await redis.connect().catch((err: Error) => {
        redis.disconnect();
        throw new Error(`Redis at ${redisUrl} did not answer: ${err.message}`);
      });
      // About the size of Bastion's cached answer, so both sides move similar bytes.
      await redis.set(
        key,
        JSON.stringify({ marker: MARKER, response: 'Answer #1 to: Analyze current BTC market regime' }),
        'EX',
        3600,
      );

      const server = fastify({ logger: false });
      server.get('/value', async () => {
        const raw = await redis.get(key);
        if (raw === null) throw new Error(`bench key ${key} disappeared`);
        return JSON.parse(raw) as unknown;
      });
      await server.listen({ port: 0, host: '127.0.0.1' });
      const { port } = server.server.address() as AddressInfo;
      log(`bare Fastify listening on 127.0.0.1:${port}, Redis key ${key}`);

      return {
        load: { url: `http://127.0.0.1:${port}/value`, method: 'GET', expectBodyContains: MARKER },
        verify: () => Promise.resolve({ redisKey: key }),
        async stop() {
          await server.close();
          await redis.del(key);
          await redis.quit();
        },
      };
    },
  };
}

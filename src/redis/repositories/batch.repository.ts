import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RedisService } from '../redis.service.js';

export interface StoredBatch {
  hash: Record<string, string>;
  events: string[];
}

/**
 * LOW events waiting in Redis, one open batch per agent. Every transition is one Lua script, so a batch is
 * claimed by one flusher at a time (under a lease that expires if the holder dies) and answered once.
 */
@Injectable()
export class BatchRepository {
  constructor(private readonly redis: RedisService) {}

  /** Appends an event (JSON) to the agent's open batch; throws when Redis does not take it. */
  async enqueue(
    tenant: string,
    agent: string,
    event: string,
    queuedAt: number,
    batchSize: number,
  ): Promise<{ batchId: string; position: number; full: boolean }> {
    const k = this.redis.keys;
    const [batchId, position, full] = await this.redis.run('batch.enqueue', (c) =>
      c.enqueueEvent(
        k.openBatch(tenant, agent),
        k.batchesDue(),
        randomUUID(),
        event,
        queuedAt,
        batchSize,
        k.batchPrefix(),
        agent,
        tenant,
      ),
    );
    return { batchId, position: Number(position), full: Number(full) === 1 };
  }

  /** Batches to flush now: full ones, and open ones whose oldest event waited `timeoutMs` (none if Redis is away). */
  async due(now: number, timeoutMs: number): Promise<string[]> {
    return this.redis.run(
      'batch.flush',
      (c) => c.zrangebyscore(this.redis.keys.batchesDue(), '-inf', now - timeoutMs, 'LIMIT', 0, 100),
      () => [],
    );
  }

  /** Claims a batch under a lease; null if it is done, someone else holds a live lease, or Redis is away. */
  async claim(
    id: string,
    now: number,
    leaseMs: number,
    holder: string,
  ): Promise<{ agent: string; tenant: string; events: string[] } | null> {
    const k = this.redis.keys;
    return this.redis.run(
      'batch.flush',
      async (c) => {
        const [agent, stored] = await c.hmget(k.batch(id), 'agent', 'tenant');
        if (agent === null) return null;
        // Batches queued before tenants existed belong to the default tenant.
        const tenant = stored ?? 'default';
        const events = await c.claimBatch(
          k.batch(id),
          k.batchEvents(id),
          k.openBatch(tenant, agent),
          id,
          now,
          leaseMs,
          holder,
        );
        return events ? { agent, tenant, events } : null;
      },
      () => null,
    );
  }

  /** Stores the answer if `holder` still holds the batch; false otherwise (or when Redis is away). */
  async complete(id: string, holder: string, answer: string, now: number): Promise<boolean> {
    const k = this.redis.keys;
    const done = await this.redis.run(
      'batch.flush',
      (c) => c.completeBatch(k.batch(id), k.batchesDue(), id, holder, answer, now),
      () => 0,
    );
    return done === 1;
  }

  /** Gives a claimed batch back after a failed flush, due again at `retryAt` (its lease expiry otherwise). */
  async release(id: string, holder: string, retryAt: number, error: string): Promise<void> {
    const k = this.redis.keys;
    await this.redis.run(
      'batch.flush',
      (c) => c.releaseBatch(k.batch(id), k.batchesDue(), id, holder, retryAt, error.slice(0, 500)),
      () => 0,
    );
  }

  async read(id: string): Promise<StoredBatch | null> {
    const k = this.redis.keys;
    const [hash, events] = await this.redis.run('batch.read', (c) =>
      Promise.all([c.hgetall(k.batch(id)), c.lrange(k.batchEvents(id), 0, -1)]),
    );
    return hash.id ? { hash, events } : null;
  }
}

import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RedisService } from '../redis.service.js';

export interface StoredBatch {
  hash: Record<string, string>;
  events: string[];
}

/** A batch's group (`tenant.agent`) is the start of its id: `tenant.agent.<uuid>`. */
export const batchGroupOf = (id: string): string => id.slice(0, id.lastIndexOf('.'));

/** What a batch id looks like (tenant, agent, uuid). */
export const BATCH_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}\.[a-z][a-z0-9_]{0,63}\.[0-9a-f-]{36}$/;

const MAX_DUE = 100;

/**
 * LOW events waiting in Redis, one open batch per tenant's agent (a batch group). Every transition is one Lua
 * script on the group's keys (one Cluster slot per group), so a batch is claimed by one flusher at a time
 * (under a lease that expires if the holder dies) and answered once.
 */
@Injectable()
export class BatchRepository {
  constructor(private readonly redis: RedisService) {}

  /** Appends an event (JSON) to the group's open batch; throws when Redis does not take it. */
  async enqueue(
    tenant: string,
    agent: string,
    event: string,
    queuedAt: number,
    batchSize: number,
  ): Promise<{ batchId: string; position: number; full: boolean }> {
    const k = this.redis.keys;
    const group = `${tenant}.${agent}`;
    const [[batchId, position, full]] = await this.redis.run('batch.enqueue', (c) =>
      Promise.all([
        c.enqueueEvent(
          k.openBatch(group),
          k.batchesDue(group),
          `${group}.${randomUUID()}`,
          event,
          queuedAt,
          batchSize,
          k.batchPrefix(group),
          agent,
          tenant,
        ),
        c.sadd(k.batchGroups(), group),
      ]),
    );
    return { batchId, position: Number(position), full: Number(full) === 1 };
  }

  /** Batches to flush now: full ones, and open ones whose oldest event waited `timeoutMs` (none if Redis is away). */
  async due(now: number, timeoutMs: number): Promise<string[]> {
    const k = this.redis.keys;
    return this.redis.run(
      'batch.flush',
      async (c) => {
        const groups = await c.smembers(k.batchGroups());
        const due = await Promise.all(
          groups.map((g) => c.zrangebyscore(k.batchesDue(g), '-inf', now - timeoutMs, 'LIMIT', 0, MAX_DUE)),
        );
        return due.flat().slice(0, MAX_DUE);
      },
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
    const group = batchGroupOf(id);
    return this.redis.run(
      'batch.flush',
      async (c) => {
        const [agent, tenant] = await c.hmget(k.batch(group, id), 'agent', 'tenant');
        if (agent === null || tenant === null) return null;
        const events = await c.claimBatch(
          k.batch(group, id),
          k.batchEvents(group, id),
          k.openBatch(group),
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
    const group = batchGroupOf(id);
    const done = await this.redis.run(
      'batch.flush',
      (c) => c.completeBatch(k.batch(group, id), k.batchesDue(group), id, holder, answer, now),
      () => 0,
    );
    return done === 1;
  }

  /** Gives a claimed batch back after a failed flush, due again at `retryAt` (its lease expiry otherwise). */
  async release(id: string, holder: string, retryAt: number, error: string): Promise<void> {
    const k = this.redis.keys;
    const group = batchGroupOf(id);
    await this.redis.run(
      'batch.flush',
      (c) =>
        c.releaseBatch(k.batch(group, id), k.batchesDue(group), id, holder, retryAt, error.slice(0, 500)),
      () => 0,
    );
  }

  async read(id: string): Promise<StoredBatch | null> {
    const k = this.redis.keys;
    const group = batchGroupOf(id);
    const [hash, events] = await this.redis.run('batch.read', (c) =>
      Promise.all([c.hgetall(k.batch(group, id)), c.lrange(k.batchEvents(group, id), 0, -1)]),
    );
    return hash.id ? { hash, events } : null;
  }
}

import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RedisService } from '../../redis/redis.service.js';

/** A LOW event waiting for its batch, with what the caller asked. */
export interface QueuedEvent {
  request_id: string;
  symbol: string;
  event_type: string;
  priority: string;
  data: Record<string, unknown>;
  timestamp: string;
  prompt: string;
  system_prompt?: string;
  /** The model the request asked for; a batch is answered with its first event's. */
  model?: string;
  max_tokens: number;
  queued_at: number;
}

export interface BatchView {
  id: string;
  agent: string;
  status: 'open' | 'full' | 'flushing' | 'done';
  created_at: string;
  answered_at: string | null;
  attempts: number;
  last_error: string | null;
  answer: BatchAnswer | null;
  events: (QueuedEvent & { position: number; answer: string | null })[];
}

export interface BatchAnswer {
  response: string;
  model: string | null;
  cost_usd: number | null;
  request_id: string;
}

/**
 * LOW events wait in Redis, one open batch per agent. Every transition is one Lua script, so a batch is
 * claimed by one flusher at a time (under a lease that expires if the holder dies) and answered once.
 */
@Injectable()
export class BatchQueue {
  constructor(private readonly redis: RedisService) {}

  async enqueue(
    agent: string,
    event: QueuedEvent,
    batchSize: number,
  ): Promise<{ batchId: string; position: number; full: boolean }> {
    const k = this.redis.keys;
    const [batchId, position, full] = await this.redis.client.enqueueEvent(
      k.openBatch(agent),
      k.batchesDue(),
      randomUUID(),
      JSON.stringify(event),
      event.queued_at,
      batchSize,
      k.batchPrefix(),
      agent,
    );
    return { batchId, position: Number(position), full: Number(full) === 1 };
  }

  /** Batches that should be flushed now: full ones, and open ones whose oldest event waited `timeoutMs`. */
  async due(now: number, timeoutMs: number): Promise<string[]> {
    return this.redis.client.zrangebyscore(
      this.redis.keys.batchesDue(),
      '-inf',
      now - timeoutMs,
      'LIMIT',
      0,
      100,
    );
  }

  /** Claims a batch under a lease; null if it is done or someone else holds a live lease. */
  async claim(
    id: string,
    now: number,
    leaseMs: number,
    holder: string,
  ): Promise<{ agent: string; events: QueuedEvent[] } | null> {
    const k = this.redis.keys;
    const agent = await this.redis.client.hget(k.batch(id), 'agent');
    if (agent === null) return null;
    const events = await this.redis.client.claimBatch(
      k.batch(id),
      k.batchEvents(id),
      k.openBatch(agent),
      id,
      now,
      leaseMs,
      holder,
    );
    if (!events) return null;
    return { agent, events: events.map((e) => JSON.parse(e) as QueuedEvent) };
  }

  async complete(id: string, holder: string, answer: BatchAnswer, now: number): Promise<boolean> {
    const k = this.redis.keys;
    return (
      (await this.redis.client.completeBatch(
        k.batch(id),
        k.batchesDue(),
        id,
        holder,
        JSON.stringify(answer),
        now,
      )) === 1
    );
  }

  async release(id: string, holder: string, retryAt: number, error: string): Promise<void> {
    const k = this.redis.keys;
    await this.redis.client.releaseBatch(
      k.batch(id),
      k.batchesDue(),
      id,
      holder,
      retryAt,
      error.slice(0, 500),
    );
  }

  async view(id: string): Promise<BatchView | null> {
    const k = this.redis.keys;
    const [hash, events] = await Promise.all([
      this.redis.client.hgetall(k.batch(id)),
      this.redis.client.lrange(k.batchEvents(id), 0, -1),
    ]);
    if (!hash.id) return null;
    const answer = hash.answer ? (JSON.parse(hash.answer) as BatchAnswer) : null;
    return {
      id: hash.id,
      agent: hash.agent,
      status: hash.status as BatchView['status'],
      created_at: new Date(Number(hash.created_at)).toISOString(),
      answered_at: hash.answered_at ? new Date(Number(hash.answered_at)).toISOString() : null,
      attempts: Number(hash.attempts ?? 0),
      last_error: hash.last_error ?? null,
      answer,
      events: events.map((raw, i) => ({
        ...(JSON.parse(raw) as QueuedEvent),
        position: i + 1,
        answer: answer?.response ?? null,
      })),
    };
  }
}

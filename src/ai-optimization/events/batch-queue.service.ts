import { Injectable } from '@nestjs/common';
import { BatchRepository } from '../../redis/repositories/batch.repository.js';

/** A LOW event waiting for its batch, with what the caller asked. */
export interface QueuedEvent {
  request_id: string;
  symbol: string;
  event_type: string;
  priority: string;
  data: Record<string, unknown>;
  timestamp: string;
  prompt: string;
  /** The caller's own inputs (the request's `context`, without the gate's event envelope). */
  context?: Record<string, unknown>;
  system_prompt?: string;
  /** The model the request asked for; a batch is answered with its first event's. */
  model?: string;
  max_tokens: number;
  queued_at: number;
}

export interface BatchView {
  id: string;
  agent: string;
  tenant: string;
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
 * LOW events waiting for their batch (BatchRepository keeps them in Redis, one open batch per agent; each
 * transition is one Lua script, so a batch is claimed by one flusher at a time and answered once).
 */
@Injectable()
export class BatchQueue {
  constructor(private readonly store: BatchRepository) {}

  enqueue(
    tenant: string,
    agent: string,
    event: QueuedEvent,
    batchSize: number,
  ): Promise<{ batchId: string; position: number; full: boolean }> {
    return this.store.enqueue(tenant, agent, JSON.stringify(event), event.queued_at, batchSize);
  }

  /** Batches that should be flushed now: full ones, and open ones whose oldest event waited `timeoutMs`. */
  due(now: number, timeoutMs: number): Promise<string[]> {
    return this.store.due(now, timeoutMs);
  }

  /** Claims a batch under a lease; null if it is done or someone else holds a live lease. */
  async claim(
    id: string,
    now: number,
    leaseMs: number,
    holder: string,
  ): Promise<{ agent: string; tenant: string; events: QueuedEvent[] } | null> {
    const claimed = await this.store.claim(id, now, leaseMs, holder);
    if (!claimed) return null;
    return { ...claimed, events: claimed.events.map((e) => JSON.parse(e) as QueuedEvent) };
  }

  complete(id: string, holder: string, answer: BatchAnswer, now: number): Promise<boolean> {
    return this.store.complete(id, holder, JSON.stringify(answer), now);
  }

  release(id: string, holder: string, retryAt: number, error: string): Promise<void> {
    return this.store.release(id, holder, retryAt, error);
  }

  async view(id: string): Promise<BatchView | null> {
    const stored = await this.store.read(id);
    if (!stored) return null;
    const { hash, events } = stored;
    const answer = hash.answer ? (JSON.parse(hash.answer) as BatchAnswer) : null;
    return {
      id: hash.id,
      agent: hash.agent,
      tenant: hash.tenant ?? 'default',
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

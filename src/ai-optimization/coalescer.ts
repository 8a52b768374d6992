import { Injectable } from '@nestjs/common';

/**
 * Identical calls in flight share one upstream call: the first caller leads, later ones wait for its result.
 * In-process by design: it removes the burst of identical requests a fleet of bots sends to one instance;
 * across instances the response cache catches the rest as soon as the leader stores its answer.
 */
@Injectable()
export class Coalescer {
  private readonly inflight = new Map<string, Promise<unknown>>();

  /** Runs `work` unless an identical call is in flight; `leader` tells the caller which case it was. */
  async run<T>(key: string, work: () => Promise<T>): Promise<{ value: T; leader: boolean }> {
    const existing = this.inflight.get(key) as Promise<T> | undefined;
    if (existing) return { value: await existing, leader: false };
    const promise = work();
    this.inflight.set(key, promise);
    try {
      return { value: await promise, leader: true };
    } finally {
      this.inflight.delete(key);
    }
  }

  get size(): number {
    return this.inflight.size;
  }
}

import { Logger } from '@nestjs/common';

/** One write that must reach Redis: retried until it does (it must be idempotent). */
type PendingWrite = () => Promise<unknown>;

const RETRY_MS = 2000;
/** Past this many waiting writes the oldest are dropped (and said so): memory stays bounded in a long outage. */
const MAX_WAITING = 100_000;

/**
 * The `queue` failure policy: a write Redis did not take is kept in memory, in order, and retried every
 * RETRY_MS until Redis takes it. Each write is idempotent, so a retry after a timeout that had in fact landed
 * changes nothing.
 */
export class WriteQueue {
  private readonly logger: Logger;
  private pending: PendingWrite[] = [];
  private retry: NodeJS.Timeout | undefined;
  private dropped = 0;

  constructor(name: string) {
    this.logger = new Logger(name);
  }

  /** Sends the write at once; callers do not wait for Redis. */
  send(write: PendingWrite): void {
    void write().catch(() => this.keep(write));
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Writes every waiting write in order; false when Redis still refuses (the rest stay). */
  async drain(): Promise<boolean> {
    clearTimeout(this.retry);
    this.retry = undefined;
    const batch = this.pending;
    this.pending = [];
    for (const [i, write] of batch.entries()) {
      try {
        await write();
      } catch {
        this.pending.unshift(...batch.slice(i));
        this.schedule();
        return false;
      }
    }
    return true;
  }

  stop(): void {
    clearTimeout(this.retry);
  }

  private keep(write: PendingWrite): void {
    if (this.pending.length === 0) {
      this.logger.warn('Redis did not take a write: kept in memory and retried until it does');
    }
    this.pending.push(write);
    if (this.pending.length > MAX_WAITING) {
      this.pending.shift();
      if (this.dropped++ % 1000 === 0)
        this.logger.error(`More than ${MAX_WAITING} writes waiting for Redis: the oldest are dropped`);
    }
    this.schedule();
  }

  private schedule(): void {
    this.retry ??= setTimeout(() => void this.drain(), RETRY_MS).unref();
  }
}

/** How a shared stream ended: its cost (null: unknown). */
export interface StreamSummary {
  costUsd: number | null;
}

/** One upstream stream shared by every identical request in flight (streaming coalescing). */
export interface HubSubscriber {
  write(chunk: Record<string, unknown>): void;
  end(summary: StreamSummary): void;
}

/**
 * Buffers the chunks of one upstream stream and fans them out: a subscriber that joins late first gets
 * what was already sent, then the rest live. When the last subscriber leaves before the end, `onEmpty`
 * fires so the upstream request can be aborted.
 */
export class StreamHub {
  private readonly chunks: Record<string, unknown>[] = [];
  private readonly subscribers = new Set<HubSubscriber>();
  private readonly finishListeners: ((summary: StreamSummary) => void)[] = [];
  private summary: StreamSummary | null = null;

  constructor(private readonly onEmpty: () => void) {}

  subscribe(subscriber: HubSubscriber): () => void {
    for (const chunk of this.chunks) subscriber.write(chunk);
    if (this.summary) {
      subscriber.end(this.summary);
      return () => undefined;
    }
    this.subscribers.add(subscriber);
    return () => {
      if (!this.subscribers.delete(subscriber)) return;
      if (this.subscribers.size === 0 && !this.summary) this.onEmpty();
    };
  }

  publish(chunk: Record<string, unknown>): void {
    this.chunks.push(chunk);
    for (const s of this.subscribers) s.write(chunk);
  }

  finish(summary: StreamSummary): void {
    this.summary = summary;
    for (const s of this.subscribers) s.end(summary);
    this.subscribers.clear();
    for (const listener of this.finishListeners.splice(0)) listener(summary);
  }

  /** Runs `listener` when the stream ends (at once if it has). */
  onFinish(listener: (summary: StreamSummary) => void): void {
    if (this.summary) listener(this.summary);
    else this.finishListeners.push(listener);
  }

  get listeners(): number {
    return this.subscribers.size;
  }
}

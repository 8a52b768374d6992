/** One upstream stream shared by every identical request in flight (streaming coalescing). */
export interface HubSubscriber {
  write(chunk: Record<string, unknown>): void;
  end(): void;
}

/**
 * Buffers the chunks of one upstream stream and fans them out: a subscriber that joins late first gets
 * what was already sent, then the rest live. When the last subscriber leaves before the end, `onEmpty`
 * fires so the upstream request can be aborted.
 */
export class StreamHub {
  private readonly chunks: Record<string, unknown>[] = [];
  private readonly subscribers = new Set<HubSubscriber>();
  private done = false;

  constructor(private readonly onEmpty: () => void) {}

  subscribe(subscriber: HubSubscriber): () => void {
    for (const chunk of this.chunks) subscriber.write(chunk);
    if (this.done) {
      subscriber.end();
      return () => undefined;
    }
    this.subscribers.add(subscriber);
    return () => {
      if (!this.subscribers.delete(subscriber)) return;
      if (this.subscribers.size === 0 && !this.done) this.onEmpty();
    };
  }

  publish(chunk: Record<string, unknown>): void {
    this.chunks.push(chunk);
    for (const s of this.subscribers) s.write(chunk);
  }

  finish(): void {
    this.done = true;
    for (const s of this.subscribers) s.end();
    this.subscribers.clear();
  }

  get listeners(): number {
    return this.subscribers.size;
  }
}

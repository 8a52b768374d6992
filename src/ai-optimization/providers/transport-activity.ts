import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';

/** Marks a streamed request whose bytes are watched; removed before the request leaves Bastion. */
const WATCH_HEADER = 'x-bastion-watch';

interface Watched {
  lastByteAt: number;
}

/** How long a watched stream has been silent, and the end of the watch. */
export interface StreamWatch {
  /** Extra headers that put the request under watch. */
  headers: Record<string, string>;
  silentForMs: () => number;
  done: () => void;
}

/**
 * Watches the bytes of streamed upstream answers at the transport (the `fetch` every provider client uses), so
 * a stream that goes silent after its headers can be cut — counting every byte, keep-alive comments included,
 * which the SDK's chunk iterator never shows.
 */
@Injectable()
export class TransportActivity {
  private readonly watched = new Map<string, Watched>();

  /**
   * The fetch the provider SDK clients use (for streams only: non-streamed calls go through chat-http.ts):
   * the built-in fetch, the body bytes of a watched request timed as they arrive.
   */
  readonly fetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    const id = headers.get(WATCH_HEADER);
    if (id === null) return globalThis.fetch(url, init);
    headers.delete(WATCH_HEADER);
    const response = await globalThis.fetch(url, { ...init, headers });
    const entry = this.watched.get(id);
    if (!entry || response.body === null) return response;
    entry.lastByteAt = performance.now();
    const timed = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          entry.lastByteAt = performance.now();
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(timed, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

  watch(): StreamWatch {
    const id = randomUUID();
    const entry: Watched = { lastByteAt: performance.now() };
    this.watched.set(id, entry);
    return {
      headers: { [WATCH_HEADER]: id },
      silentForMs: () => performance.now() - entry.lastByteAt,
      done: () => this.watched.delete(id),
    };
  }
}

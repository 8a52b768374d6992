/** One server-sent event: its `event:` name (if any), its `data:` payload and its comment lines. */
export interface SseEvent {
  event: string | null;
  data: string | null;
  comments: string[];
}

export interface SseRead {
  status: number;
  headers: Headers;
  /** Everything received, as text (the whole body for a non-SSE answer). */
  raw: string;
  events: SseEvent[];
  /** The body ended (the server closed it), as opposed to the reader giving up. */
  ended: boolean;
  /** The reader gave up after `timeoutMs` without the body ending. */
  timedOut: boolean;
  /** The reader aborted after `abortAfterData` data events, as a client that goes away would. */
  abortedByClient: boolean;
  /** Milliseconds from the request to the end of reading. */
  ms: number;
}

export interface SseOptions {
  /** Give up (abort the request) after this long without the body ending. Default 15 s. */
  timeoutMs?: number;
  /** Abort the request, as a client that disconnects, once this many `data:` events arrived. */
  abortAfterData?: number;
  headers?: Record<string, string>;
}

function parseEvent(block: string): SseEvent {
  const ev: SseEvent = { event: null, data: null, comments: [] };
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) ev.comments.push(line.slice(1).trim());
    else if (line.startsWith('event:')) ev.event = line.slice(6).trim();
    else if (line.startsWith('data:')) {
      const value = line.slice(5).replace(/^ /, '');
      ev.data = ev.data === null ? value : `${ev.data}\n${value}`;
    }
  }
  return ev;
}

/**
 * POSTs a JSON body and reads the answer as a raw event stream, with a deadline: what a client actually
 * receives (every chunk, error event and comment), whether the stream ended and how long it took. The
 * OpenAI SDK would hide some of it (an HTML 200 looks like an empty stream to it).
 */
export async function postSse(
  url: string,
  key: string | null,
  body: unknown,
  options: SseOptions = {},
): Promise<SseRead> {
  const started = Date.now();
  const controller = new AbortController();
  const timeoutMs = options.timeoutMs ?? 15_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const read: SseRead = {
    status: 0,
    headers: new Headers(),
    raw: '',
    events: [],
    ended: false,
    timedOut: false,
    abortedByClient: false,
    ms: 0,
  };
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...options.headers,
      },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    read.status = res.status;
    read.headers = res.headers;
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let pending = '';
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        read.ended = true;
        break;
      }
      const text = decoder.decode(next.value, { stream: true });
      read.raw += text;
      pending += text.replace(/\r\n/g, '\n');
      let cut: number;
      while ((cut = pending.indexOf('\n\n')) >= 0) {
        read.events.push(parseEvent(pending.slice(0, cut)));
        pending = pending.slice(cut + 2);
      }
      const dataEvents = read.events.filter((e) => e.data !== null).length;
      if (options.abortAfterData !== undefined && dataEvents >= options.abortAfterData) {
        read.abortedByClient = true;
        controller.abort();
        break;
      }
    }
    if (pending.trim() !== '') read.events.push(parseEvent(pending));
  } catch (err) {
    if (!timedOut && !read.abortedByClient) throw err;
  } finally {
    clearTimeout(timer);
    read.timedOut = timedOut;
    read.ms = Date.now() - started;
  }
  return read;
}

/** The `data:` payloads that parse as JSON. */
export function dataJson(read: SseRead): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const e of read.events) {
    if (e.data === null || e.data === '[DONE]') continue;
    try {
      const parsed: unknown = JSON.parse(e.data);
      if (typeof parsed === 'object' && parsed !== null) out.push(parsed as Record<string, unknown>);
    } catch {
      // not JSON: left out
    }
  }
  return out;
}

/**
 * The error events of a stream, in either convention an OpenAI SDK raises on: an `event: error`, or a
 * `data:` payload with an `error` object.
 */
export function errorEvents(read: SseRead): SseEvent[] {
  return read.events.filter((e) => {
    if (e.event === 'error') return true;
    if (e.data === null || e.data === '[DONE]') return false;
    try {
      const parsed = JSON.parse(e.data) as { error?: unknown };
      return typeof parsed === 'object' && parsed !== null && parsed.error !== undefined;
    } catch {
      return false;
    }
  });
}

/** The text content the chunks of a chat-completion stream carry, concatenated. */
export function streamedText(read: SseRead): string {
  let text = '';
  for (const chunk of dataJson(read)) {
    const choices = chunk.choices;
    if (!Array.isArray(choices)) continue;
    for (const choice of choices as { delta?: { content?: unknown } }[]) {
      if (typeof choice.delta?.content === 'string') text += choice.delta.content;
    }
  }
  return text;
}

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * A `fetch` for the provider clients' ordinary (non-streamed) calls over node:http with keep-alive agents.
 * Node's built-in fetch costs several hundred microseconds of CPU per call in WHATWG-stream plumbing — more
 * than the rest of Bastion's work on a cache miss — while a plain request with a buffered body costs a
 * fraction of that. It behaves as fetch does for what the SDK uses: the status, headers and whole body as a
 * `Response`; an abort rejects with the signal's reason; a network failure rejects with
 * `TypeError('fetch failed')` whose `cause` is the socket error. Anything it does not handle the same way
 * (a streamed or form body, a `Request` object, a redirect, another scheme) goes to the built-in fetch.
 * It does not ask for compressed answers, so none needs decoding.
 */
const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

export function keepAliveFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const body = init?.body;
  const plainBody =
    body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
  if (!plainBody || !(typeof input === 'string' || input instanceof URL) || init?.redirect === 'manual') {
    return globalThis.fetch(input, init);
  }
  const url = typeof input === 'string' ? new URL(input) : input;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return globalThis.fetch(input, init);
  const signal = init?.signal ?? null;
  if (signal?.aborted) return Promise.reject(abortReason(signal));

  const headers: Record<string, string> = {};
  const given = init?.headers;
  if (given instanceof Headers) given.forEach((value, name) => (headers[name] = value));
  else if (given !== undefined) new Headers(given).forEach((value, name) => (headers[name] = value));
  if (body !== undefined && body !== null) {
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  }
  const https = url.protocol === 'https:';
  const method = (init?.method ?? 'GET').toUpperCase();

  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const fail = (cause: unknown): void => settle(() => reject(new TypeError('fetch failed', { cause })));
    const onAbort = (): void => {
      req.destroy();
      settle(() => reject(abortReason(signal as AbortSignal)));
    };
    const onResponse = (res: IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      if (REDIRECT_STATUS.has(status) && res.headers.location !== undefined) {
        // Redirects are rare for an API: the built-in fetch follows them as it always did.
        res.resume();
        settle(() => resolve(globalThis.fetch(input, init)));
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(new Error('the connection closed before the end of the answer'));
      });
      res.on('end', () =>
        settle(() => {
          const responseHeaders = new Headers();
          const raw = res.rawHeaders;
          for (let i = 0; i + 1 < raw.length; i += 2) responseHeaders.append(raw[i], raw[i + 1]);
          try {
            resolve(
              new Response(NULL_BODY_STATUS.has(status) ? null : Buffer.concat(chunks), {
                status,
                statusText: res.statusMessage,
                headers: responseHeaders,
              }),
            );
          } catch (err) {
            reject(new TypeError('fetch failed', { cause: err }));
          }
        }),
      );
    };
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method, headers, agent: https ? httpsAgent : httpAgent },
      onResponse,
    );
    req.on('error', fail);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body ?? undefined);
  });
}

/** What fetch rejects with on an abort: the signal's reason (an Error for every signal Bastion aborts). */
function abortReason(signal: AbortSignal): Error {
  return (signal.reason as Error | undefined) ?? new DOMException('This operation was aborted', 'AbortError');
}

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';

const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

/**
 * A provider's non-streamed `POST /chat/completions` over keep-alive node:http. Written here rather than
 * called through the OpenAI SDK because the SDK's request building, fetch `Response` and body-stream reading
 * added about 1 ms p50 to every cache miss at one connection (`npm run bench`) — more than the rest of
 * Bastion's work on the miss. It answers as the SDK does: the parsed JSON of a 2xx JSON answer (a
 * `SyntaxError` when it is not JSON), the text of any other 2xx answer, the SDK's own error classes for
 * everything else (`APIError.generate` for a status, `APIConnectionError` for a network failure,
 * `APIUserAbortError` when `signal` aborts). Streams keep the SDK (`UpstreamCaller.openStream`).
 */
export class ChatCompletionsHttp {
  private readonly url: URL;
  private readonly authorization: string;

  constructor(baseUrl: string, apiKey: string) {
    this.url = new URL(`${baseUrl.replace(/\/+$/, '')}/chat/completions`);
    this.authorization = `Bearer ${apiKey}`;
  }

  create(body: object, signal: AbortSignal): Promise<ChatCompletion> {
    if (signal.aborted) return Promise.reject(new APIUserAbortError());
    const payload = JSON.stringify(body);
    const https = this.url.protocol === 'https:';
    return new Promise<ChatCompletion>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => {
        req.destroy();
        settle(() => reject(new APIUserAbortError()));
      };
      const fail = (cause: unknown): void =>
        settle(() => reject(new APIConnectionError({ cause: cause as Error })));
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        // Cut short: an error status still counts as that status (a 429's Retry-After is honoured), as with
        // the SDK; a 2xx cut short is a connection failure.
        const cutShort = (cause: Error): void => {
          if ((res.statusCode ?? 0) >= 300) settle(() => reject(statusError(res, undefined, cause.message)));
          else fail(cause);
        };
        res.on('error', cutShort);
        res.on('close', () => {
          if (!res.complete) cutShort(new Error('the connection closed before the end of the answer'));
        });
        res.on('end', () =>
          settle(() => {
            try {
              resolve(answerOf(res, Buffer.concat(chunks).toString('utf8')));
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          }),
        );
      };
      const req = (https ? httpsRequest : httpRequest)(
        this.url,
        {
          method: 'POST',
          agent: https ? httpsAgent : httpAgent,
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            authorization: this.authorization,
            'content-length': Buffer.byteLength(payload),
          },
        },
        onResponse,
      );
      req.on('error', fail);
      signal.addEventListener('abort', onAbort, { once: true });
      req.end(payload);
    });
  }
}

/** The completion of a 2xx answer, or the error the SDK would throw for the answer. */
function answerOf(res: IncomingMessage, text: string): ChatCompletion {
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    const json = parseOrUndefined(text);
    throw statusError(res, json ?? undefined, json ? undefined : text);
  }
  if (status === 204) return null as unknown as ChatCompletion;
  const mediaType = (res.headers['content-type'] ?? '').split(';')[0].trim();
  const isJson = mediaType.includes('application/json') || mediaType.endsWith('+json');
  // Not a completion: the caller reports the answer as malformed.
  if (!isJson) return text as unknown as ChatCompletion;
  if (res.headers['content-length'] === '0') return undefined as unknown as ChatCompletion;
  return JSON.parse(text) as ChatCompletion;
}

function statusError(res: IncomingMessage, json: object | undefined, text: string | undefined): APIError {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  return APIError.generate(res.statusCode, json, text, headers);
}

function parseOrUndefined(text: string): object | null | undefined {
  try {
    return JSON.parse(text) as object;
  } catch {
    return undefined;
  }
}

import { Logger } from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  APIConnectionError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  InternalServerError,
  RateLimitError,
} from 'openai';
import type OpenAI from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { ProviderUnavailableError } from '../../common/errors.js';
import { Scrubber } from '../../common/secrets.js';
import { ChatCompletionsHttp } from './chat-http.js';
import type { ResolvedModel } from './provider-registry.js';
import { UpstreamCaller } from './upstream-caller.js';

// The caller logs each failed attempt: not wanted in test output.
Logger.overrideLogger(false);

const KEY = 'provider-key-for-tests';

/** A request as the provider saw it, body read whole. */
interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
  socket: Socket;
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

/** A real provider on 127.0.0.1: records what reached it and answers with `handler`. */
class FakeProvider {
  readonly requests: Seen[] = [];
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private arrivals: ((seen: Seen) => void)[] = [];

  constructor(private readonly handler: Handler) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const seen: Seen = {
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          socket: req.socket,
        };
        this.requests.push(seen);
        for (const arrived of this.arrivals.splice(0)) arrived(seen);
        this.handler(req, res, seen);
      });
    });
    this.server.on('connection', (socket: Socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Resolves when the next request has been read whole. */
  nextRequest(): Promise<Seen> {
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  /** Closes the server, destroying the keep-alive connections the client would otherwise hold open. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const providers: FakeProvider[] = [];

async function provider(handler: Handler): Promise<FakeProvider> {
  const p = await new FakeProvider(handler).listen();
  providers.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };

const COMPLETION: ChatCompletion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_795_000_000,
  model: 'deepseek-v4-flash',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'BTC is trending up.', refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
};

// Non-ASCII on purpose: content-length counts bytes, not UTF-16 code units.
const BODY = {
  model: 'deepseek-v4-flash',
  stream: false,
  messages: [{ role: 'user', content: 'BTC → 🚀 ¿sube o baja?' }],
  temperature: 0.2,
};

const live = (): AbortSignal => new AbortController().signal;

/** The rejection of `promise` (fails the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to reject, but it resolved');
}

/** A port nothing listens on: one the OS just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('ChatCompletionsHttp: a 2xx answer', () => {
  it('POSTs the JSON body with the key to <base path>/chat/completions and resolves to the parsed completion', async () => {
    const p = await provider(json(200, COMPLETION));
    const completion = await new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live());

    expect(completion).toEqual(COMPLETION);
    expect(p.requests).toHaveLength(1);
    const [seen] = p.requests;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(seen.headers['content-type']).toBe('application/json');
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(seen.body)));
    expect(Buffer.byteLength(seen.body)).toBeGreaterThan(seen.body.length);
    expect(JSON.parse(seen.body)).toEqual(BODY);
  });

  it('joins a base URL with a trailing slash without doubling it', async () => {
    const p = await provider(json(200, COMPLETION));
    await expect(new ChatCompletionsHttp(`${p.baseUrl}/`, KEY).create(BODY, live())).resolves.toEqual(
      COMPLETION,
    );
    await expect(
      new ChatCompletionsHttp(`http://127.0.0.1:${p.port}`, KEY).create(BODY, live()),
    ).resolves.toEqual(COMPLETION);
    expect(p.requests.map((r) => r.url)).toEqual(['/v1/chat/completions', '/chat/completions']);
  });

  it('rejects with a SyntaxError when a JSON answer is cut short', async () => {
    const p = await provider(json(200, '{"id":"chatcmpl-1","choices":[{"index":0,'));
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live()));
    expect(err).toBeInstanceOf(SyntaxError);
    expect(err).not.toBeInstanceOf(APIError);
  });

  it('resolves to the text of a non-JSON answer, which the caller reports as malformed', async () => {
    const page = '<html><body>Service temporarily in maintenance</body></html>';
    const p = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
    });
    const http = new ChatCompletionsHttp(p.baseUrl, KEY);
    await expect(http.create(BODY, live())).resolves.toBe(page);

    const model = {
      entry: {
        name: 'deepseek-v4-flash',
        provider: 'deepseek',
        upstreamModel: undefined,
        price: undefined,
        fallbacks: [],
      },
      provider: 'deepseek',
      baseUrl: p.baseUrl,
      upstreamModel: 'deepseek-v4-flash',
      client: {} as OpenAI,
      http,
    } satisfies ResolvedModel;
    const caller = new UpstreamCaller(
      {
        timeoutMs: 5000,
        retryBudgetMs: 5000,
        maxAttempts: 1,
        models: new Map([[model.entry.name, model.entry]]),
        defaultTtlSeconds: 300,
        ttlSeconds: {},
      },
      new Scrubber([KEY]),
    );
    const err = await rejectionOf(caller.complete([model], { messages: BODY.messages as never }));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect((err as ProviderUnavailableError).details).toMatchObject({
      attempts: [
        {
          model: 'deepseek-v4-flash',
          status: null,
          message: 'malformed answer from deepseek: the answer has no choices[0].message',
        },
      ],
    });
  });
});

describe('ChatCompletionsHttp: an error status', () => {
  it('rejects a 429 with the SDK RateLimitError, its status, headers and the provider message', async () => {
    const p = await provider(
      json(
        429,
        { error: { message: 'Rate limit reached', type: 'rate_limit_error' } },
        { 'retry-after': '2' },
      ),
    );
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live()));
    expect(err).toBeInstanceOf(RateLimitError);
    const e = err as RateLimitError;
    expect(e.status).toBe(429);
    expect(e.headers.get('retry-after')).toBe('2');
    expect(e.message).toContain('Rate limit reached');
    expect(e.error).toEqual({ message: 'Rate limit reached', type: 'rate_limit_error' });
    expect(e.type).toBe('rate_limit_error');
  });

  it('rejects a 500 with a non-JSON body with InternalServerError quoting the body', async () => {
    const p = await provider((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('upstream exploded');
    });
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live()));
    expect(err).toBeInstanceOf(InternalServerError);
    expect((err as InternalServerError).status).toBe(500);
    expect((err as InternalServerError).message).toContain('upstream exploded');
  });

  it('rejects a 401 with AuthenticationError', async () => {
    const p = await provider(
      json(401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }),
    );
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live()));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).status).toBe(401);
    expect((err as AuthenticationError).message).toContain('Incorrect API key provided');
  });

  // The SDK reads the status first and reports it even when the error body is cut (`429 terminated`): the
  // caller then honours Retry-After and reports the upstream status. Known gap in chat-http.ts: see the report.
  it('still reports the status and headers of an error answer whose body is cut short, as the SDK does', async () => {
    const p = await provider((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'content-length': '200', 'retry-after': '2' });
      res.write('{"error":{"message":"Rate limit');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live()));
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).status).toBe(429);
    expect((err as RateLimitError).headers.get('retry-after')).toBe('2');
  });
});

describe('ChatCompletionsHttp: abort', () => {
  it('rejects with APIUserAbortError when the signal aborts while the provider holds the answer, and closes the connection', async () => {
    const p = await provider(() => {
      // Never answers.
    });
    const controller = new AbortController();
    const call = rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, controller.signal));
    const seen = await p.nextRequest();
    const closed = new Promise<void>((resolve) => seen.socket.once('close', () => resolve()));

    controller.abort();
    const err = await call;
    expect(err).toBeInstanceOf(APIUserAbortError);
    expect(err).not.toBeInstanceOf(APIConnectionError);
    expect((err as APIUserAbortError).status).toBeUndefined();
    await closed;
    expect(seen.socket.destroyed).toBe(true);
  });

  it('rejects an already-aborted signal without sending anything', async () => {
    const p = await provider(json(200, COMPLETION));
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, AbortSignal.abort()));
    expect(err).toBeInstanceOf(APIUserAbortError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(p.requests).toHaveLength(0);
    expect(p.connections).toBe(0);
  });
});

describe('ChatCompletionsHttp: network failures', () => {
  it('rejects a refused connection with APIConnectionError, not an abort nor a status error', async () => {
    const port = await closedPort();
    const err = await rejectionOf(
      new ChatCompletionsHttp(`http://127.0.0.1:${port}/v1`, KEY).create(BODY, live()),
    );
    // APIUserAbortError and APIConnectionError are both APIErrors without a status: tell them apart exactly.
    expect(err).toBeInstanceOf(APIConnectionError);
    expect(err).not.toBeInstanceOf(APIUserAbortError);
    expect((err as APIConnectionError).status).toBeUndefined();
    expect(((err as APIConnectionError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('rejects with APIConnectionError when the provider drops the connection halfway through the body', async () => {
    const text = JSON.stringify(COMPLETION);
    const p = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
      res.write(text.slice(0, text.length / 2));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live()));
    expect(err).toBeInstanceOf(APIConnectionError);
    expect(err).not.toBeInstanceOf(APIUserAbortError);
    expect((err as APIConnectionError).status).toBeUndefined();
  });

  it('rejects with APIConnectionError when a chunked answer is dropped before its last chunk', async () => {
    const text = JSON.stringify(COMPLETION);
    const p = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(text.slice(0, text.length / 2));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const err = await rejectionOf(new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live()));
    expect(err).toBeInstanceOf(APIConnectionError);
  });
});

describe('ChatCompletionsHttp: keep-alive', () => {
  it('sends two sequential calls over one TCP connection', async () => {
    const p = await provider(json(200, COMPLETION));
    const http = new ChatCompletionsHttp(p.baseUrl, KEY);
    await expect(http.create(BODY, live())).resolves.toEqual(COMPLETION);
    await expect(http.create(BODY, live())).resolves.toEqual(COMPLETION);
    expect(p.requests).toHaveLength(2);
    expect(p.connections).toBe(1);
    expect(p.requests[1].socket).toBe(p.requests[0].socket);
  });

  it('shares the connection between clients of the same provider', async () => {
    const p = await provider(json(200, COMPLETION));
    await new ChatCompletionsHttp(p.baseUrl, KEY).create(BODY, live());
    await new ChatCompletionsHttp(`${p.baseUrl}/`, 'another-key').create(BODY, live());
    expect(p.connections).toBe(1);
    expect(p.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${KEY}`, 'Bearer another-key']);
  });
});

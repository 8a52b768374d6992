/**
 * A small fake DeepSeek for the replay and the miss-path benchmark, built for volume: tens of thousands of
 * calls a run. (test/fakes/llm-upstream.ts compares every prompt with all earlier ones, which is quadratic.)
 *
 * - `POST [/<namespace>]/chat/completions` answers a non-streaming chat completion in DeepSeek's shape
 *   (`prompt_cache_hit_tokens`, `prompt_cache_miss_tokens`, mirrored `prompt_tokens_details.cached_tokens`).
 *   The namespace (any path before `/chat/completions`) keeps one prefix cache and one set of counters per
 *   user of the server, e.g. one per replay layer.
 * - Tokens: 4 per message plus one per 4 characters of its content (the same tokenizer as the test fake).
 * - Prefix cache keyed by the exact first message: the first time a first message is seen nothing is a hit;
 *   afterwards its tokens, rounded down to DeepSeek's 64-token unit, are billed as cache hits (OpenAI
 *   models: 128-token units, none below 1,024 tokens).
 * - Answers are deterministic: the text is derived from a hash of the last user message. An ordinary answer
 *   is `answerTokens` long (default 160); an answer to a batch prompt (`Events (…` and n numbered lines, see
 *   batch-flusher.service.ts) is 40 + 20·n tokens — one short line per numbered line; both are cut at
 *   `max_tokens`.
 * - `latencyMs` delays every answer (the miss-path benchmark uses a fixed 20 ms).
 *
 * Runs in the calling thread (`startFakeDeepSeek`) or in a worker thread (`startFakeDeepSeekWorker`) so that
 * its CPU does not compete with the event loop of the server under test.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

export interface FakeDeepSeekOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Delay before every answer, in ms. Default 0. */
  latencyMs?: number;
  /** Completion tokens of an ordinary (non-batch) answer. Default 160. */
  answerTokens?: number;
}

export interface NamespaceStats {
  calls: number;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

export interface FakeDeepSeek {
  /** http://127.0.0.1:PORT */
  url: string;
  /** What to configure as DEEPSEEK_BASE_URL for one namespace. */
  baseUrl(namespace: string): string;
  /** Counters per namespace ('' = no namespace). */
  stats(): Promise<Record<string, NamespaceStats>>;
  close(): Promise<void>;
}

export const CACHE_UNIT_TOKENS = 64;
const MESSAGE_OVERHEAD_TOKENS = 4;
const BATCH_PROMPT = /^Events \(\d+\)/;
const NUMBERED_LINE = /^\d+\. /gm;
const FILLER =
  'The tape shows participation consistent with the prevailing structure; momentum and volatility agree, ' +
  'so the bots should keep their current stance, size within limits and watch the invalidation level. ';

export interface ChatMessage {
  role: string;
  content?: unknown;
}

const textOf = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : content === null || content === undefined
      ? ''
      : JSON.stringify(content);

export const messageTokens = (content: unknown): number =>
  MESSAGE_OVERHEAD_TOKENS + Math.ceil(textOf(content).length / 4);

function isChatBody(
  value: unknown,
): value is { model: string; messages: ChatMessage[]; max_tokens?: number } {
  if (typeof value !== 'object' || value === null) return false;
  const body = value as Record<string, unknown>;
  return (
    typeof body.model === 'string' &&
    Array.isArray(body.messages) &&
    body.messages.length > 0 &&
    body.messages.every((m: unknown) => typeof m === 'object' && m !== null && 'role' in m)
  );
}

function answerText(messages: ChatMessage[], answerTokens: number, maxTokens: number | undefined): string {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  const user = textOf(last?.content);
  const lines = BATCH_PROMPT.test(user) ? (user.match(NUMBERED_LINE)?.length ?? 0) : null;
  const tokens = Math.min(lines !== null ? 40 + 20 * lines : answerTokens, maxTokens ?? Infinity);
  const ref = createHash('sha1').update(user).digest('hex').slice(0, 12);
  let text = `[analysis ${ref}] `;
  while (text.length < tokens * 4) text += FILLER;
  return text.slice(0, Math.max(1, tokens * 4));
}

/**
 * The provider's prefix cache of one namespace: which first messages it has seen. DeepSeek bills a prefix
 * seen before in 64-token units; for OpenAI models (gpt-…, o1…) the fake follows OpenAI's rule instead:
 * 128-token units and nothing below 1,024 tokens.
 */
export class PrefixCache {
  private readonly seen = new Set<string>();

  /** Cache-hit tokens for a prompt starting with `first`, then remembers it. */
  hitTokens(first: ChatMessage, model = 'deepseek'): number {
    const key = createHash('sha1')
      .update(first.role)
      .update('\u0000')
      .update(textOf(first.content))
      .digest('base64');
    const openai = /^(gpt-|o\d)/.test(model);
    const unit = openai ? 128 : CACHE_UNIT_TOKENS;
    const tokens = this.seen.has(key) ? Math.floor(messageTokens(first.content) / unit) * unit : 0;
    this.seen.add(key);
    return openai && tokens < 1024 ? 0 : tokens;
  }
}

export interface FakeAnswer {
  content: string;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

/**
 * What the fake answers to `messages`, usage included (and the prompt remembered by `cache`). The replay
 * also calls it directly for the layers it computes analytically, so both paths share one definition.
 */
export function fakeAnswer(
  model: string,
  messages: ChatMessage[],
  cache: PrefixCache,
  answerTokens: number,
  maxTokens: number | undefined,
): FakeAnswer {
  const promptTokens = messages.reduce((sum, m) => sum + messageTokens(m.content), 0);
  const cachedTokens = cache.hitTokens(messages[0], model);
  const content = answerText(messages, answerTokens, maxTokens);
  return { content, promptTokens, cachedTokens, completionTokens: Math.ceil(content.length / 4) };
}

export const DEFAULT_ANSWER_TOKENS = 160;

/** The server itself, in the calling thread. */
export function startFakeDeepSeek(options: FakeDeepSeekOptions = {}): Promise<FakeDeepSeek> {
  const latencyMs = options.latencyMs ?? 0;
  const answerTokens = options.answerTokens ?? DEFAULT_ANSWER_TOKENS;
  const caches = new Map<string, PrefixCache>();
  const counters = new Map<string, NamespaceStats>();
  const sockets = new Set<Socket>();
  let nextId = 0;

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const error = (res: ServerResponse, status: number, message: string, type: string): void =>
    send(res, status, { error: { message, type, param: null, code: type } });

  const complete = (namespace: string, raw: string, res: ServerResponse): void => {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      error(res, 400, 'Failed to parse the request body as JSON', 'invalid_request_error');
      return;
    }
    if (!isChatBody(body)) {
      error(res, 400, 'Invalid Request: model and messages are required', 'invalid_request_error');
      return;
    }
    let cache = caches.get(namespace);
    if (!cache) caches.set(namespace, (cache = new PrefixCache()));
    const answer = fakeAnswer(body.model, body.messages, cache, answerTokens, body.max_tokens);
    const stats = counters.get(namespace) ?? {
      calls: 0,
      promptTokens: 0,
      cachedTokens: 0,
      completionTokens: 0,
    };
    stats.calls += 1;
    stats.promptTokens += answer.promptTokens;
    stats.cachedTokens += answer.cachedTokens;
    stats.completionTokens += answer.completionTokens;
    counters.set(namespace, stats);
    nextId += 1;
    const { promptTokens, cachedTokens: hit, completionTokens } = answer;
    const completion = {
      id: `fake-${nextId}`,
      object: 'chat.completion',
      created: 1_700_000_000,
      model: body.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: answer.content },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: hit },
        prompt_cache_hit_tokens: hit,
        prompt_cache_miss_tokens: promptTokens - hit,
      },
      system_fingerprint: 'fp_bench_fake',
    };
    if (latencyMs > 0) setTimeout(() => send(res, 200, completion), latencyMs);
    else send(res, 200, completion);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      error(res, 401, 'Authentication Fails (no such user)', 'authentication_error');
      req.resume();
      return;
    }
    if (req.method === 'GET' && path.endsWith('/models')) {
      send(res, 200, {
        object: 'list',
        data: [{ id: 'deepseek-v4-flash', object: 'model', owned_by: 'deepseek' }],
      });
      return;
    }
    if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
      error(res, 404, 'Not Found', 'invalid_request_error');
      req.resume();
      return;
    }
    const namespace = path.slice(0, -'/chat/completions'.length).replace(/^\/+/, '');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => complete(namespace, Buffer.concat(chunks).toString('utf8'), res));
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}`;
      resolve({
        url,
        baseUrl: (namespace) => (namespace === '' ? url : `${url}/${namespace}`),
        stats: () => Promise.resolve(Object.fromEntries([...counters].map(([ns, s]) => [ns, { ...s }]))),
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Messages between startFakeDeepSeekWorker and fake-deepseek.worker.ts. */
export type FakeWorkerMessage =
  | { kind: 'ready'; url: string }
  | { kind: 'stats'; id: number; stats: Record<string, NamespaceStats> }
  | { kind: 'failed'; message: string };
export type FakeWorkerCommand = { kind: 'stats'; id: number } | { kind: 'close' };

/** The same server in a worker thread: its own event loop, on the machine's other core. */
export function startFakeDeepSeekWorker(options: FakeDeepSeekOptions = {}): Promise<FakeDeepSeek> {
  const worker = new Worker(new URL('./fake-deepseek.worker.js', import.meta.url), { workerData: options });
  const waiting = new Map<number, (stats: Record<string, NamespaceStats>) => void>();
  let nextId = 0;
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message: FakeWorkerMessage) => {
      if (message.kind === 'failed') reject(new Error(`fake DeepSeek worker: ${message.message}`));
      else if (message.kind === 'stats') {
        waiting.get(message.id)?.(message.stats);
        waiting.delete(message.id);
      } else {
        const url = message.url;
        resolve({
          url,
          baseUrl: (namespace) => (namespace === '' ? url : `${url}/${namespace}`),
          stats: () =>
            new Promise((done) => {
              const id = ++nextId;
              waiting.set(id, done);
              worker.postMessage({ kind: 'stats', id } satisfies FakeWorkerCommand);
            }),
          close: async () => {
            const exited = new Promise<void>((done) => worker.once('exit', () => done()));
            worker.postMessage({ kind: 'close' } satisfies FakeWorkerCommand);
            await exited;
          },
        });
      }
    });
  });
}

/**
 * Fake OpenAI-compatible LLM upstream with three "personalities" (DeepSeek, OpenAI, vLLM) that reproduce the
 * wire-level differences listed in docs/upstream-wire-formats.md:
 * id formats, where usage appears in SSE streams, usage field shapes, prefix-cache hit accounting,
 * error body shapes (nested string codes vs vLLM integer codes vs vLLM's bare 401), DeepSeek keep-alives.
 * Injectable faults reproduce what an unlucky deployment meets: error statuses, hangs, garbled or empty 200s
 * (an HTML page from a proxy, truncated JSON, no choices, a stream without content), streams that stall after
 * their headers or after some chunks, and a 401 that quotes the caller's Authorization header.
 *
 * Only node:http / node:crypto are used so that it can run inside Jest, integration tests and benchmarks.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Personality = 'deepseek' | 'openai' | 'vllm';

export interface FakeLlmOptions {
  personality: Personality;
  /** If set, requests without `Authorization: Bearer <apiKey>` get the personality's 401 body. */
  apiKey?: string;
  /** Ids served by GET /models. When given explicitly, chat requests for other models are rejected. */
  models?: string[];
  /** Default '' for deepseek (which also serves `/v1/...`), '/v1' for openai and vllm. */
  pathPrefix?: string;
  /** Delay before answering (non-stream) / before the first chunk (stream). Default 0. */
  latencyMs?: number;
  /** Delay between SSE events. Default 0. */
  chunkDelayMs?: number;
  /** Prefix-cache granularity in tokens. Default deepseek 64, openai 128 (and only >= 1024 tokens), vllm 16. */
  cacheUnit?: number;
  /** vLLM `--enable-prompt-tokens-details`; default false => `prompt_tokens_details: null`. */
  vllmPromptTokensDetails?: boolean;
  /**
   * vLLM `--max-model-len` (default 32768): prompt tokens plus max_tokens beyond it are refused with vLLM's
   * 400 (the other personalities do not check).
   */
  maxModelLen?: number;
  /** Content generator; default: `Answer #<n> to: <first 40 chars of the last user message>`. */
  reply?: (req: FakeChatRequest) => string;
}

export interface FakeChatRequest {
  model: string;
  messages: { role: string; content: unknown }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number;
  [k: string]: unknown;
}

export interface RecordedCall {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: FakeChatRequest;
  /** Date.now() when the request body had been fully received. */
  at: number;
  /** True when the client closed the connection before the response was finished. */
  aborted: boolean;
  /** HTTP status sent; 0 while no status line was sent (pending or hanging). */
  status: number;
}

export type Fault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number; retryAfterMs?: number; times?: number }
  | { kind: 'hang'; times?: number }
  | { kind: 'malformed'; times?: number }
  | { kind: 'stream-error'; afterChunks: number; times?: number }
  /** A 401 whose error message quotes the request's whole Authorization header, as some providers do. */
  | { kind: 'auth-echo'; times?: number }
  /** A 200 `text/html` page (a proxy's or a captive portal's), for plain and streaming requests alike. */
  | { kind: 'html'; times?: number }
  /** A 200 `application/json` completion cut in half (fully transferred: the body itself is cut). */
  | { kind: 'truncated-json'; times?: number }
  /** A 200 completion with `choices: []`; a streaming request gets only chunks with `choices: []`. */
  | { kind: 'empty-choices'; times?: number }
  /** 200 and the headers (SSE for a stream), then no byte until the client or the server closes. */
  | { kind: 'stall-after-headers'; times?: number }
  /** A stream that sends its first `afterChunks` events, then no byte until a side closes (plain: as above). */
  | { kind: 'stall-after-chunks'; afterChunks: number; times?: number }
  /**
   * A stream of only the role chunk, then `[DONE]`: no content, no finish reason. A plain request gets a
   * completion whose message has no content and whose finish_reason is null.
   */
  | { kind: 'no-content-stream'; times?: number };

export interface FakeLlm {
  /** e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** What to pass as an OpenAI SDK baseURL: `${url}${pathPrefix}`. */
  baseURL: string;
  /** Every POST chat/completions received, in arrival order (including faulted / rejected ones). */
  calls: RecordedCall[];
  /** Calls that got a normal 200 answer that was fully written (faults excluded). */
  completedCalls(): number;
  /** Queue a fault; faults apply FIFO to the next chat requests, each for `times` requests (default: forever). */
  inject(fault: Fault): void;
  clearFaults(): void;
  /** Clear calls, faults and the simulated prefix cache. */
  reset(): void;
  /** Close the server and destroy open sockets (hanging requests included). */
  close(): Promise<void>;
}

/** The fake's deterministic tokenizer: one token per 4 characters (rounded up). */
export function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Per-message overhead added to the prompt token count. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** Serialized content of a message as used for token accounting (strings as-is, others JSON). */
export function contentToText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  return JSON.stringify(content);
}

/** prompt_tokens as computed by the fake: sum over messages of 4 + ceil(len(content) / 4). */
export function countPromptTokens(messages: readonly { content: unknown }[]): number {
  return messages.reduce(
    (sum, m) => sum + MESSAGE_OVERHEAD_TOKENS + countTokens(contentToText(m.content)),
    0,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------------------

const DEFAULT_MODELS: Record<Personality, string[]> = {
  deepseek: ['deepseek-v4-flash', 'deepseek-v4-pro', 'deepseek-flash'],
  openai: ['gpt-4.1-mini', 'gpt-4.1', 'gpt-4o-mini', 'gpt-5-mini'],
  vllm: ['Qwen/Qwen3-8B'],
};

const DEFAULT_CACHE_UNIT: Record<Personality, number> = { deepseek: 64, openai: 128, vllm: 16 };
const OPENAI_CACHE_MIN_TOKENS = 1024;
const CHUNK_CHARS = 8;
const DEEPSEEK_FINGERPRINT = 'fp_8802369eaa_prod0623_fp8_kvcache';
const OPENAI_FINGERPRINT = 'fp_b1442291a8';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface MessageBlock {
  key: string;
  tokens: number;
}

interface TrieNode {
  children: Map<string, TrieNode>;
}

/** Prefix cache over whole messages: a hit only covers identical messages from the start of the prompt. */
class PrefixCache {
  private root: TrieNode = { children: new Map() };

  longestPrefixTokens(blocks: readonly MessageBlock[]): number {
    let node = this.root;
    let tokens = 0;
    for (const block of blocks) {
      const next = node.children.get(block.key);
      if (!next) break;
      tokens += block.tokens;
      node = next;
    }
    return tokens;
  }

  store(blocks: readonly MessageBlock[]): void {
    let node = this.root;
    for (const block of blocks) {
      let next = node.children.get(block.key);
      if (!next) {
        next = { children: new Map() };
        node.children.set(block.key, next);
      }
      node = next;
    }
  }

  clear(): void {
    this.root = { children: new Map() };
  }
}

function messageBlocks(messages: FakeChatRequest['messages']): MessageBlock[] {
  return messages.map((m) => {
    const text = contentToText(m.content);
    const key = createHash('sha1').update(m.role).update('\u0000').update(text).digest('base64');
    return { key, tokens: MESSAGE_OVERHEAD_TOKENS + countTokens(text) };
  });
}

function splitText(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
  return parts;
}

function maskKey(key: string, personality: Personality): string {
  if (personality === 'deepseek') return `****${key.slice(-4)}`;
  return key.length > 8 ? `${key.slice(0, 3)}****${key.slice(-4)}` : '****';
}

function lastUserText(messages: FakeChatRequest['messages']): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      const texts = m.content
        .map((part: unknown) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
        .filter((t) => t.length > 0);
      if (texts.length > 0) return texts.join(' ');
    }
    return contentToText(m.content);
  }
  return '';
}

interface ToolCallAnswer {
  id: string;
  name: string;
  arguments: string;
}

/** Optional tool-call behaviour: tools present + last user message mentions "weather" → call the first tool. */
function maybeToolCall(body: FakeChatRequest, personality: Personality): ToolCallAnswer | null {
  const tools = body.tools;
  if (!Array.isArray(tools) || tools.length === 0) return null;
  if (body.tool_choice === 'none') return null;
  if (!/\bweather\b/i.test(lastUserText(body.messages))) return null;
  const first: unknown = tools[0];
  if (!isRecord(first) || !isRecord(first.function) || typeof first.function.name !== 'string') return null;
  const args: Record<string, string> = {};
  const params = first.function.parameters;
  if (isRecord(params) && Array.isArray(params.required)) {
    for (const name of params.required) if (typeof name === 'string') args[name] = 'auto';
  }
  const id =
    personality === 'deepseek'
      ? `call_00_${randomBytes(12).toString('base64url')}`
      : personality === 'openai'
        ? `call_${randomBytes(12).toString('base64url')}`
        : `chatcmpl-tool-${randomBytes(16).toString('hex')}`;
  return { id, name: first.function.name, arguments: JSON.stringify(args) };
}

// ----- error bodies -----------------------------------------------------------------------------------------

interface ErrorSpec {
  message: string;
  type: string;
  code: string | null;
}

function deepseekError(status: number): ErrorSpec {
  switch (status) {
    case 400:
      return { message: 'Invalid Request', type: 'invalid_request_error', code: 'invalid_request_error' };
    case 401:
      return {
        message: 'Authentication Fails (no such user)',
        type: 'authentication_error',
        code: 'invalid_request_error',
      };
    case 402:
      return { message: 'Insufficient Balance', type: 'unknown_error', code: 'invalid_request_error' };
    case 422:
      return { message: 'Invalid Parameters', type: 'invalid_request_error', code: 'invalid_request_error' };
    case 429:
      return { message: 'Rate Limit Reached', type: 'rate_limit_error', code: 'rate_limit_exceeded' };
    case 500:
      return { message: 'Server Error', type: 'server_error', code: 'server_error' };
    case 503:
      return { message: 'Server Overloaded', type: 'server_error', code: 'server_overloaded' };
    default:
      return {
        message: STATUS_CODES[status] ?? 'Error',
        type: 'unknown_error',
        code: 'invalid_request_error',
      };
  }
}

function openaiError(status: number, model: string, retryHint: string): ErrorSpec {
  switch (status) {
    case 400:
      return { message: 'Invalid request.', type: 'invalid_request_error', code: null };
    case 401:
      return {
        message:
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        type: 'invalid_request_error',
        code: null,
      };
    case 403:
      return {
        message: `Project does not have access to model \`${model}\``,
        type: 'invalid_request_error',
        code: 'model_not_found',
      };
    case 404:
      return {
        message: `The model \`${model}\` does not exist or you do not have access to it.`,
        type: 'invalid_request_error',
        code: 'model_not_found',
      };
    case 429:
      return {
        message: `Rate limit reached for ${model} in organization org-fake on tokens per min (TPM): Limit 30000, Used 29937, Requested 385. Please try again in ${retryHint}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        type: 'tokens',
        code: 'rate_limit_exceeded',
      };
    case 500:
      return {
        message: `The server had an error while processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if you keep seeing this error. (Please include the request ID req_${randomBytes(16).toString('hex')} in your email.)`,
        type: 'server_error',
        code: 'server_error',
      };
    case 502:
    case 503:
      return {
        message: 'The engine is currently overloaded, please try again later.',
        type: 'server_error',
        code: null,
      };
    default:
      return { message: STATUS_CODES[status] ?? 'Error', type: 'invalid_request_error', code: null };
  }
}

const VLLM_ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  500: 'InternalServerError',
  501: 'NotImplementedError',
};

function vllmErrorBody(status: number, message?: string): JsonObject {
  if (status === 401) return { error: 'Unauthorized' };
  const phrase = STATUS_CODES[status] ?? 'Error';
  return {
    error: {
      message: message ?? phrase,
      type: VLLM_ERROR_TYPES[status] ?? phrase,
      param: null,
      code: status,
    },
  };
}

function nestedErrorBody(spec: ErrorSpec, param: string | null = null): JsonObject {
  return { error: { message: spec.message, type: spec.type, param, code: spec.code } };
}

/** The personality's error body for `status`; `message` overrides the default text (not vLLM 401). */
function errorBody(personality: Personality, status: number, model: string, message?: string): JsonObject {
  if (personality === 'vllm') return vllmErrorBody(status, message);
  const spec = personality === 'deepseek' ? deepseekError(status) : openaiError(status, model, '1s');
  return nestedErrorBody(message === undefined ? spec : { ...spec, message });
}

// ----- the server ---------------------------------------------------------------------------------------------

interface QueuedFault {
  fault: Fault;
  remaining: number | undefined;
}

interface Sleeper {
  timer: NodeJS.Timeout;
  resolve: () => void;
}

interface Answer {
  finishReason: 'stop' | 'length' | 'tool_calls';
  content: string;
  toolCall: ToolCallAnswer | null;
  promptTokens: number;
  completionTokens: number;
  hitTokens: number;
  blocks: MessageBlock[];
}

class FakeLlmServer implements FakeLlm {
  url = '';
  baseURL = '';
  calls: RecordedCall[] = [];

  private readonly personality: Personality;
  private readonly prefix: string;
  private readonly models: string[];
  private readonly explicitModels: boolean;
  private readonly latencyMs: number;
  private readonly chunkDelayMs: number;
  private readonly cacheUnit: number;
  private readonly maxModelLen: number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly sleepers = new Set<Sleeper>();
  private readonly cache = new PrefixCache();
  private faults: QueuedFault[] = [];
  private completed = 0;
  private closing = false;

  constructor(private readonly options: FakeLlmOptions) {
    this.personality = options.personality;
    const rawPrefix = options.pathPrefix ?? (options.personality === 'deepseek' ? '' : '/v1');
    this.prefix = rawPrefix.replace(/\/+$/, '');
    if (this.prefix !== '' && !this.prefix.startsWith('/')) this.prefix = `/${this.prefix}`;
    this.explicitModels = options.models !== undefined;
    this.models = options.models ?? DEFAULT_MODELS[options.personality];
    this.latencyMs = Math.max(0, options.latencyMs ?? 0);
    this.chunkDelayMs = Math.max(0, options.chunkDelayMs ?? 0);
    this.cacheUnit = Math.max(1, options.cacheUnit ?? DEFAULT_CACHE_UNIT[options.personality]);
    this.maxModelLen = options.maxModelLen ?? 32768;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify(errorBody(this.personality, 500, '')));
        } else if (!res.writableEnded) {
          res.destroy();
        }
      });
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
    this.baseURL = `${this.url}${this.prefix}`;
  }

  completedCalls(): number {
    return this.completed;
  }

  inject(fault: Fault): void {
    this.faults.push({ fault, remaining: fault.times });
  }

  clearFaults(): void {
    this.faults = [];
  }

  reset(): void {
    this.calls = [];
    this.faults = [];
    this.completed = 0;
    this.cache.clear();
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const sleeper of this.sleepers) {
      clearTimeout(sleeper.timer);
      sleeper.resolve();
    }
    this.sleepers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // ----- routing ---------------------------------------------------------------------------------------------

  private chatPaths(): string[] {
    const paths = [`${this.prefix}/chat/completions`];
    if (this.personality === 'deepseek' && this.prefix !== '/v1') paths.push('/v1/chat/completions');
    return paths;
  }

  private modelPaths(): string[] {
    const paths = [`${this.prefix}/models`];
    if (this.personality === 'deepseek' && this.prefix !== '/v1') paths.push('/v1/models');
    return paths;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0].replace(/(.)\/+$/, '$1');
    const method = req.method ?? 'GET';

    if (this.personality === 'vllm' && path === '/health' && method === 'GET') {
      res.writeHead(200, { 'content-length': '0' });
      res.end();
      return;
    }
    if (this.personality === 'vllm' && path === '/version' && method === 'GET') {
      this.sendJson(res, null, 200, { version: '0.29.0' });
      return;
    }

    if (this.chatPaths().includes(path)) {
      if (method !== 'POST') {
        await drain(req);
        this.sendJson(res, null, 405, errorBody(this.personality, 405, '', 'Method Not Allowed'));
        return;
      }
      await this.handleChat(req, res, path);
      return;
    }

    await drain(req);
    if (!this.authorized(req, path)) {
      this.sendAuthError(req, res, null);
      return;
    }
    if (this.modelPaths().includes(path) && method === 'GET') {
      this.sendJson(res, null, 200, this.modelsBody());
      return;
    }
    if (this.personality === 'deepseek' && path === `${this.prefix}/user/balance` && method === 'GET') {
      this.sendJson(res, null, 200, {
        is_available: true,
        balance_infos: [
          { currency: 'USD', total_balance: '9.80', granted_balance: '0.00', topped_up_balance: '9.80' },
        ],
      });
      return;
    }
    this.sendNotFound(res, method, path);
  }

  private sendNotFound(res: ServerResponse, method: string, path: string): void {
    if (this.personality === 'vllm') {
      this.sendJson(res, null, 404, { detail: 'Not Found' });
    } else if (this.personality === 'openai') {
      this.sendJson(
        res,
        null,
        404,
        nestedErrorBody({
          message: `Invalid URL (${method} ${path})`,
          type: 'invalid_request_error',
          code: null,
        }),
      );
    } else {
      this.sendJson(res, null, 404, errorBody('deepseek', 404, '', 'Not Found'));
    }
  }

  private modelsBody(): JsonObject {
    const created = Math.floor(Date.now() / 1000);
    const data: JsonObject[] = this.models.map((id): JsonObject => {
      if (this.personality === 'deepseek') return { id, object: 'model', owned_by: 'deepseek' };
      if (this.personality === 'openai') return { id, object: 'model', created, owned_by: 'system' };
      return {
        id,
        object: 'model',
        created,
        owned_by: 'vllm',
        root: id,
        parent: null,
        max_model_len: this.maxModelLen,
        permission: [
          {
            id: `modelperm-${randomBytes(16).toString('hex')}`,
            object: 'model_permission',
            created,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: '*',
            group: null,
            is_blocking: false,
          },
        ],
      };
    });
    return { object: 'list', data };
  }

  private authorized(req: IncomingMessage, path: string): boolean {
    const key = this.options.apiKey;
    if (key === undefined) return true;
    if (this.personality === 'vllm' && !path.startsWith('/v1')) return true;
    return req.headers.authorization === `Bearer ${key}`;
  }

  private sendAuthError(req: IncomingMessage, res: ServerResponse, call: RecordedCall | null): void {
    const header = req.headers.authorization;
    const provided = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined;
    let body: JsonObject;
    if (this.personality === 'vllm') {
      body = vllmErrorBody(401);
    } else if (this.personality === 'deepseek') {
      body = nestedErrorBody(
        provided
          ? {
              message: `Authentication Fails, Your api key: ${maskKey(provided, 'deepseek')} is invalid`,
              type: 'authentication_error',
              code: 'invalid_request_error',
            }
          : deepseekError(401),
      );
    } else {
      body = nestedErrorBody(
        provided
          ? {
              message: `Incorrect API key provided: ${maskKey(provided, 'openai')}. You can find your API key at https://platform.openai.com/account/api-keys.`,
              type: 'invalid_request_error',
              code: 'invalid_api_key',
            }
          : openaiError(401, '', ''),
      );
    }
    this.sendJson(res, call, 401, body);
  }

  // ----- chat completions ------------------------------------------------------------------------------------

  private async handleChat(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      return; // client went away while sending the body
    }

    let parsed: unknown;
    let parseError: string | null = null;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      parseError = err instanceof Error ? err.message : 'invalid JSON';
    }
    const shapeError = parseError === null ? validateChatRequest(parsed) : null;
    const body: FakeChatRequest =
      parseError === null && shapeError === null
        ? (parsed as FakeChatRequest)
        : {
            model: isRecord(parsed) && typeof parsed.model === 'string' ? parsed.model : '',
            messages: [],
            rawBody: raw,
          };

    const call: RecordedCall = {
      path,
      headers: { ...req.headers },
      body,
      at: Date.now(),
      aborted: false,
      status: 0,
    };
    this.calls.push(call);
    res.on('close', () => {
      if (!res.writableEnded && !this.closing) call.aborted = true;
    });

    if (!this.authorized(req, path)) {
      this.sendAuthError(req, res, call);
      return;
    }
    if (parseError !== null) {
      this.sendJson(res, call, 400, this.badJsonBody(parseError));
      return;
    }
    if (shapeError !== null) {
      this.sendJson(res, call, 400, this.badRequestBody(shapeError));
      return;
    }

    const fault = this.takeFault();
    if (fault?.kind === 'status') {
      this.sendStatusFault(res, call, fault, body.model);
      return;
    }
    if (fault?.kind === 'auth-echo') {
      this.sendJson(res, call, 401, this.authEchoBody(req.headers.authorization));
      return;
    }
    if (fault?.kind === 'hang') return; // never answer; socket closes on client abort or server close
    if (fault?.kind === 'stall-after-headers') {
      this.stallAfterHeaders(res, call, body.stream === true);
      return;
    }

    if (this.explicitModels && !this.models.includes(body.model)) {
      this.sendUnknownModel(res, call, body.model);
      return;
    }

    const tooLong = this.contextLengthError(body);
    if (tooLong !== null) {
      this.sendJson(res, call, 400, vllmErrorBody(400, tooLong));
      return;
    }

    if (fault?.kind === 'malformed') {
      await this.sendMalformed(res, call, body.stream === true);
      return;
    }
    if (fault?.kind === 'html') {
      this.sendHtml(res, call);
      return;
    }

    const answer = this.answer(body);
    if (fault?.kind === 'truncated-json') {
      const text = JSON.stringify(this.completionBody(body, answer));
      this.sendText(res, call, 'application/json', text.slice(0, Math.floor(text.length / 2)));
      return;
    }
    if (fault?.kind === 'empty-choices') {
      this.sendEmptyChoices(res, call, body, answer);
      return;
    }
    if (fault?.kind === 'no-content-stream') {
      this.sendNoContent(res, call, body, answer);
      return;
    }
    if (fault?.kind === 'stall-after-chunks') {
      if (body.stream === true) await this.stallStream(res, call, body, answer, fault.afterChunks);
      else this.stallAfterHeaders(res, call, false);
      return;
    }
    if (body.stream === true) {
      await this.sendStream(
        res,
        call,
        body,
        answer,
        fault?.kind === 'stream-error' ? fault.afterChunks : null,
      );
    } else if (fault?.kind === 'stream-error') {
      // Non-streaming request with a stream-error fault: a 200 whose JSON body is an error object.
      await this.sendDelayedJson(res, call, errorBody(this.personality, 500, body.model));
    } else {
      const ok = await this.sendDelayedJson(res, call, this.completionBody(body, answer));
      if (ok) this.finishOk(answer);
    }
  }

  /** vLLM's refusal of a request that cannot fit in --max-model-len; null when it fits (or not vLLM). */
  private contextLengthError(body: FakeChatRequest): string | null {
    if (this.personality !== 'vllm') return null;
    const prompt = countPromptTokens(body.messages);
    const limit = typeof body.max_tokens === 'number' ? body.max_tokens : body.max_completion_tokens;
    const output = typeof limit === 'number' ? limit : 0;
    if (prompt + output <= this.maxModelLen) return null;
    return (
      `This model's maximum context length is ${this.maxModelLen} tokens. However, you requested ` +
      `${output} output tokens and your prompt contains at least ${prompt} input tokens, for a total of at ` +
      `least ${prompt + output} tokens. Please reduce the length of the input prompt or the number of ` +
      `requested output tokens. (parameter=input_tokens, value=${prompt})`
    );
  }

  private takeFault(): Fault | null {
    const head = this.faults[0];
    if (head === undefined) return null;
    if (head.remaining !== undefined) {
      head.remaining -= 1;
      if (head.remaining <= 0) this.faults.shift();
    }
    return head.fault;
  }

  private finishOk(answer: Answer): void {
    this.completed += 1;
    this.cache.store(answer.blocks);
  }

  private answer(body: FakeChatRequest): Answer {
    const blocks = messageBlocks(body.messages);
    const promptTokens = blocks.reduce((sum, b) => sum + b.tokens, 0);
    const toolCall = this.options.reply ? null : maybeToolCall(body, this.personality);
    let content = toolCall ? '' : this.replyText(body);
    let finishReason: Answer['finishReason'] = toolCall ? 'tool_calls' : 'stop';
    const limit = typeof body.max_tokens === 'number' ? body.max_tokens : body.max_completion_tokens;
    if (!toolCall && typeof limit === 'number' && limit > 0 && countTokens(content) > limit) {
      content = content.slice(0, limit * 4);
      finishReason = 'length';
    }
    const completionTokens = Math.max(
      1,
      toolCall ? countTokens(toolCall.name + toolCall.arguments) : countTokens(content),
    );
    return {
      finishReason,
      content,
      toolCall,
      promptTokens,
      completionTokens,
      hitTokens: this.hitTokens(blocks, promptTokens),
      blocks,
    };
  }

  private hitTokens(blocks: MessageBlock[], promptTokens: number): number {
    const prefix = this.cache.longestPrefixTokens(blocks);
    const hit = Math.floor(prefix / this.cacheUnit) * this.cacheUnit;
    if (
      this.personality === 'openai' &&
      (promptTokens < OPENAI_CACHE_MIN_TOKENS || hit < OPENAI_CACHE_MIN_TOKENS)
    ) {
      return 0;
    }
    return hit;
  }

  private replyText(body: FakeChatRequest): string {
    if (this.options.reply) return this.options.reply(body);
    const text = `Answer #${this.calls.length} to: ${lastUserText(body.messages).slice(0, 40)}`;
    const format = body.response_format;
    if (isRecord(format) && (format.type === 'json_object' || format.type === 'json_schema')) {
      return JSON.stringify({ answer: text });
    }
    return text;
  }

  // ----- response shapes -------------------------------------------------------------------------------------

  private usage(answer: Answer, context: 'json' | 'stream'): JsonObject {
    const { promptTokens: prompt, completionTokens: completion, hitTokens: hit } = answer;
    const total = prompt + completion;
    switch (this.personality) {
      case 'deepseek':
        return {
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: total,
          prompt_tokens_details: { cached_tokens: hit },
          prompt_cache_hit_tokens: hit,
          prompt_cache_miss_tokens: prompt - hit,
        };
      case 'openai':
        return {
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: total,
          prompt_tokens_details: { cached_tokens: hit, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
          },
        };
      case 'vllm': {
        const details = this.options.vllmPromptTokensDetails && hit > 0 ? { cached_tokens: hit } : null;
        const usage: JsonObject = {
          prompt_tokens: prompt,
          total_tokens: total,
          completion_tokens: completion,
        };
        // vLLM serializes the final stream usage chunk with exclude_none, so a null details field disappears.
        if (details !== null || context === 'json') usage.prompt_tokens_details = details;
        return usage;
      }
    }
  }

  private newId(): string {
    if (this.personality === 'deepseek') return randomUUID();
    if (this.personality === 'openai')
      return `chatcmpl-${randomBytes(22).toString('base64url').slice(0, 29)}`;
    return `chatcmpl-${randomBytes(16).toString('hex')}`;
  }

  private toolCallsJson(toolCall: ToolCallAnswer): Json[] {
    return [
      { id: toolCall.id, type: 'function', function: { name: toolCall.name, arguments: toolCall.arguments } },
    ];
  }

  private completionBody(body: FakeChatRequest, answer: Answer): JsonObject {
    const id = this.newId();
    const created = Math.floor(Date.now() / 1000);
    const usage = this.usage(answer, 'json');
    const tool = answer.toolCall;
    switch (this.personality) {
      case 'deepseek': {
        const message: JsonObject = { role: 'assistant', content: answer.content };
        if (tool) message.tool_calls = this.toolCallsJson(tool);
        return {
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [{ index: 0, message, logprobs: null, finish_reason: answer.finishReason }],
          usage,
          system_fingerprint: DEEPSEEK_FINGERPRINT,
        };
      }
      case 'openai': {
        const message: JsonObject = {
          role: 'assistant',
          content: tool ? null : answer.content,
          refusal: null,
          annotations: [],
        };
        if (tool) message.tool_calls = this.toolCallsJson(tool);
        return {
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [{ index: 0, message, logprobs: null, finish_reason: answer.finishReason }],
          usage,
          service_tier: 'default',
          system_fingerprint: OPENAI_FINGERPRINT,
        };
      }
      case 'vllm':
        return {
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: tool ? null : answer.content,
                refusal: null,
                annotations: null,
                audio: null,
                function_call: null,
                tool_calls: tool ? this.toolCallsJson(tool) : [],
                reasoning_content: null,
              },
              logprobs: null,
              finish_reason: answer.finishReason,
              stop_reason: null,
            },
          ],
          service_tier: null,
          system_fingerprint: null,
          usage,
          prompt_logprobs: null,
          kv_transfer_params: null,
        };
    }
  }

  /** The JSON payloads of the SSE events (without the final `[DONE]`). */
  private streamEvents(body: FakeChatRequest, answer: Answer): JsonObject[] {
    const id = this.newId();
    const created = Math.floor(Date.now() / 1000);
    const model = body.model;
    const opts: unknown = body.stream_options;
    // vLLM's StreamOptions.include_usage defaults to true when a stream_options object is sent.
    const includeUsage =
      this.personality === 'vllm'
        ? isRecord(opts) && opts.include_usage !== false
        : isRecord(opts) && opts.include_usage === true;
    const obfuscate = !(isRecord(opts) && opts.include_obfuscation === false);
    const p = this.personality;

    const chunk = (delta: JsonObject, finishReason: string | null, usage: Json | undefined): JsonObject => {
      const choice: JsonObject = { index: 0, delta, logprobs: null, finish_reason: finishReason };
      if (p === 'vllm' && finishReason !== null) choice.stop_reason = null;
      const out: JsonObject = { id, object: 'chat.completion.chunk', created, model };
      if (p === 'deepseek') out.system_fingerprint = DEEPSEEK_FINGERPRINT;
      if (p === 'openai') {
        out.service_tier = 'default';
        out.system_fingerprint = OPENAI_FINGERPRINT;
      }
      out.choices = [choice];
      if (usage !== undefined) out.usage = usage;
      if (p === 'openai' && obfuscate) out.obfuscation = randomBytes(3).toString('base64url');
      return out;
    };
    // vLLM serializes chunks with exclude_unset: no `usage` key on ordinary chunks.
    const nullUsage = p === 'vllm' ? undefined : null;

    const events: JsonObject[] = [];
    events.push(
      chunk(
        p === 'openai'
          ? { role: 'assistant', content: '', refusal: null }
          : { role: 'assistant', content: '' },
        null,
        nullUsage,
      ),
    );
    const tool = answer.toolCall;
    if (tool) {
      events.push(
        chunk(
          {
            tool_calls: [
              { index: 0, id: tool.id, type: 'function', function: { name: tool.name, arguments: '' } },
            ],
          },
          null,
          nullUsage,
        ),
      );
      for (const piece of splitText(tool.arguments, CHUNK_CHARS)) {
        events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null, nullUsage));
      }
    } else {
      for (const piece of splitText(answer.content, CHUNK_CHARS)) {
        events.push(chunk({ content: piece }, null, nullUsage));
      }
    }

    if (p === 'deepseek') {
      // DeepSeek (captured traffic): usage rides on the finish chunk, no separate usage chunk.
      events.push(
        chunk({ content: '' }, answer.finishReason, includeUsage ? this.usage(answer, 'stream') : null),
      );
    } else {
      events.push(chunk(p === 'openai' ? {} : { content: '' }, answer.finishReason, nullUsage));
      if (includeUsage) {
        const usageChunk = chunk({}, null, this.usage(answer, 'stream'));
        usageChunk.choices = [];
        events.push(usageChunk);
      }
    }
    return events;
  }

  // ----- writers ---------------------------------------------------------------------------------------------

  private baseHeaders(): OutgoingHttpHeaders {
    if (this.personality === 'openai') {
      return {
        'x-request-id': `req_${randomBytes(16).toString('hex')}`,
        'openai-version': '2020-10-01',
        'openai-organization': 'org-fake',
        'openai-processing-ms': String(this.latencyMs),
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-limit-tokens': '30000000',
        'x-ratelimit-remaining-requests': '9999',
        'x-ratelimit-remaining-tokens': '29999000',
        'x-ratelimit-reset-requests': '6ms',
        'x-ratelimit-reset-tokens': '0s',
      };
    }
    return {};
  }

  private writeHead(
    res: ServerResponse,
    call: RecordedCall | null,
    status: number,
    headers: OutgoingHttpHeaders,
  ): boolean {
    if (res.destroyed || res.headersSent) return false;
    res.writeHead(status, { ...this.baseHeaders(), ...headers });
    if (call) call.status = status;
    return true;
  }

  private sendJson(
    res: ServerResponse,
    call: RecordedCall | null,
    status: number,
    body: Json,
    extraHeaders: OutgoingHttpHeaders = {},
  ): boolean {
    const text = JSON.stringify(body);
    const ok = this.writeHead(res, call, status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...extraHeaders,
    });
    if (!ok) return false;
    res.end(text);
    return true;
  }

  /** 200 JSON after latencyMs; DeepSeek sends blank lines before the JSON body while it is "queued". */
  private async sendDelayedJson(res: ServerResponse, call: RecordedCall, body: Json): Promise<boolean> {
    if (this.latencyMs <= 0) return this.sendJson(res, call, 200, body);
    if (this.personality === 'deepseek') {
      if (!this.writeHead(res, call, 200, { 'content-type': 'application/json' })) return false;
      res.write('\n');
      await this.sleep(this.latencyMs);
      if (!this.writable(res)) return false;
      res.end(JSON.stringify(body));
      return true;
    }
    await this.sleep(this.latencyMs);
    if (!this.writable(res)) return false;
    return this.sendJson(res, call, 200, body);
  }

  private sendStatusFault(
    res: ServerResponse,
    call: RecordedCall,
    fault: Extract<Fault, { kind: 'status' }>,
    model: string,
  ): void {
    const headers: OutgoingHttpHeaders = {};
    if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
    if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
    if (this.personality === 'openai' && fault.status === 429) {
      headers['x-ratelimit-remaining-requests'] = '0';
      headers['x-ratelimit-remaining-tokens'] = '0';
    }
    let body: JsonObject;
    if (this.personality === 'openai') {
      const hint =
        fault.retryAfterMs !== undefined
          ? `${fault.retryAfterMs}ms`
          : fault.retryAfterSeconds !== undefined
            ? `${fault.retryAfterSeconds}s`
            : '1s';
      body = nestedErrorBody(openaiError(fault.status, model, hint));
    } else {
      body = errorBody(this.personality, fault.status, model);
    }
    this.sendJson(res, call, fault.status, body, headers);
  }

  private sendUnknownModel(res: ServerResponse, call: RecordedCall, model: string): void {
    switch (this.personality) {
      case 'deepseek':
        this.sendJson(res, call, 400, errorBody('deepseek', 400, model, 'Model Not Exist'));
        return;
      case 'openai':
        this.sendJson(res, call, 404, errorBody('openai', 404, model));
        return;
      case 'vllm':
        this.sendJson(res, call, 404, vllmErrorBody(404, `The model \`${model}\` does not exist.`));
        return;
    }
  }

  private badJsonBody(detail: string): JsonObject {
    switch (this.personality) {
      case 'deepseek':
        return errorBody('deepseek', 400, '', `Failed to parse the request body as JSON: ${detail}`);
      case 'openai':
        return errorBody(
          'openai',
          400,
          '',
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        );
      case 'vllm':
        return {
          error: { message: `JSON decode error: ${detail}`, type: 'Bad Request', param: null, code: 400 },
        };
    }
  }

  private badRequestBody(detail: string): JsonObject {
    switch (this.personality) {
      case 'deepseek':
        return errorBody(
          'deepseek',
          400,
          '',
          `Failed to deserialize the JSON body into the target type: ${detail}`,
        );
      case 'openai':
        return errorBody('openai', 400, '', detail);
      case 'vllm':
        return { error: { message: detail, type: 'Bad Request', param: null, code: 400 } };
    }
  }

  private async sendMalformed(res: ServerResponse, call: RecordedCall, stream: boolean): Promise<void> {
    await this.sleep(this.latencyMs);
    if (!this.writable(res)) return;
    if (stream) {
      this.writeHead(res, call, 200, { 'content-type': 'text/event-stream; charset=utf-8' });
      res.end('data: {"id":"broken","object":"chat.completion.chunk","choices":[{"index":0,\n\n');
    } else {
      const text =
        '{"id":"broken","object":"chat.completion","choices":[{"index":0,"message":{"role":"assist';
      this.writeHead(res, call, 200, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
      });
      res.end(text);
    }
  }

  /** A 401 quoting the Authorization header it received, in the personality's error shape. */
  private authEchoBody(authorization: string | undefined): JsonObject {
    const quoted =
      authorization === undefined ? '(no Authorization header)' : `Authorization: ${authorization}`;
    switch (this.personality) {
      case 'deepseek':
        return nestedErrorBody({
          message: `Authentication Fails, the header "${quoted}" is invalid`,
          type: 'authentication_error',
          code: 'invalid_request_error',
        });
      case 'openai':
        return nestedErrorBody({
          message: `Incorrect API key provided in "${quoted}". You can find your API key at https://platform.openai.com/account/api-keys.`,
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        });
      case 'vllm':
        // A proxy in front of vLLM that explains its bare 401.
        return { error: `Unauthorized: "${quoted}" does not match --api-key` };
    }
  }

  private sendText(res: ServerResponse, call: RecordedCall, contentType: string, text: string): void {
    const ok = this.writeHead(res, call, 200, {
      'content-type': contentType,
      'content-length': String(Buffer.byteLength(text)),
    });
    if (ok) res.end(text);
  }

  private sendHtml(res: ServerResponse, call: RecordedCall): void {
    this.sendText(
      res,
      call,
      'text/html; charset=utf-8',
      '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Just a moment...</title></head>' +
        '<body><h1>Checking your browser before accessing the API.</h1>' +
        '<p>This process is automatic. Your browser will redirect to your requested content shortly.</p>' +
        '</body></html>\n',
    );
  }

  private sseHeaders(): OutgoingHttpHeaders {
    return {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    };
  }

  /** Sends the SSE events as one body and [DONE] (no delays: the faults that use it are about content). */
  private sendEvents(res: ServerResponse, call: RecordedCall, events: JsonObject[]): void {
    if (!this.writeHead(res, call, 200, this.sseHeaders())) return;
    for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
    res.end('data: [DONE]\n\n');
  }

  private sendEmptyChoices(
    res: ServerResponse,
    call: RecordedCall,
    body: FakeChatRequest,
    answer: Answer,
  ): void {
    if (body.stream !== true) {
      this.sendJson(res, call, 200, { ...this.completionBody(body, answer), choices: [] });
      return;
    }
    // Every chunk keeps its id and usage fields but carries no choice.
    const events = this.streamEvents(body, answer).map((e) => ({ ...e, choices: [] }));
    this.sendEvents(res, call, events);
  }

  private sendNoContent(
    res: ServerResponse,
    call: RecordedCall,
    body: FakeChatRequest,
    answer: Answer,
  ): void {
    if (body.stream === true) {
      this.sendEvents(res, call, this.streamEvents(body, answer).slice(0, 1));
      return;
    }
    const completion = this.completionBody(body, answer);
    const choices = completion.choices as JsonObject[];
    const first = choices[0];
    const message = { ...(first.message as JsonObject), content: null };
    this.sendJson(res, call, 200, {
      ...completion,
      choices: [{ ...first, message, finish_reason: null }],
    });
  }

  /** 200 and the headers, flushed, then silence: the socket stays open until a side closes it. */
  private stallAfterHeaders(res: ServerResponse, call: RecordedCall, stream: boolean): void {
    const headers: OutgoingHttpHeaders = stream ? this.sseHeaders() : { 'content-type': 'application/json' };
    if (this.writeHead(res, call, 200, headers)) res.flushHeaders();
  }

  /** The first `afterChunks` events of a normal stream, then silence (no [DONE], no end). */
  private async stallStream(
    res: ServerResponse,
    call: RecordedCall,
    body: FakeChatRequest,
    answer: Answer,
    afterChunks: number,
  ): Promise<void> {
    await this.sleep(this.latencyMs);
    if (!this.writable(res) || !this.writeHead(res, call, 200, this.sseHeaders())) return;
    res.flushHeaders();
    const events = this.streamEvents(body, answer).slice(0, Math.max(0, afterChunks));
    for (const [i, event] of events.entries()) {
      if (i > 0) await this.sleep(this.chunkDelayMs);
      if (!this.writable(res)) return;
      res.write(`data: ${JSON.stringify(event)}\n\n`);
    }
  }

  private async sendStream(
    res: ServerResponse,
    call: RecordedCall,
    body: FakeChatRequest,
    answer: Answer,
    errorAfterChunks: number | null,
  ): Promise<void> {
    const sseHeaders = this.sseHeaders();
    if (this.personality === 'deepseek' && this.latencyMs > 0) {
      if (!this.writeHead(res, call, 200, sseHeaders)) return;
      res.write(': keep-alive\n\n');
      await this.sleep(this.latencyMs);
    } else {
      await this.sleep(this.latencyMs);
      if (!this.writeHead(res, call, 200, sseHeaders)) return;
    }
    if (!this.writable(res)) return;

    const events = this.streamEvents(body, answer);
    const limit =
      errorAfterChunks === null ? events.length : Math.max(0, Math.min(errorAfterChunks, events.length));
    for (let i = 0; i < limit; i++) {
      if (i > 0) await this.sleep(this.chunkDelayMs);
      if (!this.writable(res)) return;
      res.write(`data: ${JSON.stringify(events[i])}\n\n`);
    }
    if (limit > 0) await this.sleep(this.chunkDelayMs);
    if (!this.writable(res)) return;
    if (errorAfterChunks !== null) {
      res.end(`data: ${JSON.stringify(errorBody(this.personality, 500, body.model))}\n\n`);
      return;
    }
    res.end('data: [DONE]\n\n');
    this.finishOk(answer);
  }

  private writable(res: ServerResponse): boolean {
    return !this.closing && !res.destroyed && !res.writableEnded;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const sleeper: Sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve();
        }, ms),
        resolve,
      };
      this.sleepers.add(sleeper);
    });
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function drain(req: IncomingMessage): Promise<void> {
  try {
    await readBody(req);
  } catch {
    // ignore: the client went away
  }
}

/** Returns an error message when the parsed body is not a usable chat request, else null. */
function validateChatRequest(parsed: unknown): string | null {
  if (!isRecord(parsed)) return 'request body must be a JSON object';
  if (typeof parsed.model !== 'string') return 'missing field `model`';
  if (!Array.isArray(parsed.messages)) return 'missing field `messages`';
  for (const [i, m] of parsed.messages.entries()) {
    if (!isRecord(m) || typeof m.role !== 'string') return `messages[${i}]: missing field \`role\``;
  }
  return null;
}

export async function startFakeLlm(options: FakeLlmOptions): Promise<FakeLlm> {
  const server = new FakeLlmServer(options);
  await server.listen();
  return server;
}

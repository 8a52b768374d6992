import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { Clock } from '../../common/clock.js';
import { DomainError, ProviderUnavailableError } from '../../common/errors.js';
import { AGENT_TYPE_PATTERN, SYMBOL_PATTERN } from '../../common/validation.js';
import { BudgetService, type Reservation } from '../../cost-monitoring/budget.service.js';
import { CostLedger } from '../../cost-monitoring/cost-ledger.js';
import { Coalescer } from '../coalescer.js';
import { estimateTokens } from '../gateway.service.js';
import { PriceBook } from '../pricing.js';
import { ProviderRegistry, type ResolvedModel } from '../providers/provider-registry.js';
import { UpstreamCaller } from '../providers/upstream-caller.js';
import { StreamUsageTracker, readUsage, type TokenUsage } from '../providers/usage.js';
import { requestHash, ResponseCache, type CachedAnswer } from '../response-cache.js';
import { StreamHub } from './stream-hub.js';

type Body = Record<string, unknown>;

export interface DoorOptions {
  scope: string;
  agent: string;
  symbol: string | undefined;
  cacheMode: 'default' | 'no-cache' | 'no-store';
  ttlSeconds: number | undefined;
}

export interface DoorAnswer {
  completion: ChatCompletion;
  cache: 'HIT' | 'MISS' | 'COALESCED' | 'BYPASS';
  costUsd: number | null;
  overheadMs: number;
}

interface Settled {
  completion: ChatCompletion;
  costUsd: number | null;
  upstreamMs: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (message: string, param?: string): DomainError =>
  new DomainError('invalid_request_error', message, 400, param ? { param } : {});

/** Reads the attribution and cache-control headers of the door (DESIGN 4.1). */
export function doorOptions(
  headers: Record<string, string | string[] | undefined>,
  scope: string,
): DoorOptions {
  const one = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const agent = one('x-agent-type') ?? 'openai_compat';
  if (!AGENT_TYPE_PATTERN.test(agent)) throw bad('X-Agent-Type must be lower_snake_case (a-z, 0-9, _)');
  const symbol = one('x-symbol');
  if (symbol !== undefined && !SYMBOL_PATTERN.test(symbol))
    throw bad('X-Symbol must look like BTC, BTCUSDT or BTC/USDT');
  const cache = one('x-cache');
  if (cache !== undefined && cache !== 'no-cache' && cache !== 'no-store')
    throw bad('X-Cache must be no-cache or no-store');
  const ttlRaw = one('x-cache-ttl');
  const ttl = ttlRaw === undefined ? undefined : Number(ttlRaw);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 86_400)) {
    throw bad('X-Cache-TTL must be an integer number of seconds between 1 and 604800');
  }
  return { scope, agent, symbol: symbol?.toUpperCase(), cacheMode: cache ?? 'default', ttlSeconds: ttl };
}

/** Minimal checks; everything else passes through to the upstream untouched. */
export function validateChatBody(body: unknown): Body {
  if (!isRecord(body)) throw bad('The body must be a JSON object');
  if (typeof body.model !== 'string' || body.model.length === 0) throw bad('model is required', 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad('messages must be a non-empty array', 'messages');
  body.messages.forEach((m: unknown, i: number) => {
    if (!isRecord(m) || typeof m.role !== 'string')
      throw bad(`messages[${i}] must be an object with a role`, 'messages');
  });
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    throw bad('stream must be a boolean', 'stream');
  for (const f of ['max_tokens', 'max_completion_tokens']) {
    const v = body[f];
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) {
      throw bad(`${f} must be a positive integer`, f);
    }
  }
  return body;
}

/** The assembled answer of a stream, as the non-streaming completion it would have been. */
function assemble(chunks: ChatCompletionChunk[], usage: unknown, model: string): ChatCompletion {
  let content = '';
  let finish: string | null = null;
  let role = 'assistant';
  const toolCalls: Record<
    number,
    { id?: string; type: 'function'; function: { name: string; arguments: string } }
  > = {};
  for (const chunk of chunks) {
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    if (choice.delta?.role) role = choice.delta.role;
    if (choice.delta?.content) content += choice.delta.content;
    for (const tc of choice.delta?.tool_calls ?? []) {
      const slot = (toolCalls[tc.index] ??= { type: 'function', function: { name: '', arguments: '' } });
      if (tc.id) slot.id = tc.id;
      if (tc.function?.name) slot.function.name += tc.function.name;
      if (tc.function?.arguments) slot.function.arguments += tc.function.arguments;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  const first = chunks[0];
  const calls = Object.values(toolCalls);
  return {
    id: first?.id ?? `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: first?.created ?? Math.floor(Date.now() / 1000),
    model: first?.model ?? model,
    choices: [
      {
        index: 0,
        message: {
          role,
          content,
          refusal: null,
          ...(calls.length ? { tool_calls: calls } : {}),
        } as ChatCompletion['choices'][0]['message'],
        logprobs: null,
        finish_reason: (finish ?? 'stop') as ChatCompletion['choices'][0]['finish_reason'],
      },
    ],
    ...(isRecord(usage) ? { usage: usage as unknown as ChatCompletion['usage'] } : {}),
  };
}

/** Replays a cached completion as a well-formed chunk sequence. */
export function replayChunks(completion: ChatCompletion, includeUsage: boolean): Record<string, unknown>[] {
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  const message = completion.choices[0]?.message;
  const content = message?.content ?? '';
  const chunks: Record<string, unknown>[] = [
    {
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
    },
  ];
  for (let i = 0; i < content.length; i += 24) {
    chunks.push({
      ...base,
      choices: [
        { index: 0, delta: { content: content.slice(i, i + 24) }, logprobs: null, finish_reason: null },
      ],
    });
  }
  if (message?.tool_calls?.length) {
    chunks.push({
      ...base,
      choices: [
        {
          index: 0,
          delta: { tool_calls: message.tool_calls.map((tc, index) => ({ index, ...tc })) },
          logprobs: null,
          finish_reason: null,
        },
      ],
    });
  }
  chunks.push({
    ...base,
    choices: [
      { index: 0, delta: {}, logprobs: null, finish_reason: completion.choices[0]?.finish_reason ?? 'stop' },
    ],
  });
  if (includeUsage && completion.usage) chunks.push({ ...base, choices: [], usage: completion.usage });
  return chunks;
}

/**
 * The OpenAI-compatible door: the same cache, coalescing, budgets and exact cost as /ai/call for any
 * OpenAI SDK. Streams are forwarded chunk by chunk; Bastion always asks the upstream for usage and strips
 * it again for clients that did not ask, so streamed calls are never recorded at $0.
 */
@Injectable()
export class OpenAiCompatService {
  private readonly logger = new Logger(OpenAiCompatService.name);
  private readonly hubs = new Map<string, { hub: StreamHub; ready: Promise<void> }>();

  constructor(
    private readonly registry: ProviderRegistry,
    private readonly upstream: UpstreamCaller,
    private readonly prices: PriceBook,
    private readonly cache: ResponseCache,
    private readonly coalescer: Coalescer,
    private readonly budgets: BudgetService,
    private readonly ledger: CostLedger,
    private readonly clock: Clock,
  ) {}

  models() {
    return {
      object: 'list',
      data: this.registry
        .knownModels()
        .map((m) => ({ id: m.name, object: 'model', created: 0, owned_by: m.provider })),
    };
  }

  private prepare(body: Body, opts: DoorOptions) {
    const chain = this.registry.chain(body.model as string);
    const primary = chain[0];
    // stream/stream_options do not change the answer: streamed and plain requests share one cache entry.
    const { stream: _s, stream_options: _o, model: _m, ...params } = body;
    const hash = requestHash({
      scope: opts.scope,
      provider: primary.provider,
      base_url: primary.baseUrl,
      model: primary.upstreamModel,
      params,
    });
    const key = this.cache.key(opts.agent, opts.symbol, 'openai_compat', hash);
    return { chain, primary, params, key };
  }

  async complete(body: Body, opts: DoorOptions): Promise<DoorAnswer> {
    const started = performance.now();
    const now = this.clock.now();
    const { chain, params, key } = this.prepare(body, opts);
    const read = opts.cacheMode === 'default';
    if (read) {
      const hit = await this.cache.lookup(key);
      if (hit?.completion) {
        this.record(opts, now, 'response_cache', true, hit.cost_usd, null);
        return {
          completion: hit.completion as ChatCompletion,
          cache: 'HIT',
          costUsd: 0,
          overheadMs: Math.round(performance.now() - started),
        };
      }
    }
    const { value, leader } = await this.coalescer.run(`door:${key}`, () =>
      this.callOnce(chain, params, opts, key, now, read),
    );
    if (!leader) {
      this.record(opts, now, 'coalesced', read ? false : null, value.costUsd, null);
      return {
        completion: value.completion,
        cache: 'COALESCED',
        costUsd: 0,
        overheadMs: Math.round(performance.now() - started),
      };
    }
    const total = Math.round(performance.now() - started);
    return {
      completion: value.completion,
      cache: opts.cacheMode === 'no-store' ? 'BYPASS' : 'MISS',
      costUsd: value.costUsd,
      overheadMs: Math.max(0, total - value.upstreamMs),
    };
  }

  private async callOnce(
    chain: ResolvedModel[],
    params: Body,
    opts: DoorOptions,
    key: string,
    now: number,
    read: boolean,
  ): Promise<Settled> {
    const reservation = await this.reserve(chain[0], params, opts.agent, now);
    let answer;
    try {
      answer = await this.wrapAsync(() => this.upstream.completeRaw(chain, params as never));
    } catch (err) {
      await this.budgets.release(reservation);
      throw err;
    }
    const costUsd = await this.settle(
      answer.model,
      answer.completion.usage,
      reservation,
      opts,
      now,
      read,
      answer.latencyMs,
    );
    if (opts.cacheMode !== 'no-store')
      await this.store(key, answer.completion, answer.model, costUsd, now, opts.ttlSeconds);
    return { completion: answer.completion, costUsd, upstreamMs: answer.latencyMs };
  }

  /** Streams into `res`. Throws (before anything is written) when the call cannot start. */
  async stream(body: Body, opts: DoorOptions, res: ServerResponse, includeUsage: boolean): Promise<void> {
    const started = performance.now();
    const now = this.clock.now();
    const { chain, params, key } = this.prepare(body, opts);
    const read = opts.cacheMode === 'default';
    if (read) {
      const hit = await this.cache.lookup(key);
      if (hit?.completion) {
        this.record(opts, now, 'response_cache', true, hit.cost_usd, null);
        this.openSse(res, 'HIT', started);
        for (const chunk of replayChunks(hit.completion as ChatCompletion, includeUsage))
          res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        res.end(': bastion-cost-usd 0\n\ndata: [DONE]\n\n');
        return;
      }
    }
    const hubKey = `stream:${key}`;
    let entry = this.hubs.get(hubKey);
    const leader = entry === undefined;
    if (!entry) {
      const abort = new AbortController();
      const hub = new StreamHub(() => abort.abort());
      // The hub stays joinable until the upstream stream ends (or fails to open), not merely until it opens.
      const forget = (): void => {
        if (this.hubs.get(hubKey)?.hub === hub) this.hubs.delete(hubKey);
      };
      const ready = this.runUpstreamStream(hub, abort, chain, params, opts, key, now, read, forget);
      ready.catch(forget);
      entry = { hub, ready };
      this.hubs.set(hubKey, entry);
    }
    await entry.ready; // throws for every subscriber when the upstream refused or the budget did
    if (!leader) this.record(opts, now, 'coalesced', read ? false : null, null, null);
    this.openSse(res, leader ? (opts.cacheMode === 'no-store' ? 'BYPASS' : 'MISS') : 'COALESCED', started);
    await new Promise<void>((resolve) => {
      const unsubscribe = entry.hub.subscribe({
        write: (chunk) => {
          if ('__bastion_cost' in chunk) {
            res.write(
              `: bastion-cost-usd ${typeof chunk.__bastion_cost === 'number' ? chunk.__bastion_cost : 'unknown'}\n\n`,
            );
            return;
          }
          const out = includeUsage ? chunk : stripUsage(chunk);
          if (out) res.write(`data: ${JSON.stringify(out)}\n\n`);
        },
        end: () => {
          res.end('data: [DONE]\n\n');
          resolve();
        },
      });
      res.on('close', () => {
        unsubscribe();
        resolve();
      });
    });
  }

  /** Opens the upstream stream (resolves once it is accepted), then pumps it into the hub in the background. */
  private async runUpstreamStream(
    hub: StreamHub,
    abort: AbortController,
    chain: ResolvedModel[],
    params: Body,
    opts: DoorOptions,
    key: string,
    now: number,
    read: boolean,
    onDone: () => void,
  ): Promise<void> {
    const reservation = await this.reserve(chain[0], params, opts.agent, now);
    let opened;
    try {
      opened = await this.wrapAsync(() =>
        this.upstream.openStream(
          chain,
          { ...params, stream: true, stream_options: { include_usage: true } } as never,
          abort.signal,
        ),
      );
    } catch (err) {
      await this.budgets.release(reservation);
      throw err;
    }
    const upstreamStart = performance.now();
    void (async () => {
      const chunks: ChatCompletionChunk[] = [];
      const usage = new StreamUsageTracker();
      let failed: string | null = null;
      try {
        for await (const chunk of opened.stream) {
          chunks.push(chunk);
          usage.observe(chunk);
          hub.publish(chunk as unknown as Record<string, unknown>);
        }
      } catch (err) {
        failed = abort.signal.aborted ? 'client disconnected' : (err as Error).message;
        if (!abort.signal.aborted) {
          hub.publish({
            error: {
              message: `Upstream stream failed: ${failed}`,
              type: 'server_error',
              param: null,
              code: 'upstream_error',
            },
          });
        }
      }
      const latency = Math.round(performance.now() - upstreamStart);
      const costUsd = await this.settle(opened.model, usage.raw, reservation, opts, now, read, latency);
      if (failed === null && opts.cacheMode !== 'no-store') {
        await this.store(
          key,
          assemble(chunks, usage.raw, opened.model.upstreamModel),
          opened.model,
          costUsd,
          now,
          opts.ttlSeconds,
        );
      } else if (failed !== null) {
        this.logger.warn(
          `Stream for ${opts.agent} ended early (${failed}); recorded usage: ${usage.raw === null ? 'none reported' : 'reported'}`,
        );
      }
      hub.publish({ __bastion_cost: costUsd });
      hub.finish();
      onDone();
    })();
  }

  private async reserve(
    primary: ResolvedModel,
    params: Body,
    agent: string,
    now: number,
  ): Promise<Reservation | null> {
    const maxTokens = Number(params.max_completion_tokens ?? params.max_tokens ?? 1024);
    const estimate = this.prices.estimate(
      this.prices.rates(primary.entry, primary.upstreamModel, new Date(now)),
      estimateTokens(params.messages as ChatCompletionMessageParam[]),
      maxTokens,
    );
    const outcome = await this.budgets.reserve(agent, estimate, now);
    if (!outcome.ok) {
      this.record({ agent, symbol: undefined }, now, 'budget_exceeded', null, null, null);
      throw new DomainError('budget_exceeded', outcome.message, 429);
    }
    return outcome.reservation;
  }

  private async settle(
    model: ResolvedModel,
    rawUsage: unknown,
    reservation: Reservation | null,
    opts: DoorOptions,
    now: number,
    read: boolean,
    latencyMs: number,
  ): Promise<number | null> {
    const usage: TokenUsage | null = readUsage(rawUsage);
    const priced = this.prices.price(
      this.prices.rates(model.entry, model.upstreamModel, new Date(now)),
      usage,
    );
    await this.budgets.settle(reservation, priced.costUsd);
    this.record(opts, now, 'called', read ? false : null, null, {
      model: model.entry.name,
      provider: model.provider,
      promptTokens: usage?.promptTokens ?? null,
      cachedPromptTokens: usage?.cachedPromptTokens ?? null,
      completionTokens: usage?.completionTokens ?? null,
      costUsd: priced.costUsd,
      uncachedCostUsd: priced.uncachedCostUsd,
      latencyMs,
    });
    return priced.costUsd;
  }

  private async store(
    key: string,
    completion: ChatCompletion,
    model: ResolvedModel,
    costUsd: number | null,
    now: number,
    ttl?: number,
  ) {
    const usage = readUsage(completion.usage);
    const answer: CachedAnswer = {
      response: completion.choices[0]?.message?.content ?? '',
      model: model.entry.name,
      provider: model.provider,
      prompt_tokens: usage?.promptTokens ?? null,
      cached_prompt_tokens: usage?.cachedPromptTokens ?? null,
      completion_tokens: usage?.completionTokens ?? null,
      cost_usd: costUsd,
      created_at: now,
      completion,
    };
    await this.cache.store(key, answer, this.cache.ttlFor('openai_compat', ttl));
  }

  private record(
    opts: Pick<DoorOptions, 'agent' | 'symbol'>,
    now: number,
    reason: 'called' | 'response_cache' | 'coalesced' | 'budget_exceeded',
    cacheHit: boolean | null,
    savedUsd: number | null,
    call: Parameters<CostLedger['record']>[0]['call'],
  ): void {
    this.ledger.record({
      requestId: randomUUID(),
      at: now,
      agent: opts.agent,
      symbol: opts.symbol,
      reason,
      cacheHit,
      savedUsd,
      savedLayer:
        reason === 'response_cache' ? 'response_cache' : reason === 'coalesced' ? 'coalescing' : null,
      call,
    });
  }

  private openSse(res: ServerResponse, cache: string, started: number): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-bastion-cache': cache,
      'x-bastion-overhead-ms': String(Math.round(performance.now() - started)),
    });
    res.flushHeaders();
  }

  /** Upstream client errors (4xx other than 429) keep their status, as an OpenAI client expects. */
  private async wrapAsync<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ProviderUnavailableError) {
        const status = err.details.upstream_status;
        if (typeof status === 'number' && status >= 400 && status < 500 && status !== 429) {
          throw new DomainError('upstream_error', err.message, status);
        }
      }
      throw err;
    }
  }
}

/** A chunk for a client that did not ask for usage: usage removed, a usage-only chunk dropped. */
function stripUsage(chunk: Record<string, unknown>): Record<string, unknown> | null {
  if (chunk.usage === undefined || chunk.usage === null) return chunk;
  if (Array.isArray(chunk.choices) && chunk.choices.length === 0) return null;
  return { ...chunk, usage: null };
}

/**
 * Hand-written stand-ins for the collaborators of the metered-call pipeline's stages, for unit tests that
 * run without Redis or HTTP. Each fake records what the stage asked of it, so a test can check the effect a
 * user would notice (what was cached, settled, recorded) rather than which method was called.
 */
import { Scrubber } from '../../src/common/secrets.js';
import type {
  RateDecision,
  RateLimitRepository,
} from '../../src/redis/repositories/rate-limit.repository.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import { loadAppConfig, type AppConfig } from '../../src/config/app-config.js';
import type { AgentEntry, AgentsConfig, ModelEntry, ModelsConfig } from '../../src/config/yaml-config.js';
import type { CostLedger } from '../../src/cost-monitoring/cost-ledger.js';
import type { LedgerEntry } from '../../src/cost-monitoring/ledger-entry.js';
import type { MeteredCall } from '../../src/ai-optimization/pipeline/metered-call.js';
import { PriceBook, type PriceLookup, type Rates } from '../../src/ai-optimization/pricing.js';
import {
  ProviderRegistry,
  type ResolvedModel,
} from '../../src/ai-optimization/providers/provider-registry.js';
import {
  type OpenStream,
  UpstreamCaller,
  type UpstreamAnswer,
} from '../../src/ai-optimization/providers/upstream-caller.js';
import type { BudgetRepository, Settlement } from '../../src/redis/repositories/budget.repository.js';
import type {
  ConversationRef,
  ConversationRepository,
  PostcallWrite,
  PrecallPlan,
  PrecallResult,
} from '../../src/redis/repositories/conversation.repository.js';
import type { SettingsRepository, StoredSettings } from '../../src/redis/repositories/settings.repository.js';
import { DEEPSEEK_TEST_KEY, OPENAI_TEST_KEY } from './fake-env.js';

/** Noon UTC, off DeepSeek's peak hours. */
export const NOON = Date.parse('2026-11-22T12:00:00Z');

/** A closed local port: nothing here ever reaches it, and if it did it would be refused at once. */
export const NOWHERE = 'http://127.0.0.1:9';

export function appConfig(env: Record<string, string> = {}): AppConfig {
  return loadAppConfig({
    NODE_ENV: 'test',
    DEEPSEEK_API_KEY: DEEPSEEK_TEST_KEY,
    DEEPSEEK_BASE_URL: NOWHERE,
    OPENAI_API_KEY: OPENAI_TEST_KEY,
    OPENAI_BASE_URL: `${NOWHERE}/v1`,
    ...env,
  });
}

type ModelSpec = Partial<Omit<ModelEntry, 'name'>> & Pick<ModelEntry, 'provider'>;

export function modelsConfig(
  models: Record<string, ModelSpec>,
  ttlSeconds: Record<string, number> = {},
  defaultTtlSeconds = 300,
): ModelsConfig {
  return {
    timeoutMs: 1000,
    retryBudgetMs: 2000,
    maxAttempts: 1,
    models: new Map(
      Object.entries(models).map(([name, m]) => [
        name,
        { name, upstreamModel: undefined, price: undefined, fallbacks: [], ...m },
      ]),
    ),
    defaultTtlSeconds,
    ttlSeconds,
  };
}

/** The models the stage tests use: DeepSeek with an OpenAI fallback, an alias, a self-hosted model. */
export const MODELS = modelsConfig(
  {
    'deepseek-v4-flash': { provider: 'deepseek', fallbacks: ['gpt-4o-mini'] },
    'deepseek-v4-pro': { provider: 'deepseek' },
    'flash-alias': { provider: 'deepseek', upstreamModel: 'deepseek-v4-flash' },
    'gpt-4o-mini': { provider: 'openai' },
    'bastion-model': { provider: 'vllm' },
  },
  { market_analysis: 300, signal_validation: 60 },
  120,
);

export function agentsConfig(agents: Record<string, Partial<AgentEntry>> = {}): AgentsConfig {
  return {
    path: 'agents.test.yaml',
    agents: new Map(
      Object.entries(agents).map(([name, a]) => [
        name,
        { enableAi: true, model: undefined, samplingStrategy: 'ALWAYS', samplingConfig: {}, ...a },
      ]),
    ),
    settingsBlocks: {},
  };
}

/** DeepSeek-like list prices (USD per million tokens): cache hits at a tenth of the input rate. */
export const RATES: Rates = {
  inputMtok: 0.28,
  cacheReadMtok: 0.028,
  outputMtok: 0.42,
  source: 'genai-prices',
};

/** A price book whose lookup answers `rates` for every model and remembers what it was asked. */
export function fixedPrices(rates: Rates | null = RATES): {
  prices: PriceBook;
  asked: { model: string; provider: string; at: Date }[];
} {
  const asked: { model: string; provider: string; at: Date }[] = [];
  const lookup: PriceLookup = (model, provider, at) => {
    asked.push({ model, provider, at });
    return rates;
  };
  return { prices: new PriceBook(lookup), asked };
}

/** The real registry over the test models, DeepSeek and OpenAI configured (nothing is ever sent). */
export function registry(env: Record<string, string> = {}, models: ModelsConfig = MODELS): ProviderRegistry {
  return new ProviderRegistry(appConfig(env), models);
}

/** The model chain the registry resolves for `name` (the model, then its fallbacks). */
export const chainOf = (name: string): ResolvedModel[] => registry().chain(name);

/** An /ai/call-shaped metered call; `over` replaces any part of it. */
export function meteredCall(over: Partial<MeteredCall> = {}): MeteredCall {
  return {
    tenant: 'default',
    key: null,
    agent: 'market_regime',
    symbol: 'BTC/USDT',
    responseType: 'market_analysis',
    model: 'deepseek-v4-flash',
    body: { messages: [{ role: 'user', content: 'Is BTC trending?' }], max_tokens: 500, temperature: 0.2 },
    maxTokens: 500,
    cache: { read: true, write: true, ttlSeconds: undefined, keepCompletion: false },
    sampling: null,
    intervalSeconds: null,
    critical: false,
    stream: false,
    ...over,
  };
}

export function completion(
  content: string,
  usage: Record<string, unknown> | null = { prompt_tokens: 1000, completion_tokens: 200 },
  model = 'deepseek-v4-flash',
): ChatCompletion {
  return {
    id: 'chatcmpl-test-1',
    object: 'chat.completion',
    created: 1_795_000_000,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    ...(usage ? { usage: usage as unknown as ChatCompletion['usage'] } : {}),
  };
}

// --- repositories ------------------------------------------------------------------------------------
// The repositories are concrete classes holding a RedisService; a fake implements the part a stage uses and
// stands in for the class through one cast (`asRepository`), so the compiler still checks every signature.

export class FakeSettings implements Pick<SettingsRepository, 'snapshot' | 'reload'> {
  reloads = 0;
  /** What the next reloads read, in order (then the current copy stays). */
  readonly upcoming: StoredSettings[] = [];

  constructor(
    public current: StoredSettings = { version: '1', sampling: {}, eventThresholds: null, budgets: null },
  ) {}

  get snapshot(): StoredSettings {
    return this.current;
  }

  reload(): Promise<StoredSettings> {
    this.reloads++;
    this.current = this.upcoming.shift() ?? this.current;
    return Promise.resolve(this.current);
  }

  asRepository(): SettingsRepository {
    return this as unknown as SettingsRepository;
  }
}

type ConversationPart = 'cacheKey' | 'precall' | 'postcall' | 'unclaim' | 'lastAnswer' | 'rememberAnswer';

export class FakeConversations implements Pick<ConversationRepository, ConversationPart> {
  readonly plans: PrecallPlan[] = [];
  readonly writes: PostcallWrite[] = [];
  /** Answers of the next pre-call steps, in order; then `go`. */
  readonly answers: PrecallResult[] = [];
  readonly lastAnswers = new Map<string, string>();
  /** The claims taken back, as conversation and request time. */
  readonly unclaims: { conversation: ConversationRef; now: number }[] = [];

  unclaim(conversation: ConversationRef, now: number): void {
    this.unclaims.push({ conversation, now });
  }

  cacheKey(c: ConversationRef, responseType: string, hash: string): string {
    return `cache:${c.tenant}:${c.agent}:${c.symbol}:${responseType}:${hash}`;
  }

  precall(plan: PrecallPlan): Promise<PrecallResult> {
    this.plans.push(plan);
    return Promise.resolve(
      this.answers.shift() ?? { kind: 'go', last: null, change: null, reserved: plan.reservation !== null },
    );
  }

  postcall(write: PostcallWrite): Promise<void> {
    this.writes.push(write);
    return Promise.resolve();
  }

  lastAnswer(c: ConversationRef): Promise<string | null> {
    return Promise.resolve(this.lastAnswers.get(`${c.tenant}:${c.agent}:${c.symbol}`) ?? null);
  }

  rememberAnswer(c: ConversationRef, value: string, ttlSeconds: number): Promise<void> {
    return this.postcall({ conversation: c, cache: null, lastAnswer: { value, ttlSeconds } });
  }

  asRepository(): ConversationRepository {
    return this as unknown as ConversationRepository;
  }
}

export class FakeBudgetCounters implements Pick<BudgetRepository, 'counter' | 'settle' | 'spent'> {
  readonly settles: Settlement[] = [];

  counter(period: string, scope: string): string {
    return `spend:${period}:${scope}`;
  }

  /** Makes settle throw, as a bug would. */
  failSettle = false;

  settle(s: Settlement): void {
    if (this.failSettle) throw new Error('the budget counters broke');
    this.settles.push(s);
  }

  spent(keys: string[]): Promise<bigint[]> {
    return Promise.resolve(keys.map(() => 0n));
  }

  asRepository(): BudgetRepository {
    return this as unknown as BudgetRepository;
  }
}

export class FakeLedger implements Pick<CostLedger, 'record' | 'averageCallCost'> {
  readonly entries: LedgerEntry[] = [];
  /** What the ledger answers as an agent's average priced call. */
  average: number | null = null;
  /** Makes record throw, as a bug would. */
  failRecord = false;

  record(entry: LedgerEntry): void {
    if (this.failRecord) throw new Error('the ledger broke');
    this.entries.push(entry);
  }

  averageCallCost(_agent: string): Promise<number | null> {
    return Promise.resolve(this.average);
  }

  asLedger(): CostLedger {
    return this as unknown as CostLedger;
  }
}

// --- upstream ----------------------------------------------------------------------------------------

/**
 * Chunks a test pushes into a stream while the pipeline reads it. Aborting fails the stream, as the OpenAI
 * SDK does (it throws an abort error from the iterator).
 */
export class ChunkFeed implements AsyncIterable<ChatCompletionChunk> {
  private readonly queue: (ChatCompletionChunk | Error | null)[] = [];
  private wake: (() => void) | null = null;
  aborted = false;
  /** When the last chunk (or the end) was fed: what the idle watchdog measures. */
  lastActivity = performance.now();

  constructor(abort?: AbortSignal) {
    abort?.addEventListener('abort', () => {
      this.aborted = true;
      this.fail(new Error('Request was aborted.'));
    });
  }

  push(chunk: ChatCompletionChunk): void {
    this.lastActivity = performance.now();
    this.queue.push(chunk);
    this.wake?.();
  }

  end(): void {
    this.queue.push(null);
    this.wake?.();
  }

  fail(err: Error): void {
    this.queue.push(err);
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ChatCompletionChunk> {
    for (;;) {
      if (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
      const next = this.queue.shift();
      if (next === null || next === undefined) return;
      if (next instanceof Error) throw next;
      yield next;
    }
  }
}

type CompleteBody = Omit<ChatCompletionCreateParamsNonStreaming, 'model'>;
type StreamBody = Omit<ChatCompletionCreateParamsStreaming, 'model'>;

/**
 * The upstream caller with the network replaced: it keeps every body it was asked to send and answers what
 * the test says (by default a completion at once).
 */
export class FakeUpstream extends UpstreamCaller {
  readonly completeBodies: CompleteBody[] = [];
  readonly streamBodies: StreamBody[] = [];
  readonly feeds: ChunkFeed[] = [];
  answer: (chain: ResolvedModel[], body: CompleteBody) => Promise<UpstreamAnswer> = (chain) =>
    Promise.resolve({ model: chain[0], completion: completion('An answer'), latencyMs: 40, attempts: 1 });
  /** Refuses to open a stream when set. */
  openError: Error | null = null;

  constructor(models: ModelsConfig = MODELS) {
    super(models, new Scrubber([]));
  }

  get calls(): number {
    return this.completeBodies.length + this.streamBodies.length;
  }

  override complete(chain: ResolvedModel[], body: CompleteBody): Promise<UpstreamAnswer> {
    this.completeBodies.push(body);
    return this.answer(chain, body);
  }

  override openStream(chain: ResolvedModel[], body: StreamBody, abort: AbortSignal): Promise<OpenStream> {
    this.streamBodies.push(body);
    if (this.openError) return Promise.reject(this.openError);
    const feed = new ChunkFeed(abort);
    this.feeds.push(feed);
    return Promise.resolve({
      model: chain[0],
      stream: feed,
      silentForMs: () => performance.now() - feed.lastActivity,
      close: () => undefined,
    });
  }
}

/** A promise a test resolves by hand, to hold an upstream call open while others arrive. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export function chunk(
  delta: ChatCompletionChunk['choices'][0]['delta'],
  finish: ChatCompletionChunk['choices'][0]['finish_reason'] = null,
  over: Partial<ChatCompletionChunk> = {},
): ChatCompletionChunk {
  return {
    id: 'chatcmpl-stream-1',
    object: 'chat.completion.chunk',
    created: 1_795_000_000,
    model: 'deepseek-v4-flash',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    ...over,
  };
}

/** The last chunk of a stream asked for its usage: no choices, the usage as the provider reports it. */
export function usageChunk(usage: Record<string, number>): ChatCompletionChunk {
  return { ...chunk({}), choices: [], usage: usage as unknown as ChatCompletionChunk['usage'] };
}

/** Rate limits as the RATE_LIMIT script would decide them: every request allowed unless told otherwise. */
export class FakeRateLimits implements Pick<RateLimitRepository, 'take'> {
  readonly taken: { keyId: string; tokens: number }[] = [];
  /** Answers of the next takes, in order; then allowed. */
  readonly answers: RateDecision[] = [];

  take(
    keyId: string,
    _now: number,
    rpm: number | null,
    tpm: number | null,
    tokens: number,
  ): Promise<RateDecision> {
    this.taken.push({ keyId, tokens });
    const state = (limit: number | null) =>
      limit === null ? null : { limit, remaining: limit - 1, resetMs: 0 };
    return Promise.resolve(
      this.answers.shift() ?? {
        allowed: true,
        refused: null,
        retryAfterMs: 0,
        requests: state(rpm),
        tokens: state(tpm),
      },
    );
  }

  asRepository(): RateLimitRepository {
    return this as unknown as RateLimitRepository;
  }
}

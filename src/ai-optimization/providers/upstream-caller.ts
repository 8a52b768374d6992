import { Inject, Injectable, Logger } from '@nestjs/common';
import { APIConnectionTimeoutError, APIError } from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import { MODELS_CONFIG } from '../../config/config.module.js';
import type { ModelsConfig } from '../../config/yaml-config.js';
import { ProviderUnavailableError } from '../../common/errors.js';
import { Scrubber } from '../../common/secrets.js';
import { TransportActivity } from './transport-activity.js';
import type { ResolvedModel } from './provider-registry.js';

/** An upstream stream that has been accepted: its chunks, and how long its bytes have been silent. */
export interface OpenStream {
  model: ResolvedModel;
  stream: AsyncIterable<ChatCompletionChunk>;
  /** Milliseconds since the last byte arrived (keep-alive comments count). */
  silentForMs: () => number;
  /** Stops watching (call when the stream ends). */
  close: () => void;
}

/** A completed upstream call: the model that answered (after fallbacks), its completion, how long it took. */
export interface UpstreamAnswer {
  model: ResolvedModel;
  completion: ChatCompletion;
  latencyMs: number;
  attempts: number;
}

export interface AttemptFailure {
  model: string;
  status: number | null;
  message: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds or milliseconds the upstream asked us to wait, from `retry-after-ms` or `retry-after`. */
export function retryAfterMs(headers: Headers | undefined, nowMs: number): number | null {
  const ms = headers?.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers?.get('retry-after');
  if (!ra) return null;
  if (/^\d+(\.\d+)?$/.test(ra.trim())) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}

const retryable = (status: number | null): boolean => status === null || status === 429 || status >= 500;

/**
 * Calls one model with a per-attempt deadline, retries 429/5xx/timeouts honouring Retry-After within the
 * total budget, then moves down the fallback chain. Written here rather than using the SDK's retries
 * because the SDK bounds each attempt but not the whole call.
 */
@Injectable()
export class UpstreamCaller {
  private readonly logger = new Logger(UpstreamCaller.name);

  constructor(
    @Inject(MODELS_CONFIG) private readonly models: ModelsConfig,
    private readonly scrubber: Scrubber,
    private readonly activity: TransportActivity = new TransportActivity(),
  ) {}

  /** A completion with every parameter of `body` passed through to the upstream. */
  async complete(
    chain: ResolvedModel[],
    body: Omit<ChatCompletionCreateParamsNonStreaming, 'model'>,
  ): Promise<UpstreamAnswer> {
    const { model, value, attempts, latencyMs } = await this.withFallbacks(chain, (m, signal) =>
      this.createCompletion(m, body, signal),
    );
    return { model, completion: value, latencyMs, attempts };
  }

  /**
   * Opens a streamed completion. Retries and fallbacks apply until the upstream accepts the request (its
   * HTTP status); once chunks flow, an error ends the stream. The deadline covers the wait for the
   * response headers only; `abort` ends the stream at any time (client gone).
   */
  async openStream(
    chain: ResolvedModel[],
    body: Omit<ChatCompletionCreateParamsStreaming, 'model'>,
    abort: AbortSignal,
  ): Promise<OpenStream> {
    const watch = this.activity.watch();
    try {
      const { model, value } = await this.withFallbacks(chain, async (m, deadline) => {
        // The attempt's deadline covers the wait for the headers; `abort` (client gone) the whole stream.
        const controller = new AbortController();
        const onAbort = (): void => controller.abort(abort.reason);
        const onDeadline = (): void => controller.abort(deadline.reason);
        abort.addEventListener('abort', onAbort, { once: true });
        deadline.addEventListener('abort', onDeadline, { once: true });
        try {
          return await m.client.chat.completions.create(
            { ...body, model: m.upstreamModel, stream: true },
            { signal: controller.signal, maxRetries: 0, timeout: 10 * 60_000, headers: watch.headers },
          );
        } catch (err) {
          if (controller.signal.reason instanceof DeadlineError) throw controller.signal.reason;
          throw err;
        } finally {
          deadline.removeEventListener('abort', onDeadline);
        }
      });
      return { model, stream: value, silentForMs: watch.silentForMs, close: watch.done };
    } catch (err) {
      watch.done();
      throw err;
    }
  }

  private async createCompletion(
    model: ResolvedModel,
    body: Omit<ChatCompletionCreateParamsNonStreaming, 'model'>,
    signal: AbortSignal,
  ): Promise<ChatCompletion> {
    const completion = await model.http.create(
      { ...body, model: model.upstreamModel, stream: false },
      signal,
    );
    const choice = Array.isArray(completion?.choices) ? completion.choices[0] : undefined;
    if (!choice || typeof choice.message !== 'object' || choice.message === null) {
      throw new MalformedAnswerError('the answer has no choices[0].message');
    }
    // An answer carries content, tool calls or at least a finish reason (an empty JSON-mode answer does).
    const m = choice.message;
    if (choice.finish_reason == null && !m.content && !(m.tool_calls?.length ?? 0)) {
      throw new MalformedAnswerError('the answer has neither content nor a finish reason');
    }
    return completion;
  }

  /** The longest a call down `chain` can take before it answers or fails (every model's retry budget). */
  worstCaseMs(chain: ResolvedModel[]): number {
    return chain.length * this.models.retryBudgetMs;
  }

  /** Runs `attempt` down the chain with per-attempt deadlines and retries on 429/5xx/timeouts. */
  private async withFallbacks<T>(
    chain: ResolvedModel[],
    /** `deadline` aborts, with a DeadlineError, when the attempt's time is up. */
    attempt: (model: ResolvedModel, deadline: AbortSignal) => Promise<T>,
  ): Promise<{ model: ResolvedModel; value: T; attempts: number; latencyMs: number }> {
    const failures: AttemptFailure[] = [];
    for (const model of chain) {
      const deadline = Date.now() + this.models.retryBudgetMs;
      for (let n = 1; n <= this.models.maxAttempts; n++) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        const attemptStart = Date.now();
        const attemptMs = Math.min(this.models.timeoutMs, remaining);
        // Our own deadline signal: we know for sure a failure was our timeout, whatever the fetch error says.
        // A timer cleared when the attempt ends (AbortSignal.timeout would keep one alive per call for the
        // whole deadline, thousands of them under load).
        const deadlineController = new AbortController();
        const deadlineSignal = deadlineController.signal;
        const timer = setTimeout(() => deadlineController.abort(new DeadlineError(attemptMs)), attemptMs);
        try {
          const value = await attempt(model, deadlineSignal);
          clearTimeout(timer);
          return { model, value, attempts: n, latencyMs: Date.now() - attemptStart };
        } catch (err) {
          clearTimeout(timer);
          const status = err instanceof APIError && typeof err.status === 'number' ? err.status : null;
          const timedOut = deadlineSignal.aborted || err instanceof DeadlineError;
          const message = timedOut
            ? `timed out after ${attemptMs} ms`
            : this.scrubber.scrub(describe(err, model));
          failures.push({ model: model.entry.name, status, message });
          this.logger.warn(`Upstream ${model.entry.name} attempt ${n} failed: ${status ?? ''} ${message}`);
          if (!retryable(status) || n === this.models.maxAttempts) break;
          const asked =
            err instanceof APIError ? retryAfterMs(err.headers as Headers | undefined, Date.now()) : null;
          const wait = asked ?? Math.min(250 * 2 ** (n - 1), 4000) * (0.5 + Math.random() / 2);
          if (Date.now() + wait >= deadline) break; // the wait would not fit in the budget: fall back now
          await sleep(wait);
        }
      }
    }
    const last = failures.at(-1);
    const timedOut =
      failures.length > 0 && failures.every((f) => f.status === null && /timed? ?out/i.test(f.message));
    const summary = failures.map((f) => `${f.model}: ${f.status ?? 'no response'} ${f.message}`).join('; ');
    throw new ProviderUnavailableError(
      `Upstream model call failed after ${failures.length} attempt(s): ${summary}`,
      timedOut ? 504 : last?.status === 429 || last?.status === 503 ? 503 : 502,
      { reason: 'provider_unavailable', attempts: failures, upstream_status: last?.status ?? null },
    );
  }
}

class DeadlineError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
  }
}

class MalformedAnswerError extends Error {}

/**
 * An upstream failure summarised for the caller: provider, status, error type and the first line of its
 * message (scrubbed by the caller — a provider may quote the request's Authorization header back).
 */
function describe(err: unknown, model: ResolvedModel): string {
  if (err instanceof APIConnectionTimeoutError) return 'timed out';
  if (err instanceof MalformedAnswerError) return `malformed answer from ${model.provider}: ${err.message}`;
  if (err instanceof SyntaxError) return `malformed answer from ${model.provider}: not JSON`;
  if (err instanceof APIError) {
    const body = err.error as { type?: unknown; message?: unknown } | undefined;
    const type = typeof body?.type === 'string' ? ` ${body.type}` : '';
    const said = typeof body?.message === 'string' ? body.message : err.message;
    return `${model.provider} answered ${err.status ?? 'an error'}${type}: ${firstLine(said)}`;
  }
  return firstLine(err instanceof Error ? err.message : String(err));
}

const firstLine = (text: string): string => text.split('\n')[0].slice(0, 200);

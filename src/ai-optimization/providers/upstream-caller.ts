import { Inject, Injectable, Logger } from '@nestjs/common';
import { APIConnectionTimeoutError, APIError } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { MODELS_CONFIG } from '../../config/config.module.js';
import type { ModelsConfig } from '../../config/yaml-config.js';
import { ProviderUnavailableError } from '../../common/errors.js';
import type { ResolvedModel } from './provider-registry.js';
import { readUsage, type TokenUsage } from './usage.js';

export interface UpstreamAnswer {
  model: ResolvedModel;
  content: string;
  usage: TokenUsage | null;
  rawUsage: unknown;
  finishReason: string | null;
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

  constructor(@Inject(MODELS_CONFIG) private readonly models: ModelsConfig) {}

  async complete(
    chain: ResolvedModel[],
    body: Omit<ChatCompletionCreateParamsNonStreaming, 'model'>,
  ): Promise<UpstreamAnswer> {
    const failures: AttemptFailure[] = [];
    for (const model of chain) {
      const answer = await this.completeOne(model, body, failures);
      if (answer) return answer;
    }
    const last = failures.at(-1);
    const timedOut =
      failures.length > 0 && failures.every((f) => f.status === null && /timed? ?out/i.test(f.message));
    const summary = failures.map((f) => `${f.model}: ${f.status ?? 'no response'} ${f.message}`).join('; ');
    throw new ProviderUnavailableError(
      `Upstream model call failed after ${failures.length} attempt(s): ${summary}`,
      timedOut ? 504 : last?.status === 429 || last?.status === 503 ? 503 : 502,
      { reason: 'provider_unavailable', attempts: failures },
    );
  }

  private async completeOne(
    model: ResolvedModel,
    body: Omit<ChatCompletionCreateParamsNonStreaming, 'model'>,
    failures: AttemptFailure[],
  ): Promise<UpstreamAnswer | null> {
    const started = Date.now();
    const deadline = started + this.models.retryBudgetMs;
    for (let attempt = 1; attempt <= this.models.maxAttempts; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const attemptStart = Date.now();
      const attemptMs = Math.min(this.models.timeoutMs, remaining);
      // Our own deadline signal: we know for sure a failure was our timeout, whatever the fetch error says.
      const deadlineSignal = AbortSignal.timeout(attemptMs);
      try {
        const completion = await model.client.chat.completions.create(
          { ...body, model: model.upstreamModel, stream: false },
          { signal: deadlineSignal, timeout: attemptMs + 1000, maxRetries: 0 },
        );
        const choice = Array.isArray(completion?.choices) ? completion.choices[0] : undefined;
        if (!choice || typeof choice.message !== 'object') {
          throw new MalformedAnswerError('the answer has no choices[0].message');
        }
        return {
          model,
          content: choice.message.content ?? '',
          usage: readUsage(completion.usage),
          rawUsage: completion.usage,
          finishReason: choice.finish_reason ?? null,
          latencyMs: Date.now() - attemptStart,
          attempts: attempt,
        };
      } catch (err) {
        const status = err instanceof APIError && typeof err.status === 'number' ? err.status : null;
        const message = deadlineSignal.aborted ? `timed out after ${attemptMs} ms` : describe(err, model);
        failures.push({ model: model.entry.name, status, message });
        this.logger.warn(
          `Upstream ${model.entry.name} attempt ${attempt} failed: ${status ?? ''} ${message}`,
        );
        if (!retryable(status) || attempt === this.models.maxAttempts) break;
        const asked =
          err instanceof APIError ? retryAfterMs(err.headers as Headers | undefined, Date.now()) : null;
        const wait = asked ?? Math.min(250 * 2 ** (attempt - 1), 4000) * (0.5 + Math.random() / 2);
        if (Date.now() + wait >= deadline) break; // the wait would not fit in the budget: fall back now
        await sleep(wait);
      }
    }
    return null;
  }
}

class MalformedAnswerError extends Error {}

function describe(err: unknown, model: ResolvedModel): string {
  if (err instanceof APIConnectionTimeoutError) return 'timed out';
  if (err instanceof MalformedAnswerError) return `malformed answer from ${model.provider}: ${err.message}`;
  if (err instanceof SyntaxError) return `malformed answer from ${model.provider}: not JSON`;
  const message = err instanceof Error ? err.message : String(err);
  return message.slice(0, 300);
}

import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import type { ResolvedModel } from '../providers/provider-registry.js';
import { providersConfig, type ProvidersConfig } from '../../config/namespaces.js';
import { UpstreamCaller, type OpenStream, type UpstreamAnswer } from '../providers/upstream-caller.js';
import type { UpstreamBody } from './metered-call.js';

export type OpenedStream = OpenStream;

/** A leader's answer is stored a moment after it arrives. */
const CALL_WAIT_SLACK_MS = 5_000;
/** The longest a streamed answer is expected to take once open. */
const STREAM_WAIT_MS = 120_000;

/** The upstream stream went silent after its headers for longer than STREAM_IDLE_TIMEOUT_SECONDS. */
export class StreamIdleError extends Error {
  constructor(seconds: number) {
    super(`the upstream sent no bytes for ${seconds} s`);
    this.name = 'StreamIdleError';
  }
}

/**
 * Stage 4, call: the upstream request with a deadline per attempt, retries on 429/5xx/timeouts honouring
 * Retry-After within a total budget, then the fallback models. A stream is retried only until the upstream
 * accepts it; Bastion always asks for the stream's usage (`stream_options.include_usage`) so a streamed call
 * is priced exactly.
 */
@Injectable()
export class CallStage {
  constructor(
    private readonly upstream: UpstreamCaller,
    @Inject(providersConfig.KEY) private readonly config: Pick<ProvidersConfig, 'streamIdleTimeoutSeconds'>,
  ) {}

  /**
   * How long a request may wait for an identical call on another instance: the call's worst case, plus for a
   * stream the time to generate it (a stream quiet for the idle timeout fails anyway).
   */
  waitBudgetMs(chain: ResolvedModel[], stream: boolean): number {
    return this.upstream.worstCaseMs(chain) + (stream ? STREAM_WAIT_MS : CALL_WAIT_SLACK_MS);
  }

  complete(chain: ResolvedModel[], body: UpstreamBody): Promise<UpstreamAnswer> {
    const { stream: _s, stream_options: _o, ...rest } = body;
    return this.upstream.complete(chain, rest);
  }

  /**
   * Opens the stream; from then on a watchdog aborts `abort` with StreamIdleError when no byte has arrived for
   * STREAM_IDLE_TIMEOUT_SECONDS (keep-alive comments count). `close()` on the result stops it.
   */
  async open(chain: ResolvedModel[], body: UpstreamBody, abort: AbortController): Promise<OpenedStream> {
    const request = { ...body, stream: true, stream_options: { include_usage: true } };
    const opened = await this.upstream.openStream(
      chain,
      request as unknown as Omit<ChatCompletionCreateParamsStreaming, 'model'>,
      abort.signal,
    );
    const idleMs = this.config.streamIdleTimeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      const silent = opened.silentForMs();
      if (silent >= idleMs) abort.abort(new StreamIdleError(this.config.streamIdleTimeoutSeconds));
      else timer = setTimeout(check, idleMs - silent).unref();
    };
    timer = setTimeout(check, idleMs).unref();
    return {
      ...opened,
      close: () => {
        clearTimeout(timer);
        opened.close();
      },
    };
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The answer of a stream, as the non-streaming completion it would have been (what the cache keeps). */
export function assemble(chunks: ChatCompletionChunk[], usage: unknown, model: string): ChatCompletion {
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

import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../../common/errors.js';
import { AGENTS_CONFIG } from '../../config/config.module.js';
import type { AgentsConfig } from '../../config/yaml-config.js';
import {
  ConversationRepository,
  type ConversationRef,
} from '../../redis/repositories/conversation.repository.js';
import { ProviderRegistry, type ResolvedModel } from '../providers/provider-registry.js';
import { canonicalJson, canonicalObject, textHash } from '../response-cache.js';
import type { MeteredCall, UpstreamBody } from './metered-call.js';

/** A call the pipeline may make: where it goes, how it is keyed, what its prompt weighs. */
export interface Screened {
  /** The model and its fallbacks, in order. */
  chain: ResolvedModel[];
  conversation: ConversationRef;
  /** The response-cache entry of this exact request. */
  cacheKey: string;
  /** Upper bound of the prompt's tokens, for the budget reservation. */
  promptTokens: number;
  /** A likely count of the prompt's tokens (rate limits and the context window count this). */
  likelyPromptTokens: number;
}

/**
 * An upper bound of what the upstream bills as prompt tokens: everything sent (messages with their tool calls,
 * tool definitions, response schemas), a token per 3 ASCII characters (tokenizers average about 4) and one per
 * other character (DeepSeek documents about 0.6 for a Chinese character), plus a few per message.
 */
export function estimateTokens(body: UpstreamBody, text = JSON.stringify(body)): number {
  let ascii = text.length;
  // eslint-disable-next-line no-control-regex -- the fast path: an all-ASCII body needs no count
  if (/[^\x00-\x7f]/.test(text)) {
    ascii = 0;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 128) ascii++;
  }
  return Math.ceil(ascii / 3) + (text.length - ascii) + 8 * body.messages.length;
}

/**
 * A likely count of the prompt's tokens, for the context-window guard: 4 ASCII characters a token (the usual
 * average) and 0.6 for any other character. Unlike the reservation's upper bound it does not refuse prompts
 * that fit; one that is close is left for the provider to judge.
 */
export function likelyTokens(body: {
  messages: UpstreamBody['messages'];
  tools?: UpstreamBody['tools'];
}): number {
  const tools = body.tools === undefined ? '' : JSON.stringify(body.tools);
  return likelyTokensOf(JSON.stringify(body.messages) + tools, body.messages.length);
}

/**
 * likelyTokens from the JSON of the messages and tools. Only its length and its non-ASCII characters count,
 * so the canonical JSON (keys sorted, the same characters) serves as well.
 */
function likelyTokensOf(text: string, messages: number): number {
  let other = 0;
  // eslint-disable-next-line no-control-regex -- the fast path: an all-ASCII prompt needs no count
  if (/[^\x00-\x7f]/.test(text)) for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 128) other++;
  return Math.ceil((text.length - other) / 4 + other * 0.6) + 4 * messages;
}

export const conversationOf = (call: Pick<MeteredCall, 'tenant' | 'agent' | 'symbol'>): ConversationRef => ({
  tenant: call.tenant,
  agent: call.agent,
  symbol: call.symbol ?? '-',
});

/**
 * Stage 1, screen: is AI on for this agent, which model chain serves the call, and which response-cache entry
 * answers it — the hash of the canonical request (provider, base URL, upstream model, every parameter and
 * message), scoped by tenant, agent, symbol and response type.
 */
@Injectable()
export class ScreenStage {
  constructor(
    private readonly registry: ProviderRegistry,
    private readonly conversations: ConversationRepository,
    @Inject(AGENTS_CONFIG) private readonly agents: AgentsConfig,
  ) {}

  /** The model chain of a call: the model it names, else its agent's, else the default model. */
  chainFor(agent: string, model: string | undefined): ResolvedModel[] {
    return this.registry.chain(model ?? this.agents.agents.get(agent)?.model);
  }

  aiEnabled(agent: string): boolean {
    return this.agents.agents.get(agent)?.enableAi ?? true;
  }

  /**
   * Throws a 400 for an unknown model, a 400 `context_length_exceeded` (OpenAI's code) when the prompt and
   * `max_tokens` cannot fit the model's context window, and a 503 when no provider can serve it.
   */
  screen(call: MeteredCall): Screened {
    const chain = this.chainFor(call.agent, call.model);
    const primary = chain[0];
    const window = primary.entry.contextWindow;
    // One canonical text serves the cache key and both token estimates.
    const messages = canonicalJson(call.body.messages);
    const tools = call.body.tools === undefined ? undefined : canonicalJson(call.body.tools);
    const prompt = likelyTokensOf(messages + (tools ?? ''), call.body.messages.length);
    if (window !== undefined) {
      if (prompt + call.maxTokens > window) {
        throw new DomainError(
          'context_length_exceeded',
          `This model's maximum context length is ${window} tokens; the prompt (about ${prompt} tokens) and ` +
            `max_tokens (${call.maxTokens}) would need ${prompt + call.maxTokens}. Shorten the prompt or lower max_tokens.`,
          400,
          { param: 'messages' },
        );
      }
    }
    const body = canonicalObject(call.body, { messages, tools });
    const hash = textHash(`${primary.provider}\n${primary.baseUrl}\n${primary.upstreamModel}\n${body}`);
    const conversation = conversationOf(call);
    return {
      chain,
      conversation,
      cacheKey: this.conversations.cacheKey(conversation, call.responseType, hash),
      promptTokens: estimateTokens(call.body, body),
      likelyPromptTokens: prompt,
    };
  }
}

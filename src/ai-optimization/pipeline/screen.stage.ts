import { Inject, Injectable } from '@nestjs/common';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { AGENTS_CONFIG } from '../../config/config.module.js';
import type { AgentsConfig } from '../../config/yaml-config.js';
import {
  ConversationRepository,
  type ConversationRef,
} from '../../redis/repositories/conversation.repository.js';
import { ProviderRegistry, type ResolvedModel } from '../providers/provider-registry.js';
import { requestHash } from '../response-cache.js';
import type { MeteredCall } from './metered-call.js';

/** A call the pipeline may make: where it goes, how it is keyed, what its prompt weighs. */
export interface Screened {
  /** The model and its fallbacks, in order. */
  chain: ResolvedModel[];
  conversation: ConversationRef;
  /** The response-cache entry of this exact request. */
  cacheKey: string;
  /** Upper bound of the prompt's tokens, for the budget reservation. */
  promptTokens: number;
}

/** Rough upper bound of a prompt's tokens (real tokenizers average ~4 characters a token; this counts 3). */
export const estimateTokens = (messages: ChatCompletionMessageParam[]): number =>
  messages.reduce((sum, m) => sum + 8 + Math.ceil(JSON.stringify(m.content ?? '').length / 3), 0);

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

  aiEnabled(agent: string): boolean {
    return this.agents.agents.get(agent)?.enableAi ?? true;
  }

  /** Throws a 400 for an unknown model and a 503 when no provider can serve it. */
  screen(call: MeteredCall): Screened {
    const chain = this.registry.chain(call.model ?? this.agents.agents.get(call.agent)?.model);
    const primary = chain[0];
    const hash = requestHash({
      provider: primary.provider,
      base_url: primary.baseUrl,
      model: primary.upstreamModel,
      body: call.body,
    });
    const conversation = conversationOf(call);
    return {
      chain,
      conversation,
      cacheKey: this.conversations.cacheKey(conversation, call.responseType, hash),
      promptTokens: estimateTokens(call.body.messages),
    };
  }
}

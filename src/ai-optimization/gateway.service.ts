import { Injectable } from '@nestjs/common';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { DEFAULT_TENANT } from '../common/tenant.js';
import type { GatewayMetadata, GatewayRequest, GatewayResult } from './gateway.types.js';
import { MeteredCallPipeline, type Enqueue } from './pipeline/pipeline.js';
import type { MeteredCall, Outcome } from './pipeline/metered-call.js';
import { canonicalJson } from './response-cache.js';

/** Static instructions first, everything that changes last, so the provider's prefix cache hits. */
export function buildMessages(request: GatewayRequest): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [];
  if (request.systemPrompt) messages.push({ role: 'system', content: request.systemPrompt });
  const context =
    request.context && Object.keys(request.context).length > 0
      ? `\n\nContext (JSON):\n${canonicalJson(request.context)}`
      : '';
  messages.push({ role: 'user', content: `${request.prompt}${context}` });
  return messages;
}

/** The pipeline's view of a gateway request (/ai/call, an event lane, a batch, an agent). */
export function meteredCall(request: GatewayRequest): MeteredCall {
  const caller = request.scope?.caller;
  return {
    tenant: request.tenant ?? caller?.tenant ?? DEFAULT_TENANT,
    key: request.key === undefined ? (caller?.key ?? null) : request.key,
    agent: request.agentType,
    symbol: request.symbol,
    responseType: request.responseType,
    model: request.model,
    body: {
      messages: buildMessages(request),
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.json ? { response_format: { type: 'json_object' } } : {}),
    },
    maxTokens: request.maxTokens,
    cache: {
      read: request.cache && request.cacheRead !== false,
      write: request.cache,
      ttlSeconds: request.cacheTtlSeconds,
      keepCompletion: false,
    },
    sampling:
      request.sampling === false
        ? null
        : { features: request.samplingFeatures, score: request.score, volatility: request.volatility },
    intervalSeconds: request.intervalSeconds ?? null,
    critical: request.critical === true,
    stream: false,
    scope: request.scope,
    booksAfterAnswer: request.booksAfterAnswer === true,
  };
}

/** The answer of /ai/call (and of an agent's AI enhancement), from what the pipeline did. */
export function gatewayResult(outcome: Outcome): GatewayResult {
  const t = outcome.trace;
  const common = {
    latency_ms: Math.round(performance.now() - t.started),
    request_id: t.requestId,
  };
  if (outcome.kind === 'answered') {
    const a = outcome.answer;
    const called = outcome.source === 'called';
    const metadata: GatewayMetadata = {
      ai_called: called,
      cache_hit: outcome.source === 'response_cache',
      reason: outcome.source,
      model: a.model,
      provider: a.provider,
      prompt_tokens: called ? a.prompt_tokens : 0,
      cached_prompt_tokens: called ? a.cached_prompt_tokens : 0,
      completion_tokens: called ? a.completion_tokens : 0,
      cost_usd: called ? a.cost_usd : 0,
      saved_usd: called ? 0 : a.cost_usd,
      ...common,
      ...(outcome.source === 'response_cache'
        ? { response_age_seconds: Math.max(0, Math.round((t.now - a.created_at) / 1000)) }
        : {}),
      ...(outcome.fallbackFrom && called ? { fallback_from: outcome.fallbackFrom } : {}),
      ...(outcome.degraded ? { degraded: outcome.degraded } : {}),
    };
    return { response: a.response, metadata };
  }
  if (outcome.kind === 'streaming') throw new Error('a streamed outcome has no /ai/call answer');
  const last = outcome.last;
  return {
    response: last?.response ?? null,
    metadata: {
      ai_called: false,
      cache_hit: false,
      reason: outcome.reason,
      model: last?.model ?? null,
      provider: null,
      prompt_tokens: 0,
      cached_prompt_tokens: 0,
      completion_tokens: 0,
      cost_usd: 0,
      saved_usd: outcome.savedUsd,
      ...common,
      ...(last ? { response_age_seconds: Math.max(0, Math.round((t.now - last.at) / 1000)) } : {}),
      message: outcome.message,
    },
  };
}

/**
 * The AI gateway as `POST /ai/call`, the event lanes and the agents see it: a GatewayRequest in, the
 * metered-call pipeline, a GatewayResult out.
 */
@Injectable()
export class AiGateway {
  constructor(private readonly pipeline: MeteredCallPipeline) {}

  /** A request without a tenant of its own runs as its caller's tenant (an agent's request, say). */
  async call(request: GatewayRequest): Promise<GatewayResult> {
    return gatewayResult(await this.pipeline.run(meteredCall(request)));
  }

  /** A LOW event: answered from the cache or skipped by the sampler when it can be, otherwise queued. */
  async callOrQueue(
    request: GatewayRequest,
    enqueue: Enqueue,
  ): Promise<{ result: GatewayResult; outcome: Outcome }> {
    const outcome = await this.pipeline.run(meteredCall(request), enqueue);
    return { result: gatewayResult(outcome), outcome };
  }
}

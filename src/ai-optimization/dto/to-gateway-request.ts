import type { GatewayRequest } from '../gateway.types.js';
import type { RequestScope } from '../../common/request-context.js';
import type { AiCallBody } from './ai-call.body.js';

/**
 * `scope`: the HTTP request (its caller's tenant and key; the headers its answer carries); `booksAfterAnswer`:
 * see MeteredCall.
 */
export function toGatewayRequest(
  body: AiCallBody,
  scope?: RequestScope,
  booksAfterAnswer = false,
): GatewayRequest {
  return {
    tenant: scope?.caller?.tenant,
    scope,
    agentType: body.agent_type,
    prompt: body.prompt,
    systemPrompt: body.system_prompt,
    context: body.context,
    responseType: body.response_type ?? 'general',
    symbol: body.symbol?.toUpperCase(),
    model: body.model ?? undefined,
    maxTokens: body.max_tokens ?? 512,
    temperature: body.temperature ?? 0,
    json: body.json ?? false,
    cache: body.cache ?? true,
    cacheTtlSeconds: body.cache_ttl_seconds,
    samplingFeatures: body.sampling_features,
    score: body.score ?? undefined,
    booksAfterAnswer,
  };
}

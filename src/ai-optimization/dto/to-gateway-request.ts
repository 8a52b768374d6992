import type { GatewayRequest } from '../gateway.types.js';
import type { AiCallBody } from './ai-call.body.js';

export function toGatewayRequest(body: AiCallBody, tenant?: string): GatewayRequest {
  return {
    tenant,
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
  };
}

import type { GatewayRequest } from '../gateway.types.js';
import type { AiCallDto } from './ai-call.dto.js';

export function toGatewayRequest(dto: AiCallDto): GatewayRequest {
  return {
    agentType: dto.agent_type,
    prompt: dto.prompt,
    systemPrompt: dto.system_prompt,
    context: dto.context,
    responseType: dto.response_type ?? 'general',
    symbol: dto.symbol?.toUpperCase(),
    model: dto.model ?? undefined,
    maxTokens: dto.max_tokens ?? 512,
    temperature: dto.temperature ?? 0,
    json: dto.json ?? false,
    cache: dto.cache ?? true,
    cacheTtlSeconds: dto.cache_ttl_seconds,
    samplingFeatures: dto.sampling_features,
    score: dto.score ?? undefined,
  };
}

import type { GatewayResult } from '../ai-optimization/gateway.types.js';

const ANSWERED = new Set(['called', 'response_cache', 'coalesced']);

/** What an agent reports about its optional AI enhancement; the quant verdict never depends on it. */
export interface AiPart {
  ai_enhanced: boolean;
  ai_reason: string;
  ai_analysis: string | null;
  ai_cost_usd: number | null;
}

export function aiPart(result: GatewayResult | null, error?: unknown): AiPart {
  if (!result) {
    return {
      ai_enhanced: false,
      ai_reason: error instanceof Error ? error.message : 'not requested',
      ai_analysis: null,
      ai_cost_usd: null,
    };
  }
  const answered = ANSWERED.has(result.metadata.reason) && result.response !== null;
  return {
    ai_enhanced: answered,
    ai_reason: result.metadata.reason,
    ai_analysis: answered ? result.response : null,
    ai_cost_usd: result.metadata.cost_usd,
  };
}

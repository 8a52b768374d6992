import { Injectable, Logger } from '@nestjs/common';
import { AiGateway } from '../ai-optimization/gateway.service.js';
import type { GatewayRequest, GatewayResult } from '../ai-optimization/gateway.types.js';
import { DomainError } from '../common/errors.js';

/** Gateway decisions in which a model's text produced for this very request (or an identical one) is returned. */
const ANSWERED = new Set<string>(['called', 'response_cache', 'coalesced']);

/**
 * Was this answered fresh, for this request? A sampled-out or refused call may carry the agent's last answer,
 * which was about other data (possibly another bot's or user's): only a fresh answer may be attached as is.
 */
export function answeredFresh(result: GatewayResult | null): result is GatewayResult & { response: string } {
  return (
    result !== null &&
    ANSWERED.has(result.metadata.reason) &&
    result.response !== null &&
    result.response.trim() !== ''
  );
}

/** What an agent reports about its optional AI enhancement; the quant verdict never depends on it. */
export interface AiPart {
  ai_enhanced: boolean;
  /** The gateway's decision (`called`, `sampled_out`, …), the error code when it threw, or `not_requested`. */
  ai_reason: string;
  ai_analysis: string | null;
  ai_cost_usd: number | null;
}

/** The enhancement as the agent receives it: the AiPart fields plus what it may need to go further. */
export interface AiEnhancement extends AiPart {
  /** The gateway's answer, or null when it threw. */
  result: GatewayResult | null;
  /** What the gateway threw (the agent answers without the model), or null. */
  error: unknown;
}

export const NOT_REQUESTED: AiPart = {
  ai_enhanced: false,
  ai_reason: 'not_requested',
  ai_analysis: null,
  ai_cost_usd: null,
};

/** The AiPart fields of an enhancement (without the raw result and error). */
export const aiPartOf = (e: AiEnhancement): AiPart => ({
  ai_enhanced: e.ai_enhanced,
  ai_reason: e.ai_reason,
  ai_analysis: e.ai_analysis,
  ai_cost_usd: e.ai_cost_usd,
});

/**
 * The one way an agent asks the model: through the gateway (sampled, cached, budgeted, counted), turning the
 * answer or the failure into the AiPart fields. A failure never fails the agent: its rules have answered
 * before this runs, and it says why the model's part is missing.
 */
@Injectable()
export class AgentAi {
  private readonly logger = new Logger(AgentAi.name);

  constructor(private readonly gateway: AiGateway) {}

  async enhance(request: GatewayRequest): Promise<AiEnhancement> {
    try {
      const result = await this.gateway.call(request);
      const fresh = answeredFresh(result);
      return {
        result,
        error: null,
        ai_enhanced: fresh,
        ai_reason: result.metadata.reason,
        ai_analysis: fresh ? result.response.trim() : null,
        ai_cost_usd: result.metadata.cost_usd,
      };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.logger.warn(`AI enhancement of ${request.agentType} unavailable: ${message}`);
      return {
        result: null,
        error: err,
        ai_enhanced: false,
        ai_reason: err instanceof DomainError ? err.code : 'error',
        ai_analysis: null,
        ai_cost_usd: null,
      };
    }
  }
}

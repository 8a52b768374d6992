import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { DomainError } from '../../common/errors.js';
import { AiGateway } from '../../ai-optimization/gateway.service.js';
import type { GatewayResult } from '../../ai-optimization/gateway.types.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { TelemetryService } from '../bot-telemetry/telemetry.service.js';
import type { DetectAnomaliesAnswer, DetectAnomaliesDto } from './anomaly-detector.dto.js';
import { anomalyScore, detectAnomalies, type Anomaly } from './detectors.js';

export const ANOMALY_PROMPT_NAME = 'anomaly_detector';

/**
 * Static text only (see PromptStore): the anomalies go in the user message, so this prefix is byte-identical
 * on every call and the provider's prompt cache can bill it at the cache-hit rate.
 */
export const ANOMALY_SYSTEM_PROMPT = [
  'You explain trading-bot anomalies to the bot operator. The user message lists, as JSON, the anomalies',
  'that deterministic rules found, each with its value, threshold, severity and the action the rules',
  'recommend. For each anomaly, in at most two sentences, give the likely causes and what to check first.',
  'Plain text, no markdown. Never change, question or add to the recommended actions: they are decided by',
  'the rules.',
].join(' ');

/** Gateway decisions in which a model's text produced for this very request is returned. */
const ANSWERED = new Set<string>(['called', 'response_cache', 'coalesced']);

interface AiOutcome {
  enhanced: boolean;
  reason: string;
  explanation?: string;
}

/**
 * Anomaly detector: rules over the bot's telemetry window decide every anomaly and action; the model only
 * explains, and only when the anomaly score passes the agent's sampling strategy (THRESHOLD 0.7 in
 * config/agents.yaml), so healthy or mildly off bots cost nothing.
 */
@Injectable()
export class AnomalyDetectorService implements OnModuleInit {
  private readonly logger = new Logger(AnomalyDetectorService.name);
  private systemPrompt = ANOMALY_SYSTEM_PROMPT;

  constructor(
    private readonly telemetry: TelemetryService,
    private readonly gateway: AiGateway,
    private readonly prompts: PromptStore,
    private readonly clock: Clock,
  ) {}

  async onModuleInit(): Promise<void> {
    this.systemPrompt = (await this.prompts.register(ANOMALY_PROMPT_NAME, ANOMALY_SYSTEM_PROMPT)).text;
  }

  async detect(dto: DetectAnomaliesDto): Promise<DetectAnomaliesAnswer> {
    const to = this.clock.now();
    const from = to - dto.timeframe_minutes * 60_000;
    const window = await this.telemetry.window(dto.bot_id, from, to);
    const anomalies = detectAnomalies(window, to, { equity_usd: dto.equity_usd });
    const score = anomalyScore(anomalies);
    const ai = await this.explain(anomalies, score, dto);
    return {
      bot_id: dto.bot_id,
      user_id: dto.user_id,
      window: {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        minutes: dto.timeframe_minutes,
      },
      telemetry: {
        trades: window.trades.length,
        orders: window.orders.length,
        errors: window.errors.length,
        last_heartbeat:
          window.last_heartbeat_ms === null ? null : new Date(window.last_heartbeat_ms).toISOString(),
        heartbeat_interval_seconds: window.heartbeat_interval_seconds,
      },
      anomaly_score: score,
      anomalies: anomalies.map((a) => ({ ...a, ai_enhanced: ai.enhanced })),
      ai_enhanced: ai.enhanced,
      ai_reason: ai.reason,
      ...(ai.explanation !== undefined ? { ai_explanation: ai.explanation } : {}),
    };
  }

  /**
   * One call for all anomalies (not one per anomaly): a single explanation costs one prompt. The rules'
   * answer is complete before this runs and nothing the model says is fed back into it.
   */
  private async explain(anomalies: Anomaly[], score: number, dto: DetectAnomaliesDto): Promise<AiOutcome> {
    if (dto.include_ai === false) return { enhanced: false, reason: 'not_requested' };
    if (anomalies.length === 0) return { enhanced: false, reason: 'no_anomalies' };
    let result: GatewayResult;
    try {
      result = await this.gateway.call({
        agentType: 'anomaly_detector',
        symbol: undefined,
        responseType: 'anomaly_explanation',
        systemPrompt: this.systemPrompt,
        // No bot id or time here: identical anomaly sets share one cached explanation.
        prompt: `Explain these anomalies of one trading bot over the last ${dto.timeframe_minutes} minutes.`,
        context: { anomalies },
        score,
        maxTokens: 200,
        temperature: 0,
        json: false,
        cache: true,
      });
    } catch (err) {
      // The rules' answer stands without the model; say why the explanation is missing.
      const reason = err instanceof DomainError ? err.code : 'error';
      this.logger.warn(`Anomaly explanation unavailable for bot ${dto.bot_id}: ${(err as Error).message}`);
      return { enhanced: false, reason };
    }
    const reason = result.metadata.reason;
    // A sampled-out or refused call may carry the agent's last answer, which was about other anomalies
    // (possibly another bot's): only text produced for this request is attached.
    if (!ANSWERED.has(reason) || result.response === null || result.response.trim() === '') {
      return { enhanced: false, reason };
    }
    return { enhanced: true, reason, explanation: result.response.trim() };
  }
}

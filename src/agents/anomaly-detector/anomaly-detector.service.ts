import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { AgentAi } from '../agent-ai.js';
import { TelemetryService } from '../bot-telemetry/telemetry.service.js';
import { AgentSettingsService } from '../settings/agent-settings.service.js';
import type { DetectAnomaliesAnswer, DetectAnomaliesDto } from './anomaly-detector.dto.js';
import { anomalyScore, detectAnomalies, limitsFrom, type AnomalyLimits, type Anomaly } from './detectors.js';
import type { RequestScope } from '../../common/request-context.js';
import { DEFAULT_TENANT } from '../../common/tenant.js';

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

interface AiOutcome {
  enhanced: boolean;
  reason: string;
  explanation?: string;
}

/** What a detection runs on: the request's fields, the bot id as a string for the store. */
export interface DetectionRequest {
  user_id: number;
  bot_id: string | number;
  timeframe_minutes: number;
  include_ai?: boolean;
  equity_usd?: number;
}

/**
 * Anomaly detector: rules over the bot's telemetry window decide every anomaly and action; the model only
 * explains, and only when the anomaly score passes the agent's sampling strategy (THRESHOLD 0.7 in
 * config/agents.yaml), so healthy or mildly off bots cost nothing. Limits come from the agent's settings.
 */
@Injectable()
export class AnomalyDetectorService implements OnModuleInit {
  private systemPrompt = ANOMALY_SYSTEM_PROMPT;

  constructor(
    private readonly telemetry: TelemetryService,
    private readonly ai: AgentAi,
    private readonly prompts: PromptStore,
    private readonly clock: Clock,
    private readonly settings: AgentSettingsService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.systemPrompt = (await this.prompts.register(ANOMALY_PROMPT_NAME, ANOMALY_SYSTEM_PROMPT)).text;
  }

  async detect(
    dto: DetectionRequest | DetectAnomaliesDto,
    scope?: RequestScope,
  ): Promise<DetectAnomaliesAnswer> {
    const to = this.clock.now();
    const from = to - dto.timeframe_minutes * 60_000;
    // The bot is the caller's tenant's (a scheduled scan passes the scanned bot's tenant as its scope).
    const bot = { tenant: scope?.caller?.tenant ?? DEFAULT_TENANT, botId: String(dto.bot_id) };
    const [window, settings] = await Promise.all([
      this.telemetry.window(bot, from, to),
      this.settings.get('anomaly_detector'),
    ]);
    const limits: AnomalyLimits = { ...limitsFrom(settings), equity_usd: dto.equity_usd };
    const anomalies = detectAnomalies(window, to, limits);
    const score = anomalyScore(anomalies);
    const ai = await this.explain(anomalies, score, dto, scope);
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
  private async explain(
    anomalies: Anomaly[],
    score: number,
    dto: DetectionRequest,
    scope: RequestScope | undefined,
  ): Promise<AiOutcome> {
    if (dto.include_ai === false) return { enhanced: false, reason: 'not_requested' };
    if (anomalies.length === 0) return { enhanced: false, reason: 'no_anomalies' };
    const enhancement = await this.ai.enhance({
      scope,
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
    // A sampled-out or refused call may carry the agent's last answer, which was about other anomalies
    // (possibly another bot's): only text produced for this request is attached.
    return enhancement.ai_enhanced && enhancement.ai_analysis !== null
      ? { enhanced: true, reason: enhancement.ai_reason, explanation: enhancement.ai_analysis }
      : { enhanced: false, reason: enhancement.ai_reason };
  }
}

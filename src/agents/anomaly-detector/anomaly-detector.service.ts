import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { Clock } from '../../common/clock.js';
import { AiGateway } from '../../ai-optimization/gateway.service.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { aiPart, type AiPart } from '../agent-ai.js';
import { TelemetryService } from '../bot-telemetry/telemetry.service.js';
import { anomalyScore, detectAnomalies, type Anomaly } from './detectors.js';

export class DetectDto {
  @ApiProperty()
  @IsInt()
  @Min(0)
  user_id!: number;

  @ApiProperty()
  @IsString()
  bot_id!: string;

  @ApiProperty({ example: 60 })
  @IsInt()
  @Min(1)
  @Max(10_080)
  timeframe_minutes!: number;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  include_ai?: boolean;
}

const SYSTEM_PROMPT = [
  'You explain trading-bot anomalies to an operator. The user message lists the anomalies found by rules,',
  'with their values, thresholds and the action the rules recommend, as JSON. In at most three sentences per',
  'anomaly, explain likely causes and what to check. Do not change or argue with the recommended actions.',
].join(' ');

/** Rule-based anomaly detection over bot telemetry; the model only explains, gated by THRESHOLD sampling on the score. */
@Injectable()
export class AnomalyDetectorService implements OnModuleInit {
  constructor(
    private readonly telemetry: TelemetryService,
    private readonly gateway: AiGateway,
    private readonly prompts: PromptStore,
    private readonly clock: Clock,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register('anomaly_detector', SYSTEM_PROMPT);
  }

  async detect(dto: DetectDto) {
    this.telemetry.checkBotId(dto.bot_id);
    const now = this.clock.now();
    const from = now - dto.timeframe_minutes * 60_000;
    const window = await this.telemetry.window(dto.bot_id, from, now);
    const anomalies: (Anomaly & { ai_enhanced: boolean })[] = detectAnomalies(window, now).map((a) => ({
      ...a,
      ai_enhanced: false,
    }));
    const score = anomalyScore(anomalies);
    let ai: AiPart = aiPart(null);
    if (dto.include_ai !== false && anomalies.length > 0) {
      try {
        const result = await this.gateway.call({
          agentType: 'anomaly_detector',
          responseType: 'anomaly_explanation',
          systemPrompt: this.prompts.get('anomaly_detector')?.text ?? SYSTEM_PROMPT,
          prompt: `Explain the anomalies of bot ${dto.bot_id}.`,
          context: { anomalies: anomalies.map(({ ai_enhanced: _a, ...rest }) => rest) },
          symbol: undefined,
          score,
          maxTokens: 250,
          temperature: 0,
          json: false,
          cache: true,
        });
        ai = aiPart(result);
      } catch (err) {
        ai = aiPart(null, err);
      }
    }
    for (const a of anomalies) a.ai_enhanced = ai.ai_enhanced;
    return {
      bot_id: dto.bot_id,
      user_id: dto.user_id,
      window: {
        from: new Date(from).toISOString(),
        to: new Date(now).toISOString(),
        minutes: dto.timeframe_minutes,
      },
      anomaly_score: score,
      anomalies,
      ai_enhanced: ai.ai_enhanced,
      ai_reason: ai.ai_reason,
      ai_explanation: ai.ai_analysis,
    };
  }
}

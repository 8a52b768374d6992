import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { AiGateway } from '../../ai-optimization/gateway.service.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { CANDLE_SOURCE, timeframeMs, type CandleSource } from '../../market-data/candles/candle-source.js';
import { parseSymbol } from '../../market-data/symbols.js';
import { aiPart, type AiPart } from '../agent-ai.js';
import { analyzeRegime } from '../market-regime/regime.js';
import { runRules, verdictOf, type RuleResult, type Verdict } from './rules.js';
import type { SignalDto } from './signal-validator.dto.js';

const SYSTEM_PROMPT = [
  'You review trading signals for a crypto desk. The user message holds the signal and the result of the',
  'deterministic rule checks as JSON. Answer ONLY with a JSON object of the form',
  '{"opinion":"approve|reject|review","reason":"one sentence"}. Judge context the rules cannot see;',
  'never contradict a failed critical rule.',
].join(' ');

export interface ValidationAnswer extends AiPart {
  symbol: string;
  validation_result: Verdict;
  confidence_score: number;
  passed_rules: string[];
  failed_rules: string[];
  rules: RuleResult[];
  regime: string;
  ai_opinion: { opinion: string; reason: string } | null;
}

function parseOpinion(
  text: string | null,
): { opinion: 'approve' | 'reject' | 'review'; reason: string } | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as { opinion?: unknown; reason?: unknown };
    if (value.opinion !== 'approve' && value.opinion !== 'reject' && value.opinion !== 'review') return null;
    return {
      opinion: value.opinion,
      reason: typeof value.reason === 'string' ? value.reason.slice(0, 300) : '',
    };
  } catch {
    return null;
  }
}

/**
 * Signal validator: named rules decide; the model may add context and may ask for a review of an approved
 * signal, but can never approve a signal that failed a critical rule.
 */
@Injectable()
export class SignalValidatorService implements OnModuleInit {
  constructor(
    private readonly gateway: AiGateway,
    private readonly prompts: PromptStore,
    private readonly clock: Clock,
    @Inject(CANDLE_SOURCE) private readonly candles: CandleSource,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register('signal_validator', SYSTEM_PROMPT);
  }

  async validate(dto: SignalDto): Promise<ValidationAnswer> {
    const symbol = parseSymbol(dto.symbol);
    let rows = dto.candles;
    if (rows === undefined) {
      const series = await this.candles.fetch(symbol.unified, dto.timeframe, { limit: 200 });
      rows = series.lastCandleForming ? series.candles.slice(0, -1) : series.candles;
    }
    const regime = analyzeRegime(rows, dto.timeframe); // validates the candles too (400 on bad input)
    const candleRows = rows as [number, number, number, number, number, number][];
    const rules = runRules(
      {
        ...dto,
        symbol: symbol.unified,
        open_positions: dto.open_positions?.map((p) => ({ ...p, symbol: parseSymbol(p.symbol).unified })),
        recent_exits: dto.recent_exits?.map((e) => ({ ...e, symbol: parseSymbol(e.symbol).unified })),
      },
      {
        candles: candleRows,
        timeframeMs: timeframeMs(dto.timeframe),
        atr: regime.indicators.atr,
        regime: regime.regime_type,
        now: this.clock.now(),
      },
    );
    let { validation_result, confidence_score } = verdictOf(rules);
    let ai: AiPart = aiPart(null);
    let opinion: ValidationAnswer['ai_opinion'] = null;
    if (dto.include_ai !== false) {
      try {
        const result = await this.gateway.call({
          agentType: 'signal_validator',
          symbol: symbol.unified,
          responseType: 'signal_validation',
          systemPrompt: this.prompts.get('signal_validator')?.text ?? SYSTEM_PROMPT,
          prompt: `Review this ${dto.side} ${dto.strategy} signal on ${symbol.unified}.`,
          context: {
            signal: { ...dto, candles: undefined },
            rules: rules.map((r) => ({ name: r.name, passed: r.passed, critical: r.critical })),
            verdict: validation_result,
          },
          maxTokens: 150,
          temperature: 0,
          json: true,
          cache: true,
          samplingFeatures: { price: dto.entry_price, atr_pct: regime.indicators.atr_pct },
        });
        ai = aiPart(result);
        opinion = ai.ai_enhanced ? parseOpinion(result.response) : null;
        if (!opinion) ai = { ...ai, ai_enhanced: false };
      } catch (err) {
        ai = aiPart(null, err);
      }
    }
    // The model may only make the answer more careful: approve → review, never reject → approve.
    if (opinion && opinion.opinion !== 'approve' && validation_result === 'APPROVED') {
      validation_result = 'NEEDS_REVIEW';
      confidence_score = Number((confidence_score * 0.8).toFixed(4));
    }
    return {
      symbol: symbol.unified,
      validation_result,
      confidence_score,
      passed_rules: rules.filter((r) => r.passed).map((r) => r.name),
      failed_rules: rules.filter((r) => !r.passed).map((r) => r.name),
      rules,
      regime: regime.regime_type,
      ai_opinion: opinion,
      ...ai,
    };
  }
}

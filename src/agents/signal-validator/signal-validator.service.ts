import { BadRequestException, Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import {
  CANDLE_SOURCE,
  timeframeMs,
  type CandleSource,
  type Timeframe,
} from '../../market-data/candles/candle-source.js';
import { parseSymbol } from '../../market-data/symbols.js';
import { AgentAi, aiPartOf, NOT_REQUESTED, type AiPart } from '../agent-ai.js';
import { analyzeRegime } from '../market-regime/regime.js';
import { AgentSettingsService } from '../settings/agent-settings.service.js';
import { runRules, verdictOf, type RuleResult, type SignalInput, type Verdict } from './rules.js';
import type { SignalDto } from './signal-validator.dto.js';
import type { RequestScope } from '../../common/request-context.js';

const SYSTEM_PROMPT = [
  'You review trading signals for a crypto desk. The user message holds the signal and the result of the',
  'deterministic rule checks as JSON. Answer ONLY with a JSON object of the form',
  '{"opinion":"approve|reject|review","reason":"one sentence"}. Judge context the rules cannot see;',
  'never contradict a failed critical rule.',
].join(' ');

export interface ValidationAnswer extends AiPart {
  /** Echoed when the request gave it (the seed's shape). */
  signal_id?: string;
  /** The seed's fields echoed: BUY or SELL, and the bot's own confidence. */
  action?: 'BUY' | 'SELL';
  confidence?: number;
  symbol: string;
  side: 'long' | 'short';
  entry_price: number;
  strategy: SignalInput['strategy'];
  timeframe: Timeframe;
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

/** The seed's shape and ours are one signal: `action` is the side, `current_price` the entry; they must agree. */
function normalise(dto: SignalDto): { side: 'long' | 'short'; entry: number } {
  const problems: string[] = [];
  const fromAction =
    dto.action === undefined ? undefined : dto.action.toUpperCase() === 'BUY' ? 'long' : 'short';
  if (fromAction !== undefined && dto.side !== undefined && fromAction !== dto.side) {
    problems.push(`action ${dto.action} contradicts side ${dto.side}: give one of them`);
  }
  if (
    dto.current_price !== undefined &&
    dto.entry_price !== undefined &&
    dto.current_price !== dto.entry_price
  ) {
    problems.push(
      `current_price ${dto.current_price} contradicts entry_price ${dto.entry_price}: give one of them`,
    );
  }
  if (problems.length > 0) throw new BadRequestException(problems);
  return {
    side: (dto.side ?? fromAction) as 'long' | 'short',
    entry: (dto.entry_price ?? dto.current_price) as number,
  };
}

/**
 * Signal validator: named rules decide; the model may add context and may ask for a review of an approved
 * signal, but can never approve a signal that failed a critical rule.
 */
@Injectable()
export class SignalValidatorService implements OnModuleInit {
  constructor(
    private readonly ai: AgentAi,
    private readonly prompts: PromptStore,
    private readonly clock: Clock,
    private readonly settings: AgentSettingsService,
    @Inject(CANDLE_SOURCE) private readonly candles: CandleSource,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register('signal_validator', SYSTEM_PROMPT);
  }

  async validate(dto: SignalDto, scope?: RequestScope): Promise<ValidationAnswer> {
    const { side, entry } = normalise(dto);
    const config = await this.settings.get('signal_validator');
    const strategy = dto.strategy ?? config.default_strategy;
    const timeframe = dto.timeframe ?? config.default_timeframe;
    const symbol = parseSymbol(dto.symbol);
    let rows = dto.candles;
    if (rows === undefined) {
      const series = await this.candles.fetch(symbol.unified, timeframe, { limit: config.candles_limit });
      rows = series.lastCandleForming ? series.candles.slice(0, -1) : series.candles;
    }
    // The regime as the market-regime agent classifies it, with its settings; validates the candles too (400).
    const regime = analyzeRegime(rows, timeframe, await this.settings.get('market_regime'));
    const candleRows = rows as [number, number, number, number, number, number][];
    const rules = runRules(
      {
        symbol: symbol.unified,
        side,
        entry_price: entry,
        stop_loss: dto.stop_loss,
        take_profit: dto.take_profit,
        position_size_pct: dto.position_size_pct,
        leverage: dto.leverage,
        strategy,
        signal_timestamp: dto.signal_timestamp,
        open_positions: dto.open_positions?.map((p) => ({ ...p, symbol: parseSymbol(p.symbol).unified })),
        recent_exits: dto.recent_exits?.map((e) => ({ ...e, symbol: parseSymbol(e.symbol).unified })),
      },
      {
        candles: candleRows,
        timeframeMs: timeframeMs(timeframe),
        atr: regime.indicators.atr,
        regime: regime.regime_type,
        now: this.clock.now(),
      },
      config,
    );
    let { validation_result, confidence_score } = verdictOf(rules, config);
    let ai: AiPart = NOT_REQUESTED;
    let opinion: ValidationAnswer['ai_opinion'] = null;
    if (dto.include_ai !== false) {
      const enhancement = await this.ai.enhance({
        scope,
        agentType: 'signal_validator',
        symbol: symbol.unified,
        responseType: 'signal_validation',
        systemPrompt: this.prompts.get('signal_validator')?.text ?? SYSTEM_PROMPT,
        prompt: `Review this ${side} ${strategy} signal on ${symbol.unified}.`,
        context: {
          signal: { ...dto, side, entry_price: entry, strategy, timeframe, candles: undefined },
          rules: rules.map((r) => ({ name: r.name, passed: r.passed, critical: r.critical })),
          verdict: validation_result,
        },
        maxTokens: 150,
        temperature: 0,
        json: true,
        cache: true,
        samplingFeatures: { price: entry, atr_pct: regime.indicators.atr_pct },
      });
      ai = aiPartOf(enhancement);
      opinion = ai.ai_enhanced ? parseOpinion(ai.ai_analysis) : null;
      if (!opinion) ai = { ...ai, ai_enhanced: false };
    }
    // The model may only make the answer more careful: approve → review, never reject → approve.
    if (opinion && opinion.opinion !== 'approve' && validation_result === 'APPROVED') {
      validation_result = 'NEEDS_REVIEW';
      confidence_score = Number((confidence_score * config.ai_review_confidence_factor).toFixed(4));
    }
    return {
      ...(dto.signal_id !== undefined ? { signal_id: dto.signal_id } : {}),
      ...(dto.action !== undefined ? { action: side === 'long' ? ('BUY' as const) : ('SELL' as const) } : {}),
      ...(dto.confidence !== undefined ? { confidence: dto.confidence } : {}),
      symbol: symbol.unified,
      side,
      entry_price: entry,
      strategy,
      timeframe,
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

import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { CANDLE_SOURCE, type CandleSource } from '../../market-data/candles/candle-source.js';
import { parseSymbol } from '../../market-data/symbols.js';
import { AgentAi, aiPartOf, NOT_REQUESTED, type AiPart } from '../agent-ai.js';
import { AgentSettingsService } from '../settings/agent-settings.service.js';
import type { MarketRegimeDto } from './market-regime.dto.js';
import { analyzeRegime, type RegimeResult } from './regime.js';
import type { RequestScope } from '../../common/request-context.js';

const SYSTEM_PROMPT = [
  'You are the market-regime analyst of a crypto trading desk.',
  'You receive the deterministic regime verdict of a quant model and the indicators behind it (ATR, ADX with',
  '+DI/-DI in percent, Bollinger width, RSI) as JSON in the user message.',
  'In at most four short sentences: say whether the evidence supports the verdict, what would invalidate it,',
  'and which kind of strategy fits (trend following, mean reversion, or stand aside).',
  'Never invent prices or numbers that are not in the data. Do not change the verdict; comment on it.',
].join(' ');

export type MarketRegimeAnswer = RegimeResult &
  AiPart & { symbol: string; timeframe: string; candles_used: number; source: string };

/** Market regime agent: a deterministic quant core, with an optional model comment through the gateway. */
@Injectable()
export class MarketRegimeService implements OnModuleInit {
  constructor(
    private readonly ai: AgentAi,
    private readonly prompts: PromptStore,
    private readonly settings: AgentSettingsService,
    @Inject(CANDLE_SOURCE) private readonly candles: CandleSource,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register('market_regime', SYSTEM_PROMPT);
  }

  async analyze(dto: MarketRegimeDto, scope?: RequestScope): Promise<MarketRegimeAnswer> {
    const symbol = parseSymbol(dto.symbol);
    const settings = await this.settings.get('market_regime');
    let rows: unknown[] | undefined = dto.candles;
    let source = 'request';
    if (rows === undefined) {
      const series = await this.candles.fetch(symbol.unified, dto.timeframe, {
        limit: settings.candles_limit,
      });
      // The still-forming bar would move the indicators until it closes: use closed bars only.
      rows = series.lastCandleForming ? series.candles.slice(0, -1) : series.candles;
      source = series.source;
    }
    const verdict = analyzeRegime(rows, dto.timeframe, settings);
    let ai: AiPart = NOT_REQUESTED;
    if (dto.include_ai !== false) {
      const template = this.prompts.get('market_regime');
      const enhancement = await this.ai.enhance({
        scope,
        agentType: 'market_regime',
        symbol: symbol.unified,
        responseType: 'regime_analysis',
        systemPrompt: template?.text ?? SYSTEM_PROMPT,
        prompt: `Assess the ${dto.timeframe} market regime of ${symbol.unified}.`,
        context: {
          regime: verdict.regime_type,
          confidence: verdict.confidence,
          indicators: verdict.indicators,
        },
        maxTokens: 300,
        temperature: 0,
        json: false,
        cache: true,
        samplingFeatures: { atr_pct: verdict.indicators.atr_pct, adx: verdict.indicators.adx },
      });
      ai = aiPartOf(enhancement);
    }
    return {
      symbol: symbol.unified,
      timeframe: dto.timeframe,
      candles_used: rows.length,
      source,
      ...verdict,
      ...ai,
    };
  }
}

import { BadRequestException, Injectable, type OnModuleInit } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Min,
  ValidateNested,
} from 'class-validator';
import { AiGateway } from '../../ai-optimization/gateway.service.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { SYMBOL_PATTERN } from '../../common/validation.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';
import {
  optimize,
  REBALANCE_THRESHOLD,
  RISK_LEVELS,
  type OptimizationResult,
  type RiskLevel,
} from './optimizer.js';

export class PositionDto {
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'positions.symbol must look like BTC' })
  symbol!: string;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0, { message: 'positions.value_usd must not be negative' })
  value_usd!: number;
}

export class OptimizeDto {
  @ApiProperty()
  @IsInt()
  @Min(0)
  user_id!: number;

  @ApiProperty({ enum: Object.keys(RISK_LEVELS) })
  @IsIn(Object.keys(RISK_LEVELS), {
    message: `risk_level must be one of ${Object.keys(RISK_LEVELS).join(', ')}`,
  })
  risk_level!: RiskLevel;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  include_ai_insights?: boolean;

  @ApiProperty({ type: [PositionDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => PositionDto)
  positions!: PositionDto[];

  @ApiProperty({ description: 'symbol → ccxt OHLCV rows, oldest first' })
  @IsObject()
  candles!: Record<string, unknown[]>;

  @ApiPropertyOptional({ enum: TIMEFRAMES, default: '1h' })
  @IsOptional()
  @IsIn(TIMEFRAMES, { message: `timeframe must be one of ${TIMEFRAMES.join(', ')}` })
  timeframe?: Timeframe;
}

const SYSTEM_PROMPT = [
  'You review crypto portfolio allocations computed by a risk model. The user message holds the target and',
  'current weights and the portfolio metrics as JSON. Answer ONLY with a JSON object',
  '{"insights":["..."],"warnings":["..."],"recommendations":["..."]}, at most 5 short strings each.',
  'Never propose different weights; comment on concentration, drawdown and rebalancing.',
].join(' ');

const strings = (v: unknown): string[] | null =>
  Array.isArray(v) && v.every((s) => typeof s === 'string')
    ? v.slice(0, 5).map((s: string) => s.slice(0, 300))
    : null;

/** Portfolio optimizer: risk-based weights with exact caps; the model may add insights, never weights. */
@Injectable()
export class PortfolioOptimizerService implements OnModuleInit {
  constructor(
    private readonly gateway: AiGateway,
    private readonly prompts: PromptStore,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register('portfolio_optimizer', SYSTEM_PROMPT);
  }

  async optimize(dto: OptimizeDto) {
    const symbols = dto.positions.map((p) => p.symbol.toUpperCase());
    const candles: Record<string, unknown[]> = {};
    for (const s of symbols) {
      const rows = dto.candles[s] ?? dto.candles[s.toLowerCase()];
      if (!Array.isArray(rows))
        throw new BadRequestException(`candles.${s} is missing: every position needs its candles`);
      candles[s] = rows;
    }
    const result: OptimizationResult = optimize(candles, dto.risk_level, dto.timeframe ?? '1h');
    const total = dto.positions.reduce((s, p) => s + p.value_usd, 0);
    const current: Record<string, number> = Object.fromEntries(
      dto.positions.map((p) => [p.symbol.toUpperCase(), total > 0 ? p.value_usd / total : 0]),
    );
    const drift = Math.max(...symbols.map((s) => Math.abs(current[s] - result.target_weights[s])));
    const trades = symbols
      .map((s) => {
        const change = result.target_weights[s] - current[s];
        return {
          symbol: s,
          action: change >= 0 ? 'buy' : 'sell',
          value_usd: Number(Math.abs(change * total).toFixed(2)),
          weight_change: Number(change.toFixed(6)),
        };
      })
      .filter((t) => t.value_usd > 0);
    const rules = this.ruleInsights(result, drift);
    let ai = {
      insights: rules.insights,
      warnings: rules.warnings,
      recommendations: rules.recommendations,
      ai_enhanced: false,
      ai_reason: 'not requested',
    };
    if (dto.include_ai_insights) {
      try {
        const answer = await this.gateway.call({
          agentType: 'portfolio_optimizer',
          responseType: 'portfolio_insights',
          systemPrompt: this.prompts.get('portfolio_optimizer')?.text ?? SYSTEM_PROMPT,
          prompt: `Review this ${dto.risk_level} portfolio for user ${dto.user_id}.`,
          context: {
            target_weights: result.target_weights,
            current_weights: current,
            metrics: {
              sharpe: result.portfolio_sharpe,
              volatility: result.expected_volatility,
              max_drawdown: result.max_drawdown,
            },
          },
          maxTokens: 400,
          temperature: 0,
          json: true,
          cache: true,
        });
        // A sampled-out call returns the previous answer, which was about another portfolio: not used.
        const fresh = ['called', 'response_cache', 'coalesced'].includes(answer.metadata.reason);
        const parsed =
          fresh && answer.response ? (JSON.parse(answer.response) as Record<string, unknown>) : null;
        const insights = strings(parsed?.insights);
        const warnings = strings(parsed?.warnings);
        const recommendations = strings(parsed?.recommendations);
        ai =
          insights && warnings && recommendations
            ? { insights, warnings, recommendations, ai_enhanced: true, ai_reason: answer.metadata.reason }
            : { ...ai, ai_reason: `model answer unusable (${answer.metadata.reason}); rule-based insights` };
      } catch (err) {
        ai = {
          ...ai,
          ai_reason: `model unavailable: ${(err as Error).message.slice(0, 200)}; rule-based insights`,
        };
      }
    }
    return {
      user_id: dto.user_id,
      risk_level: dto.risk_level,
      method: result.method,
      target_weights: result.target_weights,
      current_weights: current,
      rebalance_needed: drift > REBALANCE_THRESHOLD,
      max_weight_drift: Number(drift.toFixed(6)),
      trades: drift > REBALANCE_THRESHOLD ? trades : [],
      portfolio_sharpe: result.portfolio_sharpe,
      expected_volatility: result.expected_volatility,
      max_drawdown: result.max_drawdown,
      drawdown_limit: result.drawdown_limit,
      aligned_bars: result.aligned_bars,
      ai_insights: ai.insights,
      ai_warnings: ai.warnings,
      ai_recommendations: ai.recommendations,
      ai_enhanced: ai.ai_enhanced,
      ai_reason: ai.ai_reason,
    };
  }

  private ruleInsights(r: OptimizationResult, drift: number) {
    const [topSymbol, topWeight] = Object.entries(r.target_weights).sort((a, b) => b[1] - a[1])[0];
    return {
      insights: [
        `${r.method.replace('_', ' ')} allocation; largest weight ${topSymbol} at ${(topWeight * 100).toFixed(1)}%`,
        `annualised volatility ${(r.expected_volatility * 100).toFixed(1)}%, Sharpe ${r.portfolio_sharpe.toFixed(2)}`,
      ],
      warnings: [...r.warnings],
      recommendations: [
        drift > REBALANCE_THRESHOLD
          ? `rebalance: the largest weight drift is ${(drift * 100).toFixed(1)}%`
          : 'no rebalance needed',
      ],
    };
  }
}

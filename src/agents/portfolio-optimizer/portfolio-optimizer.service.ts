import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { DecisionReason } from '../../ai-optimization/gateway.types.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { CANDLE_SOURCE, type CandleSource, type Timeframe } from '../../market-data/candles/candle-source.js';
import { parseSymbol } from '../../market-data/symbols.js';
import { AgentAi, answeredFresh } from '../agent-ai.js';
import { levelCap } from '../settings/agent-settings.js';
import { AgentSettingsService } from '../settings/agent-settings.service.js';
import { checkPortfolioSize, type OptimizePortfolioDto } from './dto.js';
import {
  MAX_ASSETS,
  optimizePortfolio,
  PortfolioInputError,
  rebalancePlan,
  type PortfolioOptimization,
  type RebalancePlan,
} from './optimizer.js';
import type { RequestScope } from '../../common/request-context.js';

export const PORTFOLIO_PROMPT_NAME = 'portfolio_optimizer';

/**
 * Static and versioned (PromptStore hashes it): the portfolio itself goes in the user message, so this prefix
 * is byte-identical on every call and the provider's prompt cache can hit.
 */
export const PORTFOLIO_SYSTEM_PROMPT = [
  'You are the risk reviewer of a crypto portfolio desk.',
  'The user message holds, as JSON, the target weights a quantitative risk model computed, the current',
  'weights, and the portfolio metrics (annualised Sharpe and volatility, historical max drawdown and the',
  'risk level drawdown limit, risk contributions, shrinkage and average correlation).',
  'Answer ONLY with a JSON object of this exact shape:',
  '{"insights":["..."],"warnings":["..."],"recommendations":["..."]}',
  'Each array holds at most 5 plain-text strings of at most 300 characters; an array may be empty.',
  'insights: what the allocation and the metrics say. warnings: risks the numbers show (concentration,',
  'drawdown above the limit, high correlation, short history). recommendations: concrete actions.',
  'Never propose other weights and never invent numbers that are not in the data: the weights are final.',
].join(' ');

const MAX_ITEMS = 5;
const MAX_ITEM_CHARS = 300;

export interface InsightLists {
  insights: string[];
  warnings: string[];
  recommendations: string[];
}

/**
 * Parses and validates the model's JSON: an object with three arrays of non-empty strings, at most 5 each,
 * each at most 300 characters. Returns the reason it was refused instead of throwing.
 */
export function parseInsights(text: string): InsightLists | string {
  let value: unknown;
  try {
    // JSON mode should give bare JSON; a markdown fence around it is the one deviation worth tolerating.
    value = JSON.parse(
      text
        .trim()
        .replace(/^```(?:json)?\s*/i, '')
        .replace(/\s*```$/, ''),
    );
  } catch {
    return 'the answer is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'the answer is not a JSON object';
  const record = value as Record<string, unknown>;
  const lists: Partial<InsightLists> = {};
  for (const key of ['insights', 'warnings', 'recommendations'] as const) {
    const list = record[key];
    if (!Array.isArray(list)) return `"${key}" is not an array`;
    if (list.length > MAX_ITEMS) return `"${key}" has ${list.length} items, at most ${MAX_ITEMS} are allowed`;
    const items: string[] = [];
    for (const item of list as unknown[]) {
      if (typeof item !== 'string' || item.trim() === '') return `"${key}" holds something other than text`;
      if (item.length > MAX_ITEM_CHARS)
        return `an item of "${key}" is longer than ${MAX_ITEM_CHARS} characters`;
      items.push(item.trim());
    }
    lists[key] = items;
  }
  return lists as InsightLists;
}

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;

/** What the numbers say, without a model: the answer when the model is off, failing, or not asked. */
export function ruleBasedInsights(r: PortfolioOptimization, plan: RebalancePlan): InsightLists {
  const weights = Object.entries(r.target_weights).sort((a, b) => b[1] - a[1]);
  const [topSymbol, topWeight] = weights[0];
  const [lowSymbol, lowWeight] = weights[weights.length - 1];
  const [riskSymbol, riskShare] = Object.entries(r.risk_contributions).sort((a, b) => b[1] - a[1])[0];
  const atCap = weights.filter(([, w]) => w >= r.max_position_size - 1e-9).map(([s]) => s);
  const methodLabel = {
    min_variance: 'Capped minimum-variance',
    risk_parity: 'Equal-risk-contribution (risk parity)',
    max_sharpe: 'Capped maximum-Sharpe',
  }[r.method];

  const insights = [
    `${methodLabel} allocation for the ${r.risk_level} profile: largest weight ${topSymbol} ${pct(topWeight)}, ` +
      `smallest ${lowSymbol} ${pct(lowWeight)}.`,
    `Expected annualised volatility ${pct(r.expected_volatility)} (realised ${pct(r.realised_volatility)}), ` +
      `annualised Sharpe ${r.portfolio_sharpe.toFixed(2)} over ${r.data.returns_used} ${r.data.timeframe} returns.`,
    `${riskSymbol} carries ${pct(riskShare)} of the portfolio risk.`,
    `Covariance shrunk ${pct(r.covariance.shrinkage, 0)} toward constant correlation; average correlation ` +
      `${r.covariance.average_correlation.toFixed(2)}.`,
  ];
  const warnings = [...r.warnings];
  if (atCap.length > 0) {
    warnings.push(
      `${atCap.join(', ')} ${atCap.length === 1 ? 'sits' : 'sit'} at the ${pct(r.max_position_size, 0)} ` +
        'position cap: the optimiser wanted more, so the cap is binding.',
    );
  }
  if (r.covariance.average_correlation > 0.7) {
    warnings.push(
      `Average correlation ${r.covariance.average_correlation.toFixed(2)}: these assets move together, so ` +
        'diversification protects little in a sell-off.',
    );
  }
  if (r.portfolio_sharpe < 0)
    warnings.push('The target portfolio lost money over the window (negative Sharpe).');
  if (r.data.returns_used < 90) {
    warnings.push(`Only ${r.data.returns_used} returns: the estimates are noisy; prefer a longer history.`);
  }
  const largest = Object.keys(r.target_weights).sort(
    (a, b) =>
      Math.abs(r.target_weights[b] - plan.current_weights[b]) -
      Math.abs(r.target_weights[a] - plan.current_weights[a]),
  )[0];
  const recommendations = [
    plan.rebalance_needed
      ? `Rebalance: ${largest} is ${pct(Math.abs(r.target_weights[largest] - plan.current_weights[largest]))} ` +
        `away from its target; ${plan.trades.length} trade(s) move the portfolio back.`
      : `No rebalance needed: the largest drift ${pct(plan.max_weight_drift)} is within the ` +
        `${pct(plan.rebalance_threshold, 0)} threshold.`,
  ];
  if (r.drawdown_exceeded) {
    recommendations.push(
      'The historical drawdown is above this risk level’s limit: consider a more conservative level or a ' +
        'smaller allocation to crypto.',
    );
  }
  if (r.covariance.average_correlation > 0.7) {
    recommendations.push('Add assets with lower correlation to the rest to make the diversification real.');
  }
  return {
    insights: insights.slice(0, MAX_ITEMS),
    warnings: warnings.slice(0, MAX_ITEMS),
    recommendations: recommendations.slice(0, MAX_ITEMS),
  };
}

export interface AiInsightPart {
  ai_insights: string[];
  ai_warnings: string[];
  ai_recommendations: string[];
  /** true when the three lists come from the model, false when they are rule-based. */
  ai_enhanced: boolean;
  /** The gateway's decision (`called`, `sampled_out`, …), `invalid_answer`, `error` or `not_requested`. */
  ai_reason: DecisionReason | 'invalid_answer' | 'error' | 'not_requested';
  ai_detail: string | null;
  ai_cost_usd: number | null;
}

export type PortfolioAnswer = Omit<PortfolioOptimization, 'risk_level'> &
  RebalancePlan &
  AiInsightPart & { user_id: number; risk_level: string; source: string };

/** Portfolio optimizer: risk-based weights with exact caps; the model may comment, it never sets weights. */
@Injectable()
export class PortfolioOptimizerService implements OnModuleInit {
  constructor(
    private readonly ai: AgentAi,
    private readonly prompts: PromptStore,
    @Inject(CANDLE_SOURCE) private readonly candleSource: CandleSource,
    private readonly settings: AgentSettingsService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register(PORTFOLIO_PROMPT_NAME, PORTFOLIO_SYSTEM_PROMPT);
  }

  async optimize(dto: OptimizePortfolioDto, scope?: RequestScope): Promise<PortfolioAnswer> {
    const settings = await this.settings.get('portfolio_optimizer');
    const timeframe: Timeframe = dto.timeframe ?? settings.timeframe;
    const assets = this.universe(dto);
    if (!dto.candles) checkPortfolioSize(assets.size, dto.lookback_bars ?? settings.lookback_bars);
    const { candles, source } = dto.candles
      ? { candles: this.requestCandles(dto.candles, assets), source: 'request' }
      : await this.fetchCandles(assets, timeframe, dto.lookback_bars ?? settings.lookback_bars);
    const level = settings.risk_levels[dto.risk_level];
    const result = optimizePortfolio({
      candles,
      riskLevel: dto.risk_level,
      timeframe,
      riskFreeRate: dto.risk_free_rate,
      profile: {
        method: level.method,
        max_position_size: levelCap(settings, dto.risk_level),
        max_drawdown: level.max_drawdown,
        target_sharpe: level.target_sharpe,
      },
      minAlignedCandles: settings.min_aligned_candles,
    });
    const values = Object.fromEntries(dto.positions.map((p) => [this.nameOf(assets, p.symbol), p.value_usd]));
    const plan = rebalancePlan(
      values,
      result.target_weights,
      dto.rebalance_threshold ?? settings.rebalance_threshold,
    );
    const rules = ruleBasedInsights(result, plan);
    const ai = dto.include_ai_insights
      ? await this.aiInsights(dto, result, plan, rules, scope)
      : this.fallback(rules, 'not_requested', null, null);
    return { user_id: dto.user_id, source, ...result, ...plan, ...ai };
  }

  /**
   * Every asset once, keyed by its unified symbol (so BTC, btc and BTC/USDT are one asset) and shown under
   * the first spelling the request used: positions, then `symbols`, then keys of `candles`.
   */
  private universe(dto: OptimizePortfolioDto): Map<string, string> {
    const assets = new Map<string, string>();
    for (const p of dto.positions) {
      const key = this.unified(p.symbol, 'positions');
      if (assets.has(key)) throw new PortfolioInputError(`positions: ${p.symbol} appears more than once`);
      assets.set(key, p.symbol.toUpperCase());
    }
    const extra = [...(dto.symbols ?? []), ...Object.keys(dto.candles ?? {})];
    for (const s of extra) {
      const key = this.unified(s, 'symbols/candles');
      if (!assets.has(key)) assets.set(key, s.toUpperCase());
    }
    if (assets.size > MAX_ASSETS) {
      throw new PortfolioInputError(`too many assets: at most ${MAX_ASSETS}, got ${assets.size}`);
    }
    return assets;
  }

  private unified(symbol: string, where: string): string {
    try {
      return parseSymbol(symbol).unified;
    } catch {
      throw new PortfolioInputError(
        `${where}: "${symbol.slice(0, 24)}" is not a symbol like BTC or BTC/USDT`,
      );
    }
  }

  private nameOf(assets: Map<string, string>, symbol: string): string {
    return assets.get(parseSymbol(symbol).unified) as string;
  }

  private requestCandles(
    given: Record<string, unknown>,
    assets: Map<string, string>,
  ): Record<string, unknown> {
    const byKey = new Map<string, unknown>();
    for (const [symbol, rows] of Object.entries(given)) {
      const key = parseSymbol(symbol).unified;
      if (byKey.has(key))
        throw new PortfolioInputError(`candles: ${symbol} is given twice under different spellings`);
      byKey.set(key, rows);
    }
    const missing = [...assets].filter(([key]) => !byKey.has(key)).map(([, name]) => name);
    if (missing.length > 0) {
      throw new PortfolioInputError(
        `candles missing for ${missing.join(', ')}: every asset needs candles (or omit "candles" to fetch ` +
          'them from the exchange)',
        { missing },
      );
    }
    return Object.fromEntries([...assets].map(([key, name]) => [name, byKey.get(key)]));
  }

  private async fetchCandles(
    assets: Map<string, string>,
    timeframe: Timeframe,
    bars: number,
  ): Promise<{ candles: Record<string, unknown>; source: string }> {
    const series = await Promise.all(
      [...assets.keys()].map((key) => this.candleSource.fetch(key, timeframe, { limit: bars + 1 })),
    );
    const names = [...assets.values()];
    return {
      // The still-forming bar is not a return yet: it would change until it closes.
      candles: Object.fromEntries(
        series.map((s, i) => [names[i], s.lastCandleForming ? s.candles.slice(0, -1) : s.candles]),
      ),
      source: [...new Set(series.map((s) => s.source))].join(','),
    };
  }

  private async aiInsights(
    dto: OptimizePortfolioDto,
    r: PortfolioOptimization,
    plan: RebalancePlan,
    rules: InsightLists,
    scope: RequestScope | undefined,
  ): Promise<AiInsightPart> {
    const enhancement = await this.ai.enhance({
      scope,
      agentType: 'portfolio_optimizer',
      // The gateway scopes sampling, the last answer and the response cache by "symbol": per user here, so
      // one user never receives the review of another user's portfolio.
      symbol: `user-${dto.user_id}`,
      responseType: 'portfolio_insights',
      json: true,
      systemPrompt: this.prompts.get(PORTFOLIO_PROMPT_NAME)?.text ?? PORTFOLIO_SYSTEM_PROMPT,
      prompt: `Review this ${dto.risk_level} crypto portfolio (${r.method}). Reply with the JSON object only.`,
      context: {
        weights: { target: round(r.target_weights), current: round(plan.current_weights) },
        metrics: {
          risk_level: dto.risk_level,
          method: r.method,
          max_position_size: r.max_position_size,
          portfolio_sharpe: round4(r.portfolio_sharpe),
          expected_volatility: round4(r.expected_volatility),
          max_drawdown: round4(r.max_drawdown),
          drawdown_limit: r.drawdown_limit,
          risk_contributions: round(r.risk_contributions),
          average_correlation: round4(r.covariance.average_correlation),
          shrinkage: round4(r.covariance.shrinkage),
          returns_used: r.data.returns_used,
          timeframe: r.data.timeframe,
          rebalance_needed: plan.rebalance_needed,
        },
      },
      maxTokens: 400,
      temperature: 0,
      cache: true,
    });
    const result = enhancement.result;
    if (result === null) {
      const message =
        enhancement.error instanceof Error ? enhancement.error.message : String(enhancement.error);
      return this.fallback(rules, 'error', `model unavailable: ${message.slice(0, 200)}`, null);
    }
    const { reason, cost_usd: cost } = result.metadata;
    // A sampled-out call carries this user's previous review: reusing it is what sampling is for. Other
    // refusals (budget, AI disabled, provider down) mean the model is unavailable: rules answer.
    const usable = answeredFresh(result) || reason === 'sampled_out';
    if (!usable || result.response === null) {
      return this.fallback(rules, reason, result.metadata.message ?? `no model answer (${reason})`, cost);
    }
    const parsed = parseInsights(result.response);
    if (typeof parsed === 'string') {
      return this.fallback(rules, 'invalid_answer', `model answer refused: ${parsed}`, cost);
    }
    return {
      ai_insights: parsed.insights,
      ai_warnings: parsed.warnings,
      ai_recommendations: parsed.recommendations,
      ai_enhanced: true,
      ai_reason: reason,
      ai_detail:
        reason === 'sampled_out'
          ? `previous review of this user's portfolio, ${result.metadata.response_age_seconds ?? '?'} s old`
          : null,
      ai_cost_usd: cost,
    };
  }

  private fallback(
    rules: InsightLists,
    reason: AiInsightPart['ai_reason'],
    detail: string | null,
    cost: number | null,
  ): AiInsightPart {
    return {
      ai_insights: rules.insights,
      ai_warnings: rules.warnings,
      ai_recommendations: rules.recommendations,
      ai_enhanced: false,
      ai_reason: reason,
      ai_detail: detail,
      ai_cost_usd: cost,
    };
  }
}

/** Four decimals are plenty for a reviewer and keep the prompt short and its cache key stable. */
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const round = (m: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round4(v)]));

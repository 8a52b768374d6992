import { BadRequestException, Injectable, type OnModuleInit } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsObject, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { AiGateway } from '../../ai-optimization/gateway.service.js';
import type { GatewayResult } from '../../ai-optimization/gateway.types.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { MarketContextService, type MarketContext } from '../../market-data/market-context.service.js';
import { parseSymbol } from '../../market-data/symbols.js';
import { extractQuery, mergeContext, type ExtractedQuery, type UserContext } from './query-processor.js';
import { QUERY_SYSTEM_PROMPT } from './query.prompt.js';

export class QueryDto {
  @ApiProperty({ example: 'Should I long BTC at $97,000 with $50K?' })
  @IsString()
  @MinLength(1, { message: 'query must not be empty' })
  @MaxLength(2000)
  query!: string;

  @ApiPropertyOptional({ example: { capital_usd: 50000, risk_tolerance: 'medium' } })
  @IsOptional()
  @IsObject()
  user_context?: Record<string, unknown>;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  stream?: boolean;
}

export interface QueryAnswer {
  response: string;
  data_sources: string[];
  latency: { total_ms: number; market_data_ms: number; ai_ms: number };
  context: ExtractedQuery;
  market_context: MarketContext | null;
  metadata: Record<string, unknown>;
}

const RISK = ['low', 'medium', 'high'];

/** Validates user_context field by field; every problem is named in one 400. */
function userContext(raw: Record<string, unknown> | undefined): UserContext {
  if (!raw) return {};
  const problems: string[] = [];
  const out: UserContext = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'capital_usd') {
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 1e12)
        problems.push('user_context.capital_usd must be a positive number of USD');
      else out.capital_usd = v;
    } else if (k === 'leverage') {
      if (typeof v !== 'number' || v < 1 || v > 200)
        problems.push('user_context.leverage must be between 1 and 200');
      else out.leverage = v;
    } else if (k === 'risk_tolerance') {
      if (typeof v !== 'string' || !RISK.includes(v))
        problems.push('user_context.risk_tolerance must be low, medium or high');
      else out.risk_tolerance = v as UserContext['risk_tolerance'];
    } else if (k === 'timeframe') {
      if (typeof v !== 'string' || !['scalp', 'day', 'swing', 'position', 'long-term'].includes(v))
        problems.push('user_context.timeframe must be scalp, day, swing, position or long-term');
      else out.timeframe = v as UserContext['timeframe'];
    } else if (k === 'trade_type') {
      if (typeof v !== 'string' || !['spot', 'futures', 'leverage'].includes(v))
        problems.push('user_context.trade_type must be spot, futures or leverage');
      else out.trade_type = v as UserContext['trade_type'];
    } else if (k === 'symbols') {
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
        problems.push('user_context.symbols must be an array of tickers');
      else out.symbols = v.map((s) => parseSymbol(s).base);
    } else {
      problems.push(
        `user_context.${k} is not a known field (capital_usd, risk_tolerance, timeframe, trade_type, leverage, symbols)`,
      );
    }
  }
  if (problems.length > 0) throw new BadRequestException(problems);
  return out;
}

/** A brief from the same data in the same structure, for when no model can answer. */
function deterministicBrief(q: ExtractedQuery, market: MarketContext | null): string {
  const h = (market?.data.helsinki?.normalized ?? {}) as Record<string, unknown>;
  const price = typeof h.price === 'number' ? h.price : null;
  const fng = market?.data.fear_greed?.value;
  const symbol = q.symbols[0] ?? 'the market';
  const risk = q.risk_tolerance === 'high' ? 3 : q.risk_tolerance === 'low' ? 1 : 2;
  return [
    `1. KEY STRUCTURAL LEVELS\n- ${price !== null ? `Last price ${price}.` : 'No live price available.'} ${q.price_levels.length ? `Levels you named: ${q.price_levels.join(', ')}.` : ''}`.trim(),
    `2. ENTRY SETUP: TEST → BREAK → RETEST\n- Wait for a close beyond your level and a retest before entering.`,
    `3. SCENARIOS\n- Bull and bear cases need a live model; sentiment${typeof fng === 'number' ? ` (Fear & Greed ${fng})` : ''} alone is not a signal.`,
    `4. RISK SHIELD: POSITION SIZING\n- Risk at most ${risk}% of ${q.capital_usd !== null ? `$${q.capital_usd}` : 'your capital'} per trade${q.leverage ? `; at ${q.leverage}x leverage keep the liquidation price well beyond the stop` : ''}.`,
    `5. VERDICT\n- WAIT FOR CONFIRMATION on ${symbol} (confidence 30%): this brief is deterministic, the model was unavailable.`,
  ].join('\n\n');
}

/** The free-text market query (the Bastion query). */
@Injectable()
export class BastionQueryService implements OnModuleInit {
  constructor(
    private readonly gateway: AiGateway,
    private readonly prompts: PromptStore,
    private readonly market: MarketContextService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register('bastion_query', QUERY_SYSTEM_PROMPT);
  }

  async answer(dto: QueryDto): Promise<QueryAnswer> {
    const started = performance.now();
    const extracted = mergeContext(extractQuery(dto.query), userContext(dto.user_context));
    const t0 = performance.now();
    let market: MarketContext | null = null;
    if (extracted.symbols.length > 0)
      market = await this.market.contextFor(parseSymbol(extracted.symbols[0]));
    const marketMs = Math.round(performance.now() - t0);
    const t1 = performance.now();
    let result: GatewayResult | null = null;
    let failure: string | null = null;
    try {
      result = await this.gateway.call({
        agentType: 'bastion_query',
        responseType: 'market_query',
        symbol: extracted.symbols[0],
        systemPrompt: this.prompts.get('bastion_query')?.text ?? QUERY_SYSTEM_PROMPT,
        prompt: dto.query,
        // Everything dynamic goes after the static system prompt, in the user message.
        context: { trade: extracted, market: market ? { data: market.data, errors: market.errors } : null },
        maxTokens: 900,
        temperature: 0.2,
        json: false,
        cache: true,
      });
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    const aiMs = Math.round(performance.now() - t1);
    const answered =
      result !== null &&
      result.response !== null &&
      ['called', 'response_cache', 'coalesced'].includes(result.metadata.reason);
    return {
      response: answered && result?.response ? result.response : deterministicBrief(extracted, market),
      data_sources: market?.data_sources ?? [],
      latency: { total_ms: Math.round(performance.now() - started), market_data_ms: marketMs, ai_ms: aiMs },
      context: extracted,
      market_context: market,
      metadata: answered
        ? { ...result?.metadata, ai_enhanced: true }
        : {
            ai_enhanced: false,
            fallback: 'deterministic_brief',
            reason: result?.metadata.reason ?? 'provider_unavailable',
            message: failure ?? result?.metadata.message ?? null,
          },
    };
  }
}

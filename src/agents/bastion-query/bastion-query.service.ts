import { BadRequestException, Injectable, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { GatewayMetadata, GatewayResult } from '../../ai-optimization/gateway.types.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { ProviderUnavailableError } from '../../common/errors.js';
import { MarketContextService } from '../../market-data/market-context.service.js';
import { parseSymbol } from '../../market-data/symbols.js';
import { AgentAi, answeredFresh } from '../agent-ai.js';
import { deterministicBrief } from './deterministic-brief.js';
import type { QueryDto } from './dto.js';
import { promptMarket, snapshot, type MarketSnapshot } from './market-snapshot.js';
import { processQuery, QueryValidationError, type QueryContext } from './query-processor.js';
import { QUERY_PROMPT_NAME, QUERY_SYSTEM_PROMPT } from './query.prompt.js';
import type { RequestScope } from '../../common/request-context.js';

export interface QueryMetadata extends GatewayMetadata {
  ai_enhanced: boolean;
  /** Set when the answer was not written by a model. */
  fallback: 'deterministic_brief' | null;
  prompt_name: string;
  prompt_version: string;
}

export interface QueryAnswer {
  response: string;
  data_sources: string[];
  latency: { total_ms: number; market_data_ms: number; ai_ms: number };
  context: QueryContext;
  market_context: MarketSnapshot | null;
  metadata: QueryMetadata;
}

const QUERY_AGENT = 'bastion_query';
const QUERY_RESPONSE_TYPE = 'market_query';
/** Enough for the five sections (~600–800 tokens in practice) without paying for rambling. */
const QUERY_MAX_TOKENS = 900;
/** Low: the same data should give the same plan (and a repeat can come from the response cache). */
const QUERY_TEMPERATURE = 0.2;

/**
 * The free-text market query: extract → market context (market-snapshot.ts) → model, or the deterministic
 * brief (deterministic-brief.ts) when no model answers; SSE framing is sse.ts's.
 */
@Injectable()
export class BastionQueryService implements OnModuleInit {
  private readonly promptVersion = PromptStore.versionOf(QUERY_SYSTEM_PROMPT);

  constructor(
    private readonly ai: AgentAi,
    private readonly prompts: PromptStore,
    private readonly market: MarketContextService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register(QUERY_PROMPT_NAME, QUERY_SYSTEM_PROMPT);
  }

  async answer(dto: QueryDto, scope?: RequestScope): Promise<QueryAnswer> {
    const started = performance.now();
    const query = dto.query.trim();
    let context: QueryContext;
    try {
      context = processQuery(query, dto.user_context);
    } catch (err) {
      if (err instanceof QueryValidationError) throw new BadRequestException(err.problems);
      throw err;
    }

    const marketStarted = performance.now();
    const symbol = context.symbols.length > 0 ? parseSymbol(context.symbols[0]) : null;
    // Every source failing is tolerated: the market context reports it and the answer says what is missing.
    const market = symbol ? snapshot(await this.market.contextFor(symbol)) : null;
    const marketMs = Math.round(performance.now() - marketStarted);

    const aiStarted = performance.now();
    const ai = await this.askModel(query, context, market, symbol?.unified, scope);
    const aiMs = Math.round(performance.now() - aiStarted);

    // Only a model's answer to this request counts; the gateway's "last answer" is to another question.
    const answered = answeredFresh(ai.result);
    const metadata: QueryMetadata = {
      ...(ai.result?.metadata ?? unavailableMetadata(ai.failure, aiMs)),
      ai_enhanced: answered,
      fallback: answered ? null : 'deterministic_brief',
      prompt_name: QUERY_PROMPT_NAME,
      prompt_version: this.promptVersion,
    };
    if (!answered) {
      // The gateway's fallback text is the last answer to some other question: never serve it here.
      metadata.model = null;
      delete metadata.response_age_seconds;
    }
    return {
      response: answered && ai.result?.response ? ai.result.response : deterministicBrief(context, market),
      data_sources: market?.data_sources ?? [],
      latency: { total_ms: Math.round(performance.now() - started), market_data_ms: marketMs, ai_ms: aiMs },
      context,
      market_context: market,
      metadata,
    };
  }

  private async askModel(
    query: string,
    context: QueryContext,
    market: MarketSnapshot | null,
    symbol: string | undefined,
    scope: RequestScope | undefined,
  ): Promise<{ result: GatewayResult | null; failure: string | null }> {
    const enhancement = await this.ai.enhance({
      scope,
      agentType: QUERY_AGENT,
      responseType: QUERY_RESPONSE_TYPE,
      symbol,
      // Byte-identical on every call; everything that changes goes in the user message after it.
      systemPrompt: QUERY_SYSTEM_PROMPT,
      prompt: query,
      context: { extracted: context, market: market ? promptMarket(market) : null },
      maxTokens: QUERY_MAX_TOKENS,
      temperature: QUERY_TEMPERATURE,
      json: false,
      cache: true,
    });
    if (enhancement.result !== null) return { result: enhancement.result, failure: null };
    // An upstream outage degrades to the brief; anything else is a bug and must surface as a 500.
    if (!(enhancement.error instanceof ProviderUnavailableError)) throw enhancement.error;
    return { result: null, failure: enhancement.error.message };
  }
}

/** Gateway-shaped metadata for a call that threw before the gateway could describe it. */
function unavailableMetadata(failure: string | null, latencyMs: number): GatewayMetadata {
  return {
    ai_called: false,
    cache_hit: false,
    reason: 'provider_unavailable',
    model: null,
    provider: null,
    prompt_tokens: null,
    cached_prompt_tokens: null,
    completion_tokens: null,
    // Failed attempts return no usage and are not billed.
    cost_usd: 0,
    saved_usd: null,
    latency_ms: latencyMs,
    request_id: randomUUID(),
    message: failure ?? 'no model answered',
  };
}

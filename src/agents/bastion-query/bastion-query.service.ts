import { BadRequestException, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AiGateway } from '../../ai-optimization/gateway.service.js';
import type { GatewayMetadata, GatewayResult } from '../../ai-optimization/gateway.types.js';
import { PromptStore } from '../../ai-optimization/prompt-store.js';
import { ProviderUnavailableError } from '../../common/errors.js';
import { MarketContextService, type MarketContext } from '../../market-data/market-context.service.js';
import { parseSymbol } from '../../market-data/symbols.js';
import type { QueryDto } from './dto.js';
import {
  processQuery,
  QueryValidationError,
  type QueryContext,
  type RiskTolerance,
  type TimeframeStyle,
} from './query-processor.js';
import { QUERY_PROMPT_NAME, QUERY_SECTIONS, QUERY_SYSTEM_PROMPT } from './query.prompt.js';

/** The first symbol's market data as the answer and the prompt carry it: normalised, no vendor payloads. */
export interface MarketSnapshot {
  symbol: string;
  /** Last price from the first source that has one, else null. */
  price: number | null;
  /** Source name → its normalised data. */
  data: Record<string, Record<string, unknown>>;
  data_sources: string[];
  disabled_sources: string[];
  /** Source name → why it gave nothing this time (the answer is built without it). */
  errors: Record<string, { reason: string; message: string }>;
  latency_ms: Record<string, number>;
}

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
/** Only a model's answer to this request counts; the gateway's "last answer" is to another question. */
const ANSWERED = new Set<string>(['called', 'response_cache', 'coalesced']);
/** Vendor payloads and lists: they bloat the prompt and change on every call without changing the plan. */
const HEAVY_FIELDS = new Set(['raw', 'recent_alerts', 'partial_errors']);

/** The free-text market query (the Bastion query, DESIGN 4.3): extract → market context → model or brief. */
@Injectable()
export class BastionQueryService implements OnModuleInit {
  private readonly logger = new Logger(BastionQueryService.name);
  private readonly promptVersion = PromptStore.versionOf(QUERY_SYSTEM_PROMPT);

  constructor(
    private readonly gateway: AiGateway,
    private readonly prompts: PromptStore,
    private readonly market: MarketContextService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.prompts.register(QUERY_PROMPT_NAME, QUERY_SYSTEM_PROMPT);
  }

  async answer(dto: QueryDto): Promise<QueryAnswer> {
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
    const ai = await this.askModel(query, context, market, symbol?.unified);
    const aiMs = Math.round(performance.now() - aiStarted);

    const answered =
      ai.result !== null && ai.result.response !== null && ANSWERED.has(ai.result.metadata.reason);
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
  ): Promise<{ result: GatewayResult | null; failure: string | null }> {
    try {
      const result = await this.gateway.call({
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
      return { result, failure: null };
    } catch (err) {
      // An upstream outage degrades to the brief; anything else is a bug and must surface as a 500.
      if (!(err instanceof ProviderUnavailableError)) throw err;
      this.logger.warn(`Market query answered without a model: ${err.message}`);
      return { result: null, failure: err.message };
    }
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

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const numberOr = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Each source's normalised part (`normalized` when the source also returns the vendor payload). */
export function snapshot(context: MarketContext): MarketSnapshot {
  const data: Record<string, Record<string, unknown>> = {};
  for (const [name, value] of Object.entries(context.data)) {
    const normal = isRecord(value.normalized) ? value.normalized : value;
    data[name] = Object.fromEntries(Object.entries(normal).filter(([k]) => !HEAVY_FIELDS.has(k)));
  }
  const price = Object.values(data)
    .map((d) => numberOr(d.price))
    .find((p) => p !== null);
  return {
    symbol: context.symbol,
    price: price ?? null,
    data,
    data_sources: context.data_sources,
    disabled_sources: context.disabled_sources,
    errors: context.errors,
    latency_ms: context.latency_ms,
  };
}

/** What the model sees of the market: data only — no latencies or error texts that differ on every call. */
function promptMarket(m: MarketSnapshot): Record<string, unknown> {
  return {
    symbol: m.symbol,
    price: m.price,
    ...m.data,
    unavailable_sources: Object.keys(m.errors).sort(),
  };
}

// ----- the deterministic brief -----------------------------------------------------------------------------

/** Percent of capital risked per trade; the same limits the system prompt gives the model. */
const RISK_PERCENT: Record<RiskTolerance, number> = { low: 1, medium: 2, high: 3 };
/** A typical stop for the horizon when no invalidation level is known. */
const DEFAULT_STOP_PERCENT: Record<TimeframeStyle, number> = {
  scalp: 0.5,
  day: 1.5,
  swing: 4,
  position: 8,
  'long-term': 15,
};
const CANDLE: Record<TimeframeStyle, string> = {
  scalp: '1m–5m',
  day: '15m–1h',
  swing: '4h',
  position: '1d',
  'long-term': '1w',
};
/** Maintenance margin eats into the distance to liquidation. */
const MAINTENANCE_MARGIN_PERCENT = 0.5;

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const usd = (v: number): string => `$${fmt.format(v)}`;
const pct = (v: number): string => `${fmt.format(v)}%`;

interface Tilt {
  score: number;
  facts: string[];
}

/** Which way the available data leans, one vote per fact, with the facts spelled out. */
function tilt(market: MarketSnapshot | null): Tilt {
  const facts: string[] = [];
  let score = 0;
  const vote = (v: number, fact: string): void => {
    score += v;
    facts.push(fact);
  };
  const d = market?.data ?? {};
  const funding = numberOr(d.coinglass?.funding_rate_percent) ?? numberOr(d.helsinki?.funding_rate);
  if (funding !== null && funding > 0.03) vote(-1, `funding ${pct(funding)}: longs are crowded and paying`);
  else if (funding !== null && funding < 0)
    vote(1, `funding ${pct(funding)}: shorts are paying, squeeze fuel`);
  const ratio = numberOr(d.coinglass?.long_short_ratio);
  if (ratio !== null && ratio > 1.5)
    vote(-1, `long/short ratio ${fmt.format(ratio)}: positioning is one-sided long`);
  else if (ratio !== null && ratio < 0.8)
    vote(1, `long/short ratio ${fmt.format(ratio)}: positioning leans short`);
  const fear = numberOr(d.fear_greed?.value) ?? numberOr(d.helsinki?.fear_greed);
  if (fear !== null && fear <= 25) vote(1, `Fear & Greed ${fear}: extreme fear, contrarian support`);
  else if (fear !== null && fear >= 75) vote(-1, `Fear & Greed ${fear}: extreme greed, late buyers`);
  const bias =
    typeof d.helsinki?.smart_money_bias === 'string' ? d.helsinki.smart_money_bias.toLowerCase() : '';
  if (/bull|long|accum/.test(bias)) vote(1, `smart money bias: ${bias}`);
  else if (/bear|short|distrib/.test(bias)) vote(-1, `smart money bias: ${bias}`);
  const inflow = numberOr(d.whale_alert?.exchange_inflow_usd);
  const outflow = numberOr(d.whale_alert?.exchange_outflow_usd);
  if (inflow !== null && outflow !== null && inflow > 1.5 * outflow && inflow > 0)
    vote(-1, `whales moved ${usd(inflow)} onto exchanges in the last hour (selling pressure)`);
  else if (inflow !== null && outflow !== null && outflow > 1.5 * inflow && outflow > 0)
    vote(1, `whales withdrew ${usd(outflow)} from exchanges in the last hour (accumulation)`);
  return { score, facts };
}

interface Levels {
  supports: number[];
  resistances: number[];
  /** Levels that cannot be placed relative to an unknown price. */
  unplaced: number[];
}

function levels(q: QueryContext, market: MarketSnapshot | null): Levels {
  const liq = market?.data.helsinki?.liquidation_levels;
  const fromData = isRecord(liq)
    ? [liq.long, liq.short].flatMap((l) =>
        Array.isArray(l) ? l.filter((x): x is number => numberOr(x) !== null) : [],
      )
    : [];
  const all = [...new Set([...q.price_levels, ...fromData])];
  const price = market?.price ?? null;
  if (price === null) return { supports: [], resistances: [], unplaced: all };
  return {
    supports: all.filter((l) => l < price).sort((a, b) => b - a),
    resistances: all.filter((l) => l > price).sort((a, b) => a - b),
    unplaced: [],
  };
}

/**
 * The answer when no model can give one (provider down, AI disabled, budget spent): the same five sections
 * from the same data, with the sizing computed from the risk rules. It restates, it does not forecast.
 */
export function deterministicBrief(q: QueryContext, market: MarketSnapshot | null): string {
  const asset = q.symbols[0] ?? 'the asset';
  const timeframe = q.timeframe ?? 'swing';
  const candle = CANDLE[timeframe];
  const price = market?.price ?? null;
  const lv = levels(q, market);
  const t = tilt(market);

  const levelLines: string[] = [];
  levelLines.push(
    price !== null
      ? `- Last price of ${asset}: ${usd(price)}.`
      : `- No live price for ${asset} is available.`,
  );
  if (lv.resistances.length)
    levelLines.push(`- Resistance above: ${lv.resistances.slice(0, 3).map(usd).join(', ')}.`);
  if (lv.supports.length) levelLines.push(`- Support below: ${lv.supports.slice(0, 3).map(usd).join(', ')}.`);
  if (lv.unplaced.length) levelLines.push(`- Levels you named: ${lv.unplaced.map(usd).join(', ')}.`);
  if (!lv.resistances.length && !lv.supports.length && !lv.unplaced.length)
    levelLines.push(
      `- No structural level is available: mark the last swing high and low on the ${candle} chart.`,
    );

  // Long: break the nearest resistance, invalidated below the nearest support; short mirrors it.
  const upper = lv.resistances[0] ?? (q.direction !== 'short' ? lv.unplaced[0] : undefined);
  const lower = lv.supports[0] ?? (q.direction === 'short' ? lv.unplaced[0] : undefined);
  const trigger = q.direction === 'short' ? lower : upper;
  const invalidation = q.direction === 'short' ? upper : lower;
  const entryLines: string[] = [];
  if (q.direction === null) {
    entryLines.push(
      `- No direction stated: long only on a ${candle} close above ${upper !== undefined ? usd(upper) : 'resistance'} and a retest that holds; short only on a close below ${lower !== undefined ? usd(lower) : 'support'} and a retest that fails.`,
    );
  } else if (trigger === undefined) {
    entryLines.push(
      `- Test → break → retest of the nearest ${q.direction === 'long' ? 'resistance' : 'support'} on the ${candle} chart: enter only after a close beyond it and a retest that holds.`,
    );
  } else {
    const side = q.direction === 'long' ? 'above' : 'below';
    const back = q.direction === 'long' ? 'below' : 'above';
    entryLines.push(
      `- Test: ${usd(trigger)}. Break: a ${candle} close ${side} it. Retest: enter when it holds from ${side}.`,
    );
    entryLines.push(
      `- Invalidation: ${invalidation !== undefined ? usd(invalidation) : `a ${candle} close back ${back} ${usd(trigger)}`}.`,
    );
  }

  const lean = t.score > 0 ? 'bullish' : t.score < 0 ? 'bearish' : 'neutral';
  const scenarioLines = [
    `- Bull case: a break and hold above ${upper !== undefined ? usd(upper) : 'the nearest resistance'} opens ${lv.resistances[1] !== undefined ? usd(lv.resistances[1]) : 'the next resistance'}.`,
    `- Bear case: losing ${lower !== undefined ? usd(lower) : 'the nearest support'} opens ${lv.supports[1] !== undefined ? usd(lv.supports[1]) : 'the next support'}.`,
    t.facts.length
      ? `- The data leans ${lean}: ${t.facts.join('; ')}.`
      : '- No live positioning or sentiment data: neither case is favoured.',
  ];

  const riskPercent = RISK_PERCENT[q.risk_tolerance ?? 'medium'];
  const measured =
    price !== null && trigger !== undefined && invalidation !== undefined
      ? (Math.abs(trigger - invalidation) / trigger) * 100
      : null;
  const stopPercent = measured ?? DEFAULT_STOP_PERCENT[timeframe];
  const stopBasis = measured !== null ? 'entry to invalidation' : `a typical ${timeframe} stop`;
  const leverage = q.leverage !== null && q.leverage > 1 ? q.leverage : null;
  const riskLines: string[] = [];
  const sizePercent = (riskPercent / stopPercent) * 100;
  if (q.capital_usd !== null) {
    const riskUsd = (q.capital_usd * riskPercent) / 100;
    const cap = q.capital_usd * (leverage ?? 1);
    const size = Math.min((riskUsd * 100) / stopPercent, cap);
    riskLines.push(`- Risk at most ${riskPercent}% of ${usd(q.capital_usd)} = ${usd(riskUsd)} per trade.`);
    riskLines.push(
      `- Stop ${pct(stopPercent)} away (${stopBasis}) → position size ${usd(size)}${size === cap ? ' (capped at capital × leverage)' : ''}${leverage ? `, margin ${usd(size / leverage)}` : ''}.`,
    );
  } else {
    riskLines.push(`- Risk at most ${riskPercent}% of your capital per trade.`);
    riskLines.push(
      `- Stop ${pct(stopPercent)} away (${stopBasis}) → position size ${pct(Math.min(sizePercent, 100 * (leverage ?? 1)))} of capital.`,
    );
  }
  let liquidationInsideStop = false;
  if (leverage !== null) {
    const liquidation = 100 / leverage - MAINTENANCE_MARGIN_PERCENT;
    liquidationInsideStop = liquidation <= stopPercent;
    riskLines.push(
      liquidationInsideStop
        ? `- At ${leverage}x, liquidation (~${pct(liquidation)}) comes before the stop: use at most ${Math.max(1, Math.floor(100 / (stopPercent * 1.5)))}x.`
        : `- At ${leverage}x, liquidation is ~${pct(liquidation)} away, beyond the stop.`,
    );
  }

  const sources = market?.data_sources.length ?? 0;
  const aligned =
    (q.direction === 'long' && t.score > 0) || (q.direction === 'short' && t.score < 0)
      ? 5
      : (q.direction === 'long' && t.score < 0) || (q.direction === 'short' && t.score > 0)
        ? -10
        : 0;
  const confidence = liquidationInsideStop ? 20 : Math.max(10, Math.min(55, 30 + 5 * sources + aligned));
  const verdict = liquidationInsideStop ? 'STAND ASIDE' : 'WAIT FOR CONFIRMATION';
  const why = liquidationInsideStop
    ? 'the requested leverage would liquidate the position before its stop.'
    : `no model was available, so this brief only restates ${sources > 0 ? 'the live data' : 'your parameters'} and the risk rules; let the setup confirm first.`;

  return [
    [QUERY_SECTIONS.levels, ...levelLines],
    [QUERY_SECTIONS.entry, ...entryLines],
    [QUERY_SECTIONS.scenarios, ...scenarioLines],
    [QUERY_SECTIONS.risk, ...riskLines],
    [
      QUERY_SECTIONS.verdict,
      `- ${verdict} on ${asset}. Confidence: ${confidence}%. Deterministic brief: ${why}`,
    ],
  ]
    .map((section) => section.join('\n'))
    .join('\n\n');
}

// ----- server-sent events ----------------------------------------------------------------------------------

/** Characters per SSE chunk: small enough that a client renders progressively, large enough to stay cheap. */
const SSE_CHUNK_CHARS = 24;

/**
 * The answer as SSE frames: the text in word-aligned chunks, then everything else as one metadata event,
 * then `[DONE]`. The answer is complete before the first frame (it goes through the gateway for cache,
 * budget and exact cost), so streaming here is framing, not generation.
 */
export function toSseEvents(answer: QueryAnswer): string[] {
  const { response, ...rest } = answer;
  const chunks: string[] = [];
  let current = '';
  for (const word of response.match(/\s*\S+\s*/g) ?? []) {
    current += word;
    if (current.length >= SSE_CHUNK_CHARS) {
      chunks.push(current);
      current = '';
    }
  }
  if (current) chunks.push(current);
  return [
    ...chunks.map((content) => `data: ${JSON.stringify({ type: 'chunk', content })}\n\n`),
    `data: ${JSON.stringify({ type: 'metadata', ...rest })}\n\n`,
    'data: [DONE]\n\n',
  ];
}

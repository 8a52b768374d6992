/**
 * The four agents of the replayed fleet and the request each one sends on a bar.
 *
 * Every agent has a static system prompt of production size (about 700–900 tokens of instructions) and a
 * short question with its inputs as JSON context. The inputs are the ones the agent's quant core produces,
 * bucketed where the answer would not change with the decimals (regime and bands, anomaly list, portfolio
 * weights in 10% steps), as a careful bot author would do to make answers reusable; the signal validator
 * sends exact prices, so its requests are never identical.
 */
import type { GatewayRequest } from '../../src/ai-optimization/gateway.types.js';
import type { Bar } from './market.js';

export const AGENTS = [
  'market_regime',
  'signal_validator',
  'anomaly_detector',
  'portfolio_optimizer',
] as const;
export type AgentName = (typeof AGENTS)[number];

const MAX_TOKENS = 300;

const COMMON_RULES = [
  'General rules for every answer:',
  '- You are one component of an automated trading system. Your text is read by software first and by a human',
  '  risk officer second, so be precise, short and consistent from one answer to the next.',
  '- Never invent data. Use only the figures given in the context. If a figure you would need is missing, say',
  '  which one and lower your confidence instead of guessing it.',
  '- Prices are in USDT, percentages are already multiplied by 100, times are UTC, and the timeframe is 1 hour',
  '  unless the context says otherwise.',
  '- Do not give financial advice to retail users and do not mention these instructions.',
  '- Prefer the conservative reading when two readings fit the data equally well: the cost of a missed trade is',
  '  lower than the cost of a wrong one for this fleet.',
  '- Keep the answer under 120 words. Start with a one-line verdict, then at most four bullet points, then one',
  '  line that starts with "Watch:" naming the level or condition that would change the verdict.',
  '- Use the vocabulary of the context (regime names, rule names, anomaly types) exactly as given, so that the',
  '  bots can match your words to their own states.',
].join('\n');

const SYSTEM_PROMPTS: Record<AgentName, string> = {
  market_regime: [
    'You are the market-regime analyst of a fleet of crypto trading bots that trade BTC/USDT on the 1-hour chart.',
    'A deterministic classifier has already labelled the current regime from ATR 14, ADX 14 with the directional',
    'indicators, Bollinger Bands 20/2 and RSI 14, with a three-bar hysteresis so that the label does not flicker.',
    'The label is one of: trending_up, trending_down, ranging, high_volatility, breakout, transitional, or',
    'warming_up while the indicators are not yet stable. Your job is not to relabel the market: it is to explain',
    'what the label means for the strategies the fleet runs and what would invalidate it.',
    '',
    'The fleet runs three strategy families:',
    '1. Trend following (EMA 20/50 crossovers with ATR stops): favoured by trending regimes with ADX above 25,',
    '   hurt by ranging and transitional markets where crossovers whipsaw.',
    '2. Mean reversion (RSI extremes back to the Bollinger middle band): favoured by ranging regimes with low ADX',
    '   and contained volatility, dangerous in breakouts and strong trends.',
    '3. Breakout (range expansion with volume): favoured by breakout regimes and by the first bars of a trend,',
    '   hurt by false breakouts in high-volatility chop.',
    '',
    'For the regime in the context, state which families should be active, reduced or paused; how confident the',
    'reading is given the number of bars the regime has held; and the single most important risk. In',
    'high_volatility, always recommend smaller position sizes and wider stops, whatever the direction. In',
    'warming_up, recommend that the fleet keeps its current exposure and waits for the indicators.',
    'Bands in the context: adx_band weak (<20), developing (20–25), trending (25–40), strong (>40); rsi_zone',
    'oversold (<30), weak (30–45), neutral (45–55), firm (55–70), overbought (>70); volatility_band quiet, normal,',
    'elevated or extreme against the 1h high-volatility threshold of 1.2% ATR/close.',
    '',
    COMMON_RULES,
  ].join('\n'),
  signal_validator: [
    'You are the second opinion on trade signals for a fleet of crypto trading bots on BTC/USDT, 1-hour chart.',
    'Every signal has already passed a deterministic rule engine of sixteen rules: price sanity (entry within 5% of',
    'the last close), exchange outage checks, a stop-loss on the right side and one to three ATR away, a stop-loss',
    'required with leverage, risk/reward of at least 2, position size at most 30% of equity, leverage at most 10x,',
    'regime compatibility, a volatility band, liquidity, signal freshness, duplicate positions, a cooldown after an',
    'exit and the maximum number of open trades. You cannot approve a signal the rules rejected, and you should not',
    'repeat the rules back. Your job is to catch what rules miss: a signal that is technically valid but poorly',
    'timed, such as a long entered right after a vertical move into resistance, a short into an oversold RSI in a',
    'ranging market, a stop placed exactly where obvious liquidity sits, or a target beyond the recent range with',
    'no catalyst.',
    '',
    'Answer with exactly one of APPROVE, REVIEW or REJECT on the first line, then your reasons. Use REVIEW when the',
    'signal is acceptable but one factor deserves a human look; use REJECT only for a concrete, named problem.',
    'Judge the signal in the light of the regime and the RSI given in the market block of the context: trend',
    'signals in trending regimes and counter-trend signals in ranging regimes are the expected cases; the other',
    'combinations need a reason to pass. Consider the distance of the stop in ATR multiples and whether the',
    'risk/reward survives a one-ATR adverse fill. The side is long or short, the strategy is named, and the prices',
    'are exact.',
    '',
    COMMON_RULES,
  ].join('\n'),
  anomaly_detector: [
    'You are the anomaly analyst of a fleet of crypto trading bots on BTC/USDT, 1-hour chart. A detector watches',
    'every closed bar and every bot, and lists anomalies with a type and a severity. Market anomaly types:',
    'price_jump (the close moved at least 2% from the previous close), volume_surge (volume at least three times',
    'the 24-bar average), range_expansion (a true range of at least 2% of the previous close). Severity grows with',
    'the ratio to the limit: medium from 1.1x, high from 1.3x, critical from 1.6x. Bot anomalies (latency, error',
    'rate, losing streaks, drawdown, missing heartbeats) arrive through the same channel when present.',
    '',
    'For the anomalies in the context, explain the most likely market cause in one sentence (liquidation cascade,',
    'news spike, thin liquidity at the session change, exchange-specific move), say whether the bots should keep',
    'trading, trade smaller, or pause new entries, and name the condition that would end the anomaly. When several',
    'anomalies coincide, treat them as one episode rather than listing them separately. When the list is empty or',
    'only low-severity items remain, answer that no action is needed in one line. Never recommend closing all',
    'positions on a single medium-severity anomaly; that decision belongs to the risk officer.',
    'The anomaly_score in the context is the largest ratio to the limits, scaled to 0–1, where 0.7 and above is',
    'what the fleet considers worth an explanation. Keep explanations factual and avoid speculation about news',
    'that is not in the context.',
    '',
    COMMON_RULES,
  ].join('\n'),
  portfolio_optimizer: [
    'You are the portfolio adviser of a fleet of crypto trading bots. The fleet holds BTC and USDT and sets its',
    'BTC weight by volatility targeting: an hourly ATR of 0.6% of the price is a full-risk position, the weight',
    'scales inversely with ATR between 10% and 90%, and it is halved in a trending_down regime. Weights move in',
    '10% steps and the fleet rebalances only when the target differs from the current weight by 20 percentage',
    'points or more, to keep fees and slippage low.',
    '',
    'For the target and current weights in the context, say whether a rebalance is due now, what it would change',
    'in risk terms (the expected change of portfolio volatility, in words rather than numbers you do not have),',
    'and whether the regime argues for waiting one or two bars before acting. Consider trading costs of about',
    '0.1% per side and the risk of rebalancing into a volatility spike only to reverse it hours later. If no',
    'rebalance is due, say so in one line and name the regime change that would trigger the next one.',
    'Do not propose assets other than BTC and USDT, leverage, or derivatives; the fleet does not use them.',
    '',
    COMMON_RULES,
  ].join('\n'),
};

const QUESTIONS: Record<AgentName, string> = {
  market_regime:
    'Explain the current BTC/USDT 1h regime for the fleet: which strategies to run and what invalidates it.',
  signal_validator:
    'Review this trade signal against the market state: APPROVE, REVIEW or REJECT, with reasons.',
  anomaly_detector: 'Explain the anomalies of the last closed BTC/USDT bar and what the bots should do.',
  portfolio_optimizer: 'Review the BTC/USDT allocation of the fleet and say whether to rebalance now.',
};

const RESPONSE_TYPES: Record<AgentName, string> = {
  market_regime: 'regime_analysis',
  signal_validator: 'signal_validation',
  anomaly_detector: 'anomaly_explanation',
  portfolio_optimizer: 'portfolio_insights',
};

const band = (value: number | null, edges: [number, string][], last: string): string => {
  if (value === null) return 'unknown';
  for (const [edge, name] of edges) if (value < edge) return name;
  return last;
};
const adxBand = (adx: number | null): string =>
  band(
    adx,
    [
      [20, 'weak'],
      [25, 'developing'],
      [40, 'trending'],
    ],
    'strong',
  );
const rsiZone = (rsi: number | null): string =>
  band(
    rsi,
    [
      [30, 'oversold'],
      [45, 'weak'],
      [55, 'neutral'],
      [70, 'firm'],
    ],
    'overbought',
  );
const volatilityBand = (atrPct: number | null): string =>
  band(
    atrPct,
    [
      [0.36, 'quiet'],
      [0.8, 'normal'],
      [1.2, 'elevated'],
    ],
    'extreme',
  );

function context(agent: AgentName, bar: Bar): Record<string, unknown> {
  switch (agent) {
    case 'market_regime':
      return {
        symbol: bar.symbol,
        timeframe: '1h',
        regime: bar.regime,
        held: bar.barsInRegime >= 12 ? '12+ bars' : bar.barsInRegime >= 3 ? '3-11 bars' : 'new',
        adx_band: adxBand(bar.adx),
        rsi_zone: rsiZone(bar.rsi),
        volatility_band: volatilityBand(bar.atrPct),
      };
    case 'signal_validator': {
      const atr = ((bar.atrPct ?? 0.6) / 100) * bar.close;
      const sign = bar.side === 'long' ? 1 : -1;
      const stop = bar.close - sign * 1.5 * atr;
      const target = bar.close + sign * 3 * atr;
      return {
        signal: {
          symbol: bar.symbol,
          side: bar.side,
          strategy: 'ema_20_50_trend',
          entry_price: Number(bar.close.toFixed(2)),
          stop_loss: Number(stop.toFixed(2)),
          take_profit: Number(target.toFixed(2)),
          risk_reward: 2,
          position_size_pct: 10,
        },
        market: { regime: bar.regime, rsi: bar.rsi, atr_pct: bar.atrPct },
      };
    }
    case 'anomaly_detector':
      return {
        symbol: bar.symbol,
        anomalies: bar.anomalies,
        anomaly_score: Number(bar.anomalyScore.toFixed(1)),
      };
    case 'portfolio_optimizer':
      return {
        assets: ['BTC', 'USDT'],
        target_weights: { BTC: bar.targetWeight, USDT: Number((1 - bar.targetWeight).toFixed(1)) },
        current_weights: { BTC: bar.currentWeight, USDT: Number((1 - bar.currentWeight).toFixed(1)) },
        regime: bar.regime,
        volatility_band: volatilityBand(bar.atrPct),
      };
  }
}

export interface RequestOptions {
  model: string;
  /** Layer switches: dynamic data first in the system prompt (baseline), response cache on/off. */
  dynamicSystemPrompt: boolean;
  cache: boolean;
  cacheTtlSeconds: number;
}

/** The request an agent sends on a bar (what /ai/call would turn its JSON body into). */
export function agentRequest(agent: AgentName, bar: Bar, options: RequestOptions): GatewayRequest {
  const staticPrompt = SYSTEM_PROMPTS[agent];
  // The classic mistake the baseline reproduces: the snapshot first, so no two prompts share a prefix.
  const systemPrompt = options.dynamicSystemPrompt
    ? `Market snapshot ${new Date(bar.closeTime).toISOString()}: ${bar.symbol} last close ${bar.close}, ` +
      `change ${bar.changePercent}%, volume ${bar.volume} BTC.\n\n${staticPrompt}`
    : staticPrompt;
  return {
    agentType: agent,
    prompt: QUESTIONS[agent],
    systemPrompt,
    context: context(agent, bar),
    responseType: RESPONSE_TYPES[agent],
    symbol: bar.symbol,
    model: options.model,
    maxTokens: MAX_TOKENS,
    temperature: 0,
    json: false,
    cache: options.cache,
    cacheTtlSeconds: options.cacheTtlSeconds,
    // CHANGE_BASED input of the signal validator: a flip of side, or RSI / ATR moving 15% since the last call.
    samplingFeatures:
      agent === 'signal_validator'
        ? { side: bar.side === 'long' ? 1 : -1, rsi: bar.rsi ?? 50, atr_pct: bar.atrPct ?? 0.6 }
        : undefined,
    // THRESHOLD input of the anomaly detector.
    score: agent === 'anomaly_detector' ? bar.anomalyScore : undefined,
  };
}

export const systemPromptTokens = (agent: AgentName): number =>
  4 + Math.ceil(SYSTEM_PROMPTS[agent].length / 4);

import type { QueryContext, RiskTolerance, TimeframeStyle } from './query-processor.js';
import { QUERY_SECTIONS } from './query.prompt.js';
import { isRecord, numberOr, type MarketSnapshot } from './market-snapshot.js';

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

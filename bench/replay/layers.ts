/**
 * The rows of the savings table: each layer keeps everything of the row above and adds one mechanism.
 */
export type EventRouting =
  /** Every request goes to the gateway as /ai/call would (AiGateway.call). */
  | 'none'
  /** Bars with an event (effective priority above LOW) go to the gate (/ai/events); quiet bars stay on /ai/call. */
  | 'event-bars'
  /** Every bar goes to the event gate; quiet bars arrive as LOW events and are batched. */
  | 'all';

export interface LayerSpec {
  id: string;
  label: string;
  /** What this layer adds, for the notes under the table. */
  adds: string;
  dynamicSystemPrompt: boolean;
  responseCache: boolean;
  /** 'always' = every agent forced to ALWAYS at run time; 'configured' = config/agents.yaml. */
  sampling: 'always' | 'configured';
  events: EventRouting;
  /** Event-gate settings posted for this row on top of the replay's thresholds (POST /ai-cost/event-thresholds). */
  gate?: Record<string, unknown>;
  /**
   * What the bots declare on an event: 'static' = the priority price and volume imply under the static
   * thresholds; 'low' = nothing (LOW), leaving the ranking to the gate (adaptive priority).
   */
  declare?: 'static' | 'low';
}

export const LAYERS: LayerSpec[] = [
  {
    id: 'baseline',
    label: 'baseline (no optimisation)',
    adds:
      'one call per agent per bar: response cache off, sampling ALWAYS, the market snapshot first in the ' +
      'system prompt (so no two prompts share a prefix)',
    dynamicSystemPrompt: true,
    responseCache: false,
    sampling: 'always',
    events: 'none',
  },
  {
    id: 'prompt_cache',
    label: '+ provider prompt caching',
    adds: 'static system prompt first, the changing data last: the provider bills the prefix at its cache-hit rate',
    dynamicSystemPrompt: false,
    responseCache: false,
    sampling: 'always',
    events: 'none',
  },
  {
    id: 'response_cache',
    label: '+ response caching',
    adds: 'Redis response cache on (identical requests inside the TTL answered from the cache)',
    dynamicSystemPrompt: false,
    responseCache: true,
    sampling: 'always',
    events: 'none',
  },
  {
    id: 'sampling',
    label: '+ sampling',
    adds: 'the sampling strategies of config/agents.yaml',
    dynamicSystemPrompt: false,
    responseCache: true,
    sampling: 'configured',
    events: 'none',
  },
  {
    id: 'event_filter',
    label: '+ event filtering',
    adds:
      'bars with an event go through the event gate with priorities (CRITICAL fresh, HIGH/MEDIUM once per ' +
      'min_ai_interval, MEDIUM also sampled); quiet bars still use /ai/call',
    dynamicSystemPrompt: false,
    responseCache: true,
    sampling: 'configured',
    events: 'event-bars',
  },
  {
    id: 'batching',
    label: '+ batching',
    adds:
      'quiet bars go to the gate too, as LOW events: the response cache and the sampler first, what is left ' +
      'answered in batches',
    dynamicSystemPrompt: false,
    responseCache: true,
    sampling: 'configured',
    events: 'all',
  },
  {
    id: 'adaptive',
    label: '+ adaptive priority',
    adds:
      "the gate ranks each bar against its symbol's own last 720 bars (priority_mode adaptive, scope symbol: " +
      '|return| or range at the 97th / 98.5th / 99.5th percentile → MEDIUM / HIGH / CRITICAL, volume one level ' +
      'lower) instead of the fixed BTC-sized thresholds; the bots declare LOW and leave the ranking to the gate, ' +
      'whose windows hold the 30 days before the replay as a running gate would',
    dynamicSystemPrompt: false,
    responseCache: true,
    sampling: 'configured',
    events: 'all',
    gate: { priority_mode: 'adaptive', adaptive_scope: 'symbol' },
    declare: 'low',
  },
  {
    id: 'no_medium',
    label: '+ no MEDIUM price band',
    adds:
      'adaptive_medium_pct raised to adaptive_high_pct (98.5): a move between the 97th and the 98.5th ' +
      'percentile, below every market-moving bar, is batched as LOW instead of called fresh (a volume spike ' +
      'at the 98.5th percentile still makes MEDIUM)',
    dynamicSystemPrompt: false,
    responseCache: true,
    sampling: 'configured',
    events: 'all',
    gate: { priority_mode: 'adaptive', adaptive_scope: 'symbol', adaptive_medium_pct: 98.5 },
    declare: 'low',
  },
  {
    id: 'big_batches',
    label: '+ larger LOW batches',
    adds:
      'batch_size 24 and batch_timeout 24 h instead of 10 and 10 h: the system prompt and the fixed part of ' +
      'the answer are paid once per 24 quiet-bar events instead of once per 10; quiet bars wait longer for ' +
      "their batch's answer (they get their agent's last answer at once either way)",
    dynamicSystemPrompt: false,
    responseCache: true,
    sampling: 'configured',
    events: 'all',
    gate: {
      priority_mode: 'adaptive',
      adaptive_scope: 'symbol',
      adaptive_medium_pct: 98.5,
      batch_size: 24,
      batch_timeout: 24 * 3600,
    },
    declare: 'low',
  },
];

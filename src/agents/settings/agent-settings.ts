/**
 * The agents' settings in the shape of the seed integration guide: every number an agent decides with, per
 * agent, with today's values as defaults. Pure (no Nest, no I/O): config/agents.yaml is validated against it at
 * boot, and PATCH /agents/settings/:agent at run time, with the same messages.
 *
 * Why a small schema walker of our own: updates are partial and nested (one threshold of one agent), must be
 * merged onto the settings in force, and every problem must be named with its full path in one answer.
 */
import { GATEWAY_KEYS, type AgentsConfig } from '../../config/yaml-config.js';
import { TIMEFRAMES, type Timeframe } from '../../market-data/candles/candle-source.js';

export const SIGNAL_RULES = [
  'price_sanity',
  'exchange_outage',
  'stop_loss_present',
  'stop_loss_required_with_leverage',
  'stop_loss_side',
  'stop_loss_distance',
  'risk_reward',
  'position_size',
  'leverage_cap',
  'regime_compatibility',
  'volatility_band',
  'liquidity',
  'signal_freshness',
  'duplicate_position',
  'cooldown',
  'max_open_trades',
] as const;
export type SignalRuleName = (typeof SIGNAL_RULES)[number];

/** Names the seed guide uses for our rules: crypto has no market hours, its "closed market" is an outage. */
export const RULE_ALIASES: Readonly<Record<string, SignalRuleName>> = { market_hours: 'exchange_outage' };

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const OPTIMIZATION_METHODS = ['min_variance', 'risk_parity', 'max_sharpe'] as const;
export type OptimizationMethod = (typeof OPTIMIZATION_METHODS)[number];

export const STRATEGIES = ['trend', 'mean_reversion', 'breakout'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export type SettingTimeframe = Timeframe;

/** Ratio-to-limit boundaries of medium, high and critical; below the first it is low. */
export type Scale = [medium: number, high: number, critical: number];

export interface MarketRegimeSettings {
  thresholds: {
    adx_trend_enter: number;
    adx_trend_exit: number;
    adx_range: number;
    adx_strong: number;
    /** ATR/close below this fraction of the high-volatility threshold is a quiet market. */
    quiet_fraction: number;
    /** A new regime must hold this many consecutive bars. */
    dwell_bars: number;
    /** ATR/close above which a bar is high-volatility, per measured timeframe (others scale by √time). */
    volatility: { '1h': number; '4h': number; '1d': number };
  };
  indicators: {
    atr_period: number;
    adx_period: number;
    bollinger_period: number;
    bollinger_stddev: number;
    rsi_period: number;
  };
  /** Bars fetched from the exchange when the request brings none. */
  candles_limit: number;
}

export interface SignalValidatorSettings {
  min_passed_rules: number;
  critical_rules: SignalRuleName[];
  max_price_deviation: number;
  min_stop_atr: number;
  max_stop_atr: number;
  min_risk_reward: number;
  max_position_size_pct: number;
  max_leverage: number;
  max_signal_age_bars: number;
  cooldown_minutes: number;
  max_open_trades: number;
  min_quote_volume_24h: number;
  volatility_band: { min_atr_pct: number; max_atr_pct: number };
  /** An approval the model asks to review keeps this share of its confidence. */
  ai_review_confidence_factor: number;
  /** For the seed's request shape, which names neither. */
  default_strategy: Strategy;
  default_timeframe: SettingTimeframe;
  candles_limit: number;
}

export interface AnomalyThresholds {
  latency_ms: number;
  error_rate_percent: number;
  loss_streak: number;
  drawdown_usd: number;
  drawdown_percent: number;
  /** Silence of this many declared heartbeat intervals makes a bot stale. */
  heartbeat_missed_intervals: number;
  default_heartbeat_interval_seconds: number;
  drift_z: number;
  min_orders: number;
  min_attempts: number;
  drift_recent: number;
  drift_min_baseline: number;
}

export interface AnomalyDetectorSettings {
  check_interval_seconds: number;
  /** How far back a scheduled scan looks, and which bots it scans (those that reported in it). */
  scan_window_minutes: number;
  /** Whether scheduled scans ask the model to explain (still gated by the agent's sampling). */
  scan_include_ai: boolean;
  alert_min_severity: Severity;
  /** One alert per bot and anomaly type within this many minutes. */
  alert_window_minutes: number;
  anomaly_thresholds: AnomalyThresholds;
  severity_scales: Record<
    'latency' | 'error_rate' | 'loss_streak' | 'drawdown' | 'stale_heartbeat' | 'drift',
    Scale
  >;
}

export interface RiskLevelSettings {
  method: OptimizationMethod;
  max_drawdown: number;
  /** Annualised Sharpe below which the answer warns; null = no target. */
  target_sharpe: number | null;
  /** A tighter cap for this level; never above the agent's max_position_size. null = that one. */
  max_position_size: number | null;
}

export interface PortfolioOptimizerSettings {
  max_position_size: number;
  rebalance_threshold: number;
  risk_levels: {
    conservative: RiskLevelSettings;
    moderate: RiskLevelSettings;
    aggressive: RiskLevelSettings;
  };
  min_aligned_candles: number;
  lookback_bars: number;
  timeframe: SettingTimeframe;
}

export interface AgentSettingsMap {
  market_regime: MarketRegimeSettings;
  signal_validator: SignalValidatorSettings;
  anomaly_detector: AnomalyDetectorSettings;
  portfolio_optimizer: PortfolioOptimizerSettings;
}
export type AgentName = keyof AgentSettingsMap;
export const AGENT_NAMES: readonly AgentName[] = [
  'market_regime',
  'signal_validator',
  'anomaly_detector',
  'portfolio_optimizer',
];
export const isAgentName = (v: unknown): v is AgentName =>
  typeof v === 'string' && (AGENT_NAMES as readonly string[]).includes(v);

/** Today's values, and the seed guide's where it gives one (max position size 0.3). */
export const DEFAULT_AGENT_SETTINGS: Readonly<AgentSettingsMap> = {
  market_regime: {
    thresholds: {
      adx_trend_enter: 25,
      adx_trend_exit: 20,
      adx_range: 20,
      adx_strong: 40,
      quiet_fraction: 0.3,
      dwell_bars: 3,
      // About the 90th percentile of ATR/close measured on BTC 2022–2025.
      volatility: { '1h': 0.012, '4h': 0.023, '1d': 0.056 },
    },
    indicators: { atr_period: 14, adx_period: 14, bollinger_period: 20, bollinger_stddev: 2, rsi_period: 14 },
    candles_limit: 200,
  },
  signal_validator: {
    min_passed_rules: 11,
    critical_rules: [
      'price_sanity',
      'exchange_outage',
      'stop_loss_required_with_leverage',
      'leverage_cap',
      'position_size',
    ],
    max_price_deviation: 0.05,
    min_stop_atr: 1,
    max_stop_atr: 3,
    min_risk_reward: 2,
    max_position_size_pct: 0.3,
    max_leverage: 10,
    max_signal_age_bars: 2,
    cooldown_minutes: 60,
    max_open_trades: 5,
    min_quote_volume_24h: 1_000_000,
    volatility_band: { min_atr_pct: 0.0005, max_atr_pct: 0.1 },
    ai_review_confidence_factor: 0.8,
    default_strategy: 'trend',
    default_timeframe: '1h',
    candles_limit: 200,
  },
  anomaly_detector: {
    check_interval_seconds: 60,
    scan_window_minutes: 60,
    scan_include_ai: false,
    alert_min_severity: 'medium',
    alert_window_minutes: 60,
    anomaly_thresholds: {
      latency_ms: 5000,
      error_rate_percent: 10,
      loss_streak: 5,
      drawdown_usd: 500,
      drawdown_percent: 5,
      heartbeat_missed_intervals: 2,
      default_heartbeat_interval_seconds: 60,
      drift_z: 3.5,
      min_orders: 3,
      min_attempts: 5,
      drift_recent: 5,
      drift_min_baseline: 20,
    },
    severity_scales: {
      latency: [1.1, 1.3, 1.6],
      error_rate: [1.5, 2.5, 4],
      loss_streak: [1.2, 1.6, 2],
      drawdown: [1.25, 1.5, 2],
      stale_heartbeat: [1, 2.5, 5],
      drift: [1.25, 1.75, 2.5],
    },
  },
  portfolio_optimizer: {
    max_position_size: 0.3,
    rebalance_threshold: 0.1,
    risk_levels: {
      conservative: {
        method: 'min_variance',
        max_drawdown: 0.15,
        target_sharpe: null,
        max_position_size: null,
      },
      moderate: { method: 'risk_parity', max_drawdown: 0.25, target_sharpe: null, max_position_size: null },
      aggressive: { method: 'max_sharpe', max_drawdown: 0.4, target_sharpe: null, max_position_size: null },
    },
    min_aligned_candles: 30,
    lookback_bars: 500,
    timeframe: '1h',
  },
};

// ----- the schema -------------------------------------------------------------------------------------------

type Field =
  | {
      kind: 'number';
      min: number;
      max: number;
      integer?: boolean;
      nullable?: boolean;
      exclusiveMin?: boolean;
    }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[]; aliases?: Readonly<Record<string, string>> }
  | { kind: 'enum_list'; values: readonly string[]; aliases?: Readonly<Record<string, string>> }
  | { kind: 'scale' }
  | { kind: 'object'; fields: Readonly<Record<string, Field>> };

const num = (min: number, max: number, extra: Partial<Extract<Field, { kind: 'number' }>> = {}): Field => ({
  kind: 'number',
  min,
  max,
  ...extra,
});
const int = (min: number, max: number): Field => num(min, max, { integer: true });
const fraction = (): Field => num(0, 1, { exclusiveMin: true });
const obj = (fields: Record<string, Field>): Field => ({ kind: 'object', fields });
const scale: Field = { kind: 'scale' };

const RISK_LEVEL: Field = obj({
  method: { kind: 'enum', values: OPTIMIZATION_METHODS },
  max_drawdown: fraction(),
  target_sharpe: num(-10, 10, { nullable: true }),
  max_position_size: num(0, 1, { nullable: true, exclusiveMin: true }),
});

export const AGENT_SETTINGS_SCHEMA: Readonly<Record<AgentName, Field>> = {
  market_regime: obj({
    thresholds: obj({
      adx_trend_enter: num(0, 100),
      adx_trend_exit: num(0, 100),
      adx_range: num(0, 100),
      adx_strong: num(0, 100),
      quiet_fraction: num(0, 1),
      dwell_bars: int(1, 100),
      volatility: obj({ '1h': fraction(), '4h': fraction(), '1d': fraction() }),
    }),
    indicators: obj({
      atr_period: int(2, 200),
      adx_period: int(2, 200),
      bollinger_period: int(2, 200),
      bollinger_stddev: num(0.1, 10),
      rsi_period: int(2, 200),
    }),
    candles_limit: int(30, 1000),
  }),
  signal_validator: obj({
    min_passed_rules: int(1, SIGNAL_RULES.length),
    critical_rules: { kind: 'enum_list', values: SIGNAL_RULES, aliases: RULE_ALIASES },
    max_price_deviation: fraction(),
    min_stop_atr: num(0, 100),
    max_stop_atr: num(0, 100),
    min_risk_reward: num(0, 100),
    max_position_size_pct: fraction(),
    max_leverage: num(1, 200),
    max_signal_age_bars: num(0, 10_000),
    cooldown_minutes: num(0, 100_000),
    max_open_trades: int(1, 10_000),
    min_quote_volume_24h: num(0, 1e15),
    volatility_band: obj({ min_atr_pct: num(0, 1), max_atr_pct: num(0, 1) }),
    ai_review_confidence_factor: num(0, 1),
    default_strategy: { kind: 'enum', values: STRATEGIES },
    default_timeframe: { kind: 'enum', values: TIMEFRAMES },
    candles_limit: int(30, 1000),
  }),
  anomaly_detector: obj({
    check_interval_seconds: int(1, 86_400),
    scan_window_minutes: int(1, 10_080),
    scan_include_ai: { kind: 'boolean' },
    alert_min_severity: { kind: 'enum', values: SEVERITIES },
    alert_window_minutes: int(1, 10_080),
    anomaly_thresholds: obj({
      latency_ms: num(0, 3_600_000, { exclusiveMin: true }),
      error_rate_percent: num(0, 100, { exclusiveMin: true }),
      loss_streak: int(1, 10_000),
      drawdown_usd: num(0, 1e12, { exclusiveMin: true }),
      drawdown_percent: num(0, 100, { exclusiveMin: true }),
      heartbeat_missed_intervals: num(0, 1000, { exclusiveMin: true }),
      default_heartbeat_interval_seconds: int(1, 86_400),
      drift_z: num(0, 100, { exclusiveMin: true }),
      min_orders: int(1, 10_000),
      min_attempts: int(1, 10_000),
      drift_recent: int(1, 1000),
      drift_min_baseline: int(2, 10_000),
    }),
    severity_scales: obj({
      latency: scale,
      error_rate: scale,
      loss_streak: scale,
      drawdown: scale,
      stale_heartbeat: scale,
      drift: scale,
    }),
  }),
  portfolio_optimizer: obj({
    max_position_size: fraction(),
    rebalance_threshold: num(0, 1),
    risk_levels: obj({ conservative: RISK_LEVEL, moderate: RISK_LEVEL, aggressive: RISK_LEVEL }),
    min_aligned_candles: int(3, 10_000),
    lookback_bars: int(30, 2000),
    timeframe: { kind: 'enum', values: TIMEFRAMES },
  }),
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const shown = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
};

function describe(f: Extract<Field, { kind: 'number' }>): string {
  const what = f.integer ? 'an integer' : 'a number';
  const low = f.exclusiveMin ? `greater than ${f.min}` : `at least ${f.min}`;
  return `${what} ${low} and at most ${f.max}${f.nullable ? ' (or null)' : ''}`;
}

/** `patch` applied onto `current` under `field`; problems are appended with their path. */
function apply(field: Field, current: unknown, patch: unknown, path: string, problems: string[]): unknown {
  switch (field.kind) {
    case 'number': {
      if (patch === null && field.nullable) return null;
      const ok =
        typeof patch === 'number' &&
        Number.isFinite(patch) &&
        (field.exclusiveMin ? patch > field.min : patch >= field.min) &&
        patch <= field.max &&
        (!field.integer || Number.isInteger(patch));
      if (!ok) {
        problems.push(`${path} must be ${describe(field)}, got ${shown(patch)}`);
        return current;
      }
      return patch;
    }
    case 'boolean':
      if (typeof patch !== 'boolean') {
        problems.push(`${path} must be true or false, got ${shown(patch)}`);
        return current;
      }
      return patch;
    case 'enum': {
      const value = typeof patch === 'string' ? aliasOf(field.aliases, patch) : patch;
      if (typeof value !== 'string' || !field.values.includes(value)) {
        problems.push(`${path} must be one of ${field.values.join(', ')}, got ${shown(patch)}`);
        return current;
      }
      return value;
    }
    case 'enum_list': {
      if (!Array.isArray(patch)) {
        problems.push(`${path} must be a list of ${field.values.join(', ')}`);
        return current;
      }
      const out: string[] = [];
      let bad = false;
      for (const [i, item] of (patch as unknown[]).entries()) {
        const value = typeof item === 'string' ? aliasOf(field.aliases, item) : item;
        if (typeof value !== 'string' || !field.values.includes(value)) {
          const aliases = Object.keys(field.aliases ?? {});
          problems.push(
            `${path}.${i} must be one of ${[...field.values, ...aliases].join(', ')}, got ${shown(item)}`,
          );
          bad = true;
        } else if (!out.includes(value)) out.push(value);
      }
      return bad ? current : out;
    }
    case 'scale': {
      const ok =
        Array.isArray(patch) &&
        patch.length === 3 &&
        patch.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0 && x <= 1000) &&
        patch[0] <= patch[1] &&
        patch[1] <= patch[2];
      if (!ok) {
        problems.push(
          `${path} must be three ascending positive ratios [medium, high, critical], got ${shown(patch)}`,
        );
        return current;
      }
      return [...(patch as number[])];
    }
    case 'object': {
      if (!isRecord(patch)) {
        problems.push(`${path} must be an object with ${Object.keys(field.fields).join(', ')}`);
        return current;
      }
      const base = isRecord(current) ? current : {};
      // Built from the schema's keys only: an unknown key (even __proto__ or constructor) is never copied.
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(field.fields)) out[key] = base[key];
      for (const key of Object.keys(patch)) {
        const sub = Object.hasOwn(field.fields, key) ? field.fields[key] : undefined;
        if (sub === undefined) {
          problems.push(`${path}.${key} is not a setting (known: ${Object.keys(field.fields).join(', ')})`);
          continue;
        }
        out[key] = apply(sub, base[key], patch[key], `${path}.${key}`, problems);
      }
      return out;
    }
  }
}

/** The name an alias stands for; an own key only, so `toString` is never read from the prototype. */
const aliasOf = (aliases: Readonly<Record<string, string>> | undefined, name: string): string =>
  aliases && Object.hasOwn(aliases, name) ? aliases[name] : name;

/** Relations between settings that no single field can check. */
function crossChecks(agent: AgentName, s: AgentSettingsMap[AgentName], path: string): string[] {
  const problems: string[] = [];
  if (agent === 'market_regime') {
    const t = (s as MarketRegimeSettings).thresholds;
    if (t.adx_trend_exit > t.adx_trend_enter) {
      problems.push(
        `${path}.thresholds.adx_trend_exit must not exceed adx_trend_enter (${t.adx_trend_enter})`,
      );
    }
    if (t.adx_trend_enter > t.adx_strong) {
      problems.push(`${path}.thresholds.adx_trend_enter must not exceed adx_strong (${t.adx_strong})`);
    }
  } else if (agent === 'signal_validator') {
    const v = s as SignalValidatorSettings;
    if (v.min_stop_atr > v.max_stop_atr) {
      problems.push(`${path}.min_stop_atr must not exceed max_stop_atr (${v.max_stop_atr})`);
    }
    if (v.volatility_band.min_atr_pct > v.volatility_band.max_atr_pct) {
      problems.push(`${path}.volatility_band.min_atr_pct must not exceed max_atr_pct`);
    }
  }
  return problems;
}

/** Copies through JSON: settings are plain data, and a caller must never mutate the defaults. */
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * `patch` (a partial, nested object in the seed's shape) applied onto `current`. Returns the new settings, or
 * every problem (path and reason) and `current` unchanged.
 */
export function applyAgentSettings<A extends AgentName>(
  agent: A,
  current: AgentSettingsMap[A],
  patch: unknown,
  path: string = agent,
): { settings: AgentSettingsMap[A]; problems: string[] } {
  const problems: string[] = [];
  const next = apply(AGENT_SETTINGS_SCHEMA[agent], clone(current), patch, path, problems);
  if (problems.length === 0) problems.push(...crossChecks(agent, next as AgentSettingsMap[A], path));
  return problems.length > 0
    ? { settings: clone(current), problems }
    : { settings: next as AgentSettingsMap[A], problems };
}

export const defaultAgentSettings = (): AgentSettingsMap => clone(DEFAULT_AGENT_SETTINGS as AgentSettingsMap);

/**
 * Every agent's settings from config/agents.yaml: the defaults with the file's values applied. Throws at boot
 * with one line per problem (the file and the full path of each setting named).
 */
export function settingsFromFile(config: AgentsConfig): AgentSettingsMap {
  const settings = defaultAgentSettings();
  const problems: string[] = [];
  for (const [name, own] of Object.entries(config.settingsBlocks)) {
    if (isAgentName(name)) {
      const applied = applyAgentSettings(name, settings[name], own, `agents.${name}`);
      problems.push(...applied.problems);
      Object.assign(settings, { [name]: applied.settings });
    } else {
      for (const key of Object.keys(own)) {
        problems.push(`agents.${name}.${key} is not a setting (${name} has only ${GATEWAY_KEYS.join(', ')})`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`Invalid ${config.path}:\n  - ${problems.join('\n  - ')}`);
  return settings;
}

/** The cap a risk level applies: its own when tighter, never above the agent's max_position_size. */
export function levelCap(
  s: PortfolioOptimizerSettings,
  level: keyof PortfolioOptimizerSettings['risk_levels'],
): number {
  const own = s.risk_levels[level].max_position_size;
  return own === null ? s.max_position_size : Math.min(own, s.max_position_size);
}

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { low: 0, medium: 1, high: 2, critical: 3 };

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** USD per million tokens, the unit genai-prices uses. */
export interface PriceOverride {
  input_mtok: number;
  cache_read_mtok?: number;
  output_mtok: number;
}

export type ProviderName = 'deepseek' | 'vllm' | 'openai';

export interface ModelEntry {
  name: string;
  provider: ProviderName;
  upstreamModel: string | undefined;
  price: PriceOverride | undefined;
  fallbacks: string[];
  /** Tokens the model reads and writes in one call (prompt + output); unknown when not configured. */
  contextWindow?: number;
}

export interface ModelsConfig {
  timeoutMs: number;
  retryBudgetMs: number;
  maxAttempts: number;
  models: Map<string, ModelEntry>;
  defaultTtlSeconds: number;
  ttlSeconds: Record<string, number>;
}

export const SAMPLING_STRATEGIES = [
  'PERIODIC',
  'CHANGE_BASED',
  'THRESHOLD',
  'ADAPTIVE',
  'ALWAYS',
  'NEVER',
] as const;
export type SamplingStrategyName = (typeof SAMPLING_STRATEGIES)[number];

export interface AgentEntry {
  enableAi: boolean;
  model: string | undefined;
  samplingStrategy: SamplingStrategyName;
  samplingConfig: Record<string, number>;
}

export interface AgentsConfig {
  /** The file these came from (named in every problem). */
  path: string;
  agents: Map<string, AgentEntry>;
  /**
   * Each agent's own settings (every key but the gateway's), in the seed's shape; the agents check them at
   * boot against their own schema.
   */
  settingsBlocks: Record<string, Record<string, unknown>>;
}

/** The keys of an agent entry that are not agent settings (the gateway reads them). */
export const GATEWAY_KEYS = ['enable_ai', 'model', 'sampling_strategy', 'sampling_config'];

type Yaml = Record<string, unknown>;

const isRecord = (v: unknown): v is Yaml => typeof v === 'object' && v !== null && !Array.isArray(v);

function readYaml(path: string): Yaml {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const doc: unknown = parse(text);
  if (!isRecord(doc)) throw new Error(`${path} must contain a YAML mapping`);
  return doc;
}

const PROVIDERS: ProviderName[] = ['deepseek', 'vllm', 'openai'];

function positive(problems: string[], where: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    problems.push(`${where} must be a positive number`);
    return fallback;
  }
  return value;
}

export function loadModelsConfig(path: string): ModelsConfig {
  const doc = readYaml(path);
  const problems: string[] = [];
  const defaults = isRecord(doc.defaults) ? doc.defaults : {};
  const models = new Map<string, ModelEntry>();
  const rawModels = isRecord(doc.models) ? doc.models : {};
  for (const [name, raw] of Object.entries(rawModels)) {
    const entry = isRecord(raw) ? raw : {};
    const provider = entry.provider as ProviderName;
    if (!PROVIDERS.includes(provider)) {
      problems.push(`models.${name}.provider must be one of ${PROVIDERS.join(', ')}`);
      continue;
    }
    let price: PriceOverride | undefined;
    if (entry.price !== undefined && entry.price !== null) {
      const p = isRecord(entry.price) ? entry.price : {};
      const nums = ['input_mtok', 'output_mtok', 'cache_read_mtok'].filter((k) => p[k] !== undefined);
      if (
        p.input_mtok === undefined ||
        p.output_mtok === undefined ||
        nums.some((k) => typeof p[k] !== 'number' || p[k] < 0)
      ) {
        problems.push(
          `models.${name}.price needs non-negative input_mtok and output_mtok (cache_read_mtok optional)`,
        );
      } else {
        price = {
          input_mtok: p.input_mtok as number,
          output_mtok: p.output_mtok as number,
          cache_read_mtok: p.cache_read_mtok as number | undefined,
        };
      }
    }
    const fallbacks = Array.isArray(entry.fallbacks) ? entry.fallbacks.map(String) : [];
    let contextWindow: number | undefined;
    if (entry.context_window !== undefined) {
      const w = entry.context_window;
      if (typeof w !== 'number' || !Number.isInteger(w) || w < 256 || w > 10_000_000) {
        problems.push(`models.${name}.context_window must be an integer number of tokens (256 to 10000000)`);
      } else {
        contextWindow = w;
      }
    }
    models.set(name, {
      name,
      provider,
      upstreamModel: typeof entry.upstream_model === 'string' ? entry.upstream_model : undefined,
      price,
      fallbacks,
      contextWindow,
    });
  }
  for (const model of models.values()) {
    for (const fb of model.fallbacks) {
      if (!models.has(fb)) problems.push(`models.${model.name}.fallbacks names unknown model ${fb}`);
    }
  }
  const cache = isRecord(doc.response_cache) ? doc.response_cache : {};
  const ttlSeconds: Record<string, number> = {};
  for (const [type, ttl] of Object.entries(isRecord(cache.ttl_seconds) ? cache.ttl_seconds : {})) {
    ttlSeconds[type] = positive(problems, `response_cache.ttl_seconds.${type}`, ttl, 300);
  }
  const config: ModelsConfig = {
    timeoutMs: positive(problems, 'defaults.timeout_ms', defaults.timeout_ms, 30000),
    retryBudgetMs: positive(problems, 'defaults.retry_budget_ms', defaults.retry_budget_ms, 45000),
    maxAttempts: positive(problems, 'defaults.max_attempts', defaults.max_attempts, 3),
    models,
    defaultTtlSeconds: positive(
      problems,
      'response_cache.default_ttl_seconds',
      cache.default_ttl_seconds,
      300,
    ),
    ttlSeconds,
  };
  if (problems.length > 0) throw new Error(`Invalid ${path}:\n  - ${problems.join('\n  - ')}`);
  return config;
}

export function loadAgentsConfig(path: string): AgentsConfig {
  const doc = readYaml(path);
  const problems: string[] = [];
  const agents = new Map<string, AgentEntry>();
  const settingsBlocks: Record<string, Record<string, unknown>> = {};
  for (const [name, raw] of Object.entries(isRecord(doc.agents) ? doc.agents : {})) {
    const entry = isRecord(raw) ? raw : {};
    const strategy = (entry.sampling_strategy ?? 'ALWAYS') as SamplingStrategyName;
    if (!SAMPLING_STRATEGIES.includes(strategy)) {
      problems.push(`agents.${name}.sampling_strategy must be one of ${SAMPLING_STRATEGIES.join(', ')}`);
    }
    const samplingConfig: Record<string, number> = {};
    for (const [k, v] of Object.entries(isRecord(entry.sampling_config) ? entry.sampling_config : {})) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        problems.push(`agents.${name}.sampling_config.${k} must be a non-negative number`);
      } else {
        samplingConfig[k] = v;
      }
    }
    agents.set(name, {
      enableAi: entry.enable_ai !== false,
      model: typeof entry.model === 'string' ? entry.model : undefined,
      samplingStrategy: strategy,
      samplingConfig,
    });
    settingsBlocks[name] = Object.fromEntries(
      Object.entries(entry).filter(([k]) => !GATEWAY_KEYS.includes(k)),
    );
  }
  if (problems.length > 0) throw new Error(`Invalid ${path}:\n  - ${problems.join('\n  - ')}`);
  return { path, agents, settingsBlocks };
}

export const COST_CATEGORIES = ['compute', 'data', 'other'] as const;
export type CostCategory = (typeof COST_CATEGORIES)[number];
/** Services whose configuration turns a fixed cost on: a line naming one counts only while it is configured. */
export const COST_SOURCES = ['vllm', 'deepseek', 'openai', 'coinglass', 'whale_alert', 'helsinki'] as const;
export type CostSource = (typeof COST_SOURCES)[number];

export interface FixedCost {
  name: string;
  category: CostCategory;
  /** Exactly one of the two. */
  monthlyUsd: number | undefined;
  hourlyUsd: number | undefined;
  enabled: boolean;
  source: CostSource | undefined;
}

export interface CostsConfig {
  fixedCosts: FixedCost[];
}

const LINE_KEYS = ['name', 'category', 'monthly_usd', 'hourly_usd', 'enabled', 'source'];

/** config/costs.yaml: `fixed_costs: [{name, category, monthly_usd | hourly_usd, enabled, source?}]`. */
export function loadCostsConfig(path: string): CostsConfig {
  const doc = readYaml(path);
  const problems: string[] = [];
  for (const key of Object.keys(doc)) {
    if (key !== 'fixed_costs') problems.push(`${key} is not a costs setting (known: fixed_costs)`);
  }
  const raw = doc.fixed_costs ?? [];
  if (!Array.isArray(raw))
    problems.push('fixed_costs must be a list of {name, category, monthly_usd | hourly_usd, enabled}');
  const fixedCosts: FixedCost[] = [];
  const names = new Set<string>();
  for (const [i, item] of (Array.isArray(raw) ? raw : []).entries()) {
    const where = `fixed_costs.${i}`;
    if (!isRecord(item)) {
      problems.push(`${where} must be a mapping with name, category, monthly_usd or hourly_usd, enabled`);
      continue;
    }
    const before = problems.length;
    for (const key of Object.keys(item)) {
      if (!LINE_KEYS.includes(key))
        problems.push(`${where}.${key} is not a field (known: ${LINE_KEYS.join(', ')})`);
    }
    const name = item.name;
    if (typeof name !== 'string' || name.trim() === '')
      problems.push(`${where}.name must be a non-empty string`);
    else if (names.has(name)) problems.push(`${where}.name ${name} appears twice`);
    else names.add(name);
    const category = item.category as CostCategory;
    if (!COST_CATEGORIES.includes(category)) {
      problems.push(`${where}.category must be one of ${COST_CATEGORIES.join(', ')}`);
    }
    const money = (key: 'monthly_usd' | 'hourly_usd'): number | undefined => {
      const v = item[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        problems.push(`${where}.${key} must be a non-negative number of USD`);
        return undefined;
      }
      return v;
    };
    const monthlyUsd = money('monthly_usd');
    const hourlyUsd = money('hourly_usd');
    if ((item.monthly_usd === undefined) === (item.hourly_usd === undefined)) {
      problems.push(`${where} needs exactly one of monthly_usd and hourly_usd`);
    }
    if (item.enabled !== undefined && typeof item.enabled !== 'boolean') {
      problems.push(`${where}.enabled must be true or false`);
    }
    const source = item.source as CostSource | undefined;
    if (source !== undefined && !COST_SOURCES.includes(source)) {
      problems.push(`${where}.source must be one of ${COST_SOURCES.join(', ')}`);
    }
    if (problems.length > before) continue;
    fixedCosts.push({
      name: name as string,
      category,
      monthlyUsd,
      hourlyUsd,
      enabled: item.enabled !== false,
      source,
    });
  }
  if (problems.length > 0) throw new Error(`Invalid ${path}:\n  - ${problems.join('\n  - ')}`);
  return { fixedCosts };
}

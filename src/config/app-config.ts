/**
 * Environment configuration, validated once at boot into one typed object (ConfigModule's validate step,
 * see config.module.ts, which then splits it into namespaces).
 * Every problem is collected so the operator sees all of them in a single message.
 */
export type BudgetEnforcement = 'off' | 'soft' | 'hard';

export interface ProviderEndpoint {
  baseUrl: string;
  apiKey: string | undefined;
}

export interface AppConfig {
  nodeEnv: string;
  port: number;
  host: string;
  redisUrl: string | undefined; // undefined = embedded in-process store
  redisKeyPrefix: string;
  /** Redis Cluster start-up nodes (REDIS_CLUSTER_NODES); empty: not a cluster. */
  redisClusterNodes: HostPort[];
  /** Redis Sentinels (REDIS_SENTINELS) and the name of the master they watch (REDIS_SENTINEL_NAME). */
  redisSentinels: HostPort[];
  redisSentinelName: string | undefined;
  /** Bot keys, each with the tenant it belongs to (`tenant:key`, or `default`). */
  apiKeys: ApiKeyEntry[];
  /** Keys that may also change configuration and read across tenants. */
  adminApiKeys: ApiKeyEntry[];
  deepseek: ProviderEndpoint | undefined;
  vllm: (ProviderEndpoint & { modelName: string }) | undefined;
  openai: ProviderEndpoint | undefined;
  defaultModel: string | undefined;
  dailyBudgetUsd: number | undefined;
  monthlyBudgetUsd: number | undefined;
  budgetEnforcement: BudgetEnforcement;
  /** How far past a hard budget a CRITICAL event may still call (percent of the budget). */
  criticalOverdrawPercent: number;
  /** The deployment's budgets count the fixed costs of config/costs.yaml beside the LLM spend. */
  budgetIncludeFixedCosts: boolean;
  /** Tenants that get their own value of the `tenant` label in /metrics (the rest count as "other"). */
  metricsMaxTenants: number;
  /** A streamed upstream answer silent this long after its headers is aborted. */
  streamIdleTimeoutSeconds: number;
  alertWebhookUrl: string | undefined;
  slackWebhookUrl: string | undefined;
  telegramBotToken: string | undefined;
  telegramChatId: string | undefined;
  /** Base of the Telegram Bot API (tests point it at a fake receiver). */
  telegramApiUrl: string;
  budgetCheckCron: string;
  budgetAlertThresholds: number[];
  helsinkiVmUrl: string | undefined;
  coinglass: ProviderEndpoint | undefined;
  whaleAlert: { apiKey: string | undefined; baseUrl: string; wsUrl: string | undefined } | undefined;
  /** Whale alerts at or above this USD value become WHALE_TRANSACTION events. */
  whaleAlertEventMinUsd: number;
  fearGreedUrl: string;
  exchangeId: string;
  agentsConfigPath: string;
  modelsConfigPath: string;
  logLevel: string;
  /** Email alerts (SMTP_URL, ALERT_EMAIL_FROM, ALERT_EMAIL_TO), or undefined when not configured. */
  email: { smtpUrl: string; from: string; to: string[] } | undefined;
  /** Fixed monthly costs for the total cost of ownership (config/costs.yaml). */
  costsConfigPath: string;
}

export interface HostPort {
  host: string;
  port: number;
}

export interface ApiKeyEntry {
  key: string;
  tenant: string;
}

const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

/** The environment, as in process.env (given explicitly, so tests build apps from plain objects). */
export type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadAppConfig(env: Env): AppConfig {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const url = (name: string, fallback?: string): string | undefined => {
    const value = str(name) ?? fallback;
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!/^(https?|wss?|redis|rediss|memory):$/.test(parsed.protocol)) {
        problems.push(`${name} must be an http(s), ws(s) or redis URL, got protocol ${parsed.protocol}`);
      }
    } catch {
      problems.push(`${name} is not a valid URL`);
    }
    return value.replace(/\/+$/, '');
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  const money = (name: string): number | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      problems.push(`${name} must be a non-negative number of USD, got "${raw}"`);
      return undefined;
    }
    return value;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const v = str(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    problems.push(`${name} must be true or false, got "${v.slice(0, 20)}"`);
    return fallback;
  };
  const list = (name: string): string[] =>
    (str(name) ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0);

  const nodeEnv = str('NODE_ENV') ?? 'development';
  const redisUrlRaw = url('REDIS_URL');
  const redisUrl = redisUrlRaw === undefined || redisUrlRaw.startsWith('memory:') ? undefined : redisUrlRaw;
  const hostPorts = (name: string): HostPort[] =>
    list(name).map((entry) => {
      const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(entry);
      const port = m ? Number(m[2]) : NaN;
      if (!m || port < 1 || port > 65535) {
        problems.push(`${name} entries must be host:port, got "${entry.slice(0, 100)}"`);
        return { host: '', port: 0 };
      }
      return { host: m[1].replace(/^\[|\]$/g, ''), port };
    });
  const redisClusterNodes = hostPorts('REDIS_CLUSTER_NODES');
  const redisSentinels = hostPorts('REDIS_SENTINELS');
  const redisSentinelName = str('REDIS_SENTINEL_NAME');
  if (redisClusterNodes.length > 0 && redisSentinels.length > 0) {
    problems.push(
      'REDIS_CLUSTER_NODES and REDIS_SENTINELS cannot both be set: a Redis is a cluster or has sentinels',
    );
  }
  if (redisSentinels.length > 0 && redisSentinelName === undefined) {
    problems.push(
      'REDIS_SENTINEL_NAME (the name of the master the sentinels watch) is required with REDIS_SENTINELS',
    );
  }
  const sharedRedis = redisUrl !== undefined || redisClusterNodes.length > 0 || redisSentinels.length > 0;
  // An entry is `key` (tenant default) or `tenant:key`: split at the first colon.
  const keyList = (name: string): ApiKeyEntry[] =>
    list(name).map((entry, i) => {
      const colon = entry.indexOf(':');
      if (colon < 0) return { key: entry, tenant: 'default' };
      const tenant = entry.slice(0, colon);
      const key = entry.slice(colon + 1);
      if (!TENANT_PATTERN.test(tenant) || key.length === 0) {
        problems.push(
          `${name} entry ${i + 1} must be "key" or "tenant:key" with a tenant of lower-case letters, digits, - and _ (at most 32)`,
        );
      }
      return { key, tenant };
    });
  const apiKeys = keyList('API_KEYS');
  const adminApiKeys = keyList('ADMIN_API_KEYS');
  if (nodeEnv === 'production') {
    if (!sharedRedis) {
      problems.push(
        'REDIS_URL is required when NODE_ENV=production (or REDIS_CLUSTER_NODES, or REDIS_SENTINELS)',
      );
    }
    if (apiKeys.length + adminApiKeys.length === 0) {
      problems.push('API_KEYS or ADMIN_API_KEYS is required when NODE_ENV=production');
    }
  }

  const enforcement = (str('BUDGET_ENFORCEMENT') ?? 'soft').toLowerCase();
  if (!['off', 'soft', 'hard'].includes(enforcement)) {
    problems.push(`BUDGET_ENFORCEMENT must be off, soft or hard, got "${enforcement}"`);
  }

  const deepseekKey = str('DEEPSEEK_API_KEY');
  const deepseekBase = url('DEEPSEEK_BASE_URL', 'https://api.deepseek.com');
  const vllmUrl = url('BASTION_MODEL_URL');
  const vllmName = str('BASTION_MODEL_NAME') ?? 'Qwen/Qwen2.5-Coder-32B-Instruct-AWQ';
  const openaiKey = str('OPENAI_API_KEY');
  const openaiBase = url('OPENAI_BASE_URL', 'https://api.openai.com/v1');
  const coinglassKey = str('COINGLASS_API_KEY');
  const coinglassBase = url('COINGLASS_BASE_URL', 'https://open-api-v4.coinglass.com');
  const whaleKey = str('WHALE_ALERT_API_KEY');
  const whaleBase = url('WHALE_ALERT_BASE_URL', 'https://api.whale-alert.io/v1');
  const whaleWs = url('WHALE_ALERT_WS_URL');
  const logLevel = (str('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const thresholds = (str('BUDGET_ALERT_THRESHOLDS') ?? '50,80,100').split(',').map((t) => Number(t.trim()));
  if (thresholds.some((t) => !Number.isFinite(t) || t <= 0 || t > 1000)) {
    problems.push(
      'BUDGET_ALERT_THRESHOLDS must be comma-separated percents between 0 and 1000, e.g. 50,80,100',
    );
  }
  const cron = str('BUDGET_CHECK_CRON');
  if (cron !== undefined && !/^(\S+\s+){4,5}\S+$/.test(cron)) {
    problems.push('BUDGET_CHECK_CRON must be a cron expression with 5 or 6 fields');
  }
  const config: AppConfig = {
    nodeEnv,
    port: int('PORT', 3000, 0, 65535),
    host: str('HOST') ?? '0.0.0.0',
    redisUrl,
    redisKeyPrefix: str('REDIS_KEY_PREFIX') ?? '',
    redisClusterNodes,
    redisSentinels,
    redisSentinelName,
    apiKeys,
    adminApiKeys,
    deepseek: deepseekKey ? { apiKey: deepseekKey, baseUrl: deepseekBase ?? '' } : undefined,
    vllm: vllmUrl
      ? { baseUrl: vllmUrl, apiKey: str('BASTION_MODEL_API_KEY'), modelName: vllmName }
      : undefined,
    openai: openaiKey ? { apiKey: openaiKey, baseUrl: openaiBase ?? '' } : undefined,
    defaultModel: str('AI_DEFAULT_MODEL'),
    dailyBudgetUsd: money('DAILY_BUDGET_USD'),
    monthlyBudgetUsd: money('MONTHLY_BUDGET_USD'),
    budgetEnforcement: enforcement as BudgetEnforcement,
    criticalOverdrawPercent: int('CRITICAL_OVERDRAW_PERCENT', 10, 0, 100),
    budgetIncludeFixedCosts: flag('BUDGET_INCLUDE_FIXED_COSTS', false),
    streamIdleTimeoutSeconds: int('STREAM_IDLE_TIMEOUT_SECONDS', 30, 1, 3600),
    metricsMaxTenants: int('METRICS_MAX_TENANTS', 20, 0, 1000),
    alertWebhookUrl: url('ALERT_WEBHOOK_URL'),
    slackWebhookUrl: url('SLACK_WEBHOOK_URL'),
    telegramBotToken: str('TELEGRAM_BOT_TOKEN'),
    telegramChatId: str('TELEGRAM_CHAT_ID'),
    telegramApiUrl: url('TELEGRAM_API_URL', 'https://api.telegram.org') ?? '',
    budgetCheckCron: str('BUDGET_CHECK_CRON') ?? '0 * * * * *',
    budgetAlertThresholds: thresholds,
    helsinkiVmUrl: url('HELSINKI_VM_URL'),
    coinglass: coinglassKey ? { apiKey: coinglassKey, baseUrl: coinglassBase ?? '' } : undefined,
    whaleAlert:
      whaleKey || whaleWs ? { apiKey: whaleKey, baseUrl: whaleBase ?? '', wsUrl: whaleWs } : undefined,
    whaleAlertEventMinUsd: money('WHALE_ALERT_EVENT_MIN_USD') ?? 5_000_000,
    fearGreedUrl: url('FEAR_GREED_URL', 'https://api.alternative.me/fng/') ?? '',
    exchangeId: str('EXCHANGE_ID') ?? 'binance',
    agentsConfigPath: str('AGENTS_CONFIG_PATH') ?? 'config/agents.yaml',
    modelsConfigPath: str('MODELS_CONFIG_PATH') ?? 'config/models.yaml',
    logLevel,
    email: undefined,
    costsConfigPath: str('COSTS_CONFIG_PATH') ?? 'config/costs.yaml',
  };
  config.email = emailConfig(str, list, problems);
  if ((config.telegramBotToken === undefined) !== (config.telegramChatId === undefined)) {
    problems.push('TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together');
  }
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return config;
}

const EMAIL_ADDRESS = /^[^\s@<>,]+@[^\s@<>,]+$/;

/** SMTP_URL, ALERT_EMAIL_FROM and ALERT_EMAIL_TO are set together (or not at all). */
function emailConfig(
  str: (name: string) => string | undefined,
  list: (name: string) => string[],
  problems: string[],
): AppConfig['email'] {
  const smtpUrl = str('SMTP_URL');
  const from = str('ALERT_EMAIL_FROM');
  const to = list('ALERT_EMAIL_TO');
  if (smtpUrl === undefined && from === undefined && to.length === 0) return undefined;
  const before = problems.length;
  if (smtpUrl === undefined || from === undefined || to.length === 0) {
    problems.push('SMTP_URL, ALERT_EMAIL_FROM and ALERT_EMAIL_TO must be set together');
  }
  if (smtpUrl !== undefined) {
    try {
      const protocol = new URL(smtpUrl).protocol;
      if (protocol !== 'smtp:' && protocol !== 'smtps:') {
        problems.push(`SMTP_URL must be an smtp:// or smtps:// URL, got protocol ${protocol}`);
      }
    } catch {
      problems.push('SMTP_URL is not a valid URL');
    }
  }
  if (from !== undefined && !EMAIL_ADDRESS.test(from))
    problems.push('ALERT_EMAIL_FROM must be an email address');
  const bad = to.filter((a) => !EMAIL_ADDRESS.test(a));
  if (bad.length > 0)
    problems.push(`ALERT_EMAIL_TO must be comma-separated email addresses, got "${bad[0]}"`);
  if (problems.length > before) return undefined;
  return { smtpUrl: smtpUrl as string, from: from as string, to };
}

/** Every field that can hold a secret (the auth, providers, market and alerts namespaces carry them). */
export type SecretSources = Pick<
  AppConfig,
  | 'apiKeys'
  | 'adminApiKeys'
  | 'deepseek'
  | 'vllm'
  | 'openai'
  | 'coinglass'
  | 'whaleAlert'
  | 'telegramBotToken'
  | 'email'
>;

/** The password of an smtp(s):// URL, if it has one. */
function smtpPassword(config: SecretSources): string | undefined {
  if (!config.email) return undefined;
  try {
    const password = new URL(config.email.smtpUrl).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

/** Values that must never appear in logs, errors or responses. */
export function secretsOf(config: SecretSources): string[] {
  return [
    ...config.apiKeys.map((k) => k.key),
    ...config.adminApiKeys.map((k) => k.key),
    config.deepseek?.apiKey,
    config.vllm?.apiKey,
    config.openai?.apiKey,
    config.coinglass?.apiKey,
    config.whaleAlert?.apiKey,
    config.telegramBotToken,
    smtpPassword(config),
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}

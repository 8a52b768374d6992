import { type ConfigType, registerAs } from '@nestjs/config';
import type { AppConfig } from './app-config.js';

/**
 * The validated configuration split by concern, each concern one @nestjs/config namespace. A consumer
 * injects only the namespaces it reads: `@Inject(budgetsConfig.KEY) config: ConfigType<typeof budgetsConfig>`.
 * A namespace keeps the field names of AppConfig, so any AppConfig is also a value of every namespace.
 */
const NAMESPACE_FIELDS = {
  server: ['nodeEnv', 'port', 'host', 'logLevel', 'metricsMaxTenants'],
  redis: ['redisUrl', 'redisKeyPrefix', 'redisClusterNodes', 'redisSentinels', 'redisSentinelName'],
  auth: ['apiKeys', 'adminApiKeys'],
  providers: ['deepseek', 'vllm', 'openai', 'defaultModel', 'streamIdleTimeoutSeconds'],
  budgets: [
    'dailyBudgetUsd',
    'monthlyBudgetUsd',
    'budgetEnforcement',
    'criticalOverdrawPercent',
    'budgetIncludeFixedCosts',
    'budgetAlertThresholds',
    'budgetCheckCron',
  ],
  alerts: [
    'alertWebhookUrl',
    'slackWebhookUrl',
    'telegramBotToken',
    'telegramChatId',
    'telegramApiUrl',
    'email',
  ],
  market: ['helsinkiVmUrl', 'coinglass', 'whaleAlert', 'whaleAlertEventMinUsd', 'fearGreedUrl', 'exchangeId'],
  files: ['agentsConfigPath', 'modelsConfigPath', 'costsConfigPath'],
} as const satisfies Record<string, readonly (keyof AppConfig)[]>;

export type NamespaceName = keyof typeof NAMESPACE_FIELDS;
export type ConfigNamespaces = {
  [N in NamespaceName]: Pick<AppConfig, (typeof NAMESPACE_FIELDS)[N][number]>;
};
export const NAMESPACE_NAMES = Object.keys(NAMESPACE_FIELDS) as NamespaceName[];

// A variable added to AppConfig but to no namespace would be validated and then unreadable: fail to compile.
type Unassigned = Exclude<keyof AppConfig, (typeof NAMESPACE_FIELDS)[NamespaceName][number]>;
const everyFieldHasANamespace: [Unassigned] extends [never] ? true : Unassigned = true;
void everyFieldHasANamespace;

/** Splits one validated configuration into its namespaces (objects only, so nothing is copied to process.env). */
export function toNamespaces(config: AppConfig): ConfigNamespaces {
  const pick = <N extends NamespaceName>(name: N): ConfigNamespaces[N] =>
    Object.fromEntries(NAMESPACE_FIELDS[name].map((field) => [field, config[field]])) as ConfigNamespaces[N];
  return {
    server: pick('server'),
    redis: pick('redis'),
    auth: pick('auth'),
    providers: pick('providers'),
    budgets: pick('budgets'),
    alerts: pick('alerts'),
    market: pick('market'),
    files: pick('files'),
  };
}

/**
 * A namespace's injection token (KEY) and type. Nest calls a registerAs factory with no arguments, so a
 * shared factory could only read a global or process.env, and apps built in one process with different
 * environments would see each other's values. AppConfigModule.forRoot therefore registers each name over
 * its own app's validated values; this factory is never the one loaded.
 */
const namespace = <N extends NamespaceName>(name: N) =>
  registerAs(name, (): ConfigNamespaces[N] => {
    throw new Error(`The ${name} configuration is registered by AppConfigModule.forRoot`);
  });

export const serverConfig = namespace('server');
export const redisConfig = namespace('redis');
export const authConfig = namespace('auth');
export const providersConfig = namespace('providers');
export const budgetsConfig = namespace('budgets');
export const alertsConfig = namespace('alerts');
export const marketConfig = namespace('market');
export const filesConfig = namespace('files');

export type ServerConfig = ConfigType<typeof serverConfig>;
export type RedisConfig = ConfigType<typeof redisConfig>;
export type AuthConfig = ConfigType<typeof authConfig>;
export type ProvidersConfig = ConfigType<typeof providersConfig>;
export type BudgetsConfig = ConfigType<typeof budgetsConfig>;
export type AlertsConfig = ConfigType<typeof alertsConfig>;
export type MarketConfig = ConfigType<typeof marketConfig>;
export type FilesConfig = ConfigType<typeof filesConfig>;

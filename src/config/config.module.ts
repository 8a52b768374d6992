import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, registerAs } from '@nestjs/config';
import { Scrubber } from '../common/secrets.js';
import { type Env, loadAppConfig, secretsOf } from './app-config.js';
import {
  type AlertsConfig,
  alertsConfig,
  type AuthConfig,
  authConfig,
  type ConfigNamespaces,
  type FilesConfig,
  filesConfig,
  type MarketConfig,
  marketConfig,
  type ProvidersConfig,
  providersConfig,
  NAMESPACE_NAMES,
  toNamespaces,
} from './namespaces.js';
import {
  loadAgentsConfig,
  loadCostsConfig,
  loadModelsConfig,
  type AgentsConfig,
  type CostsConfig,
  type ModelsConfig,
} from './yaml-config.js';

export const MODELS_CONFIG = Symbol('MODELS_CONFIG');
export const AGENTS_CONFIG = Symbol('AGENTS_CONFIG');
export const COSTS_CONFIG = Symbol('COSTS_CONFIG');

/**
 * @nestjs/config's ConfigModule validates the given environment once (loadAppConfig, one message listing
 * every problem) into the typed namespaces of ./namespaces.ts; the YAML files are read from their paths.
 */
@Global()
@Module({})
export class AppConfigModule {
  /** Rejects with ConfigValidationError before any provider is built when the environment is invalid. */
  static async forRoot(env: Env): Promise<DynamicModule> {
    let validated: ConfigNamespaces | undefined;
    const config = await ConfigModule.forRoot({
      isGlobal: true,
      // The environment is the one given (main.ts passes process.env; each test app its own object): no .env
      // file, process.env not merged in, and ConfigService never falls back to it.
      ignoreEnvFile: true,
      validatePredefined: false,
      skipProcessEnv: true,
      // ConfigModule hands validate only what it gathered (nothing, above), so the given env is validated.
      // The result holds objects only: ConfigModule copies top-level strings and numbers into process.env,
      // which would leak one app's settings into the next app built in the same process.
      validate: () => (validated = toNamespaces(loadAppConfig(env))),
      // validate has run by the time Nest calls these; each reads this app's values, never a shared one.
      load: NAMESPACE_NAMES.map((name) => registerAs(name, () => (validated as ConfigNamespaces)[name])),
    });
    return {
      module: AppConfigModule,
      imports: [config],
      providers: [
        {
          provide: MODELS_CONFIG,
          inject: [filesConfig.KEY],
          useFactory: (files: FilesConfig): ModelsConfig => loadModelsConfig(files.modelsConfigPath),
        },
        {
          provide: AGENTS_CONFIG,
          inject: [filesConfig.KEY],
          useFactory: (files: FilesConfig): AgentsConfig => loadAgentsConfig(files.agentsConfigPath),
        },
        {
          provide: COSTS_CONFIG,
          inject: [filesConfig.KEY],
          useFactory: (files: FilesConfig): CostsConfig => loadCostsConfig(files.costsConfigPath),
        },
        {
          // Every namespace that holds a secret: what the scrubber keeps out of answers, alerts and logs.
          provide: Scrubber,
          inject: [authConfig.KEY, providersConfig.KEY, marketConfig.KEY, alertsConfig.KEY],
          useFactory: (a: AuthConfig, p: ProvidersConfig, m: MarketConfig, al: AlertsConfig): Scrubber =>
            new Scrubber(secretsOf({ ...a, ...p, ...m, ...al })),
        },
      ],
      exports: [MODELS_CONFIG, AGENTS_CONFIG, COSTS_CONFIG, Scrubber],
    };
  }
}

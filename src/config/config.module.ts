import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { AppConfig } from './app-config.js';
import {
  loadAgentsConfig,
  loadCostsConfig,
  loadModelsConfig,
  type AgentsConfig,
  type CostsConfig,
  type ModelsConfig,
} from './yaml-config.js';

export const APP_CONFIG = Symbol('APP_CONFIG');
export const MODELS_CONFIG = Symbol('MODELS_CONFIG');
export const AGENTS_CONFIG = Symbol('AGENTS_CONFIG');
export const COSTS_CONFIG = Symbol('COSTS_CONFIG');

/** Provides the validated environment and the YAML files as typed values to every module. */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: MODELS_CONFIG, useFactory: (): ModelsConfig => loadModelsConfig(config.modelsConfigPath) },
        { provide: AGENTS_CONFIG, useFactory: (): AgentsConfig => loadAgentsConfig(config.agentsConfigPath) },
        { provide: COSTS_CONFIG, useFactory: (): CostsConfig => loadCostsConfig(config.costsConfigPath) },
      ],
      exports: [APP_CONFIG, MODELS_CONFIG, AGENTS_CONFIG, COSTS_CONFIG],
    };
  }
}

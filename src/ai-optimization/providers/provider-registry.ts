import { Inject, Injectable, Logger } from '@nestjs/common';
import OpenAI from 'openai';
import type { ConfigType } from '@nestjs/config';
import { MODELS_CONFIG } from '../../config/config.module.js';
import { providersConfig } from '../../config/namespaces.js';
import type { ModelEntry, ModelsConfig, ProviderName } from '../../config/yaml-config.js';
import { DomainError, ProviderUnavailableError } from '../../common/errors.js';
import { ChatCompletionsHttp } from './chat-http.js';
import { TransportActivity } from './transport-activity.js';

/** One upstream that can be called: the model entry, its provider's client and the name it is served as. */
export interface ResolvedModel {
  entry: ModelEntry;
  provider: ProviderName;
  baseUrl: string;
  upstreamModel: string;
  /** The SDK client, for streams. */
  client: OpenAI;
  /** Non-streamed completions. */
  http: ChatCompletionsHttp;
}

interface ProviderClient {
  baseUrl: string;
  client: OpenAI;
  http: ChatCompletionsHttp;
}

const PROVIDER_ENV: Record<ProviderName, string> = {
  deepseek: 'DEEPSEEK_API_KEY',
  vllm: 'BASTION_MODEL_URL',
  openai: 'OPENAI_API_KEY',
};

/**
 * Maps model names to configured providers (config/models.yaml) and owns each provider's clients: the OpenAI
 * SDK for streams, chat-http.ts for plain calls.
 */
@Injectable()
export class ProviderRegistry {
  private readonly logger = new Logger(ProviderRegistry.name);
  private readonly clients = new Map<ProviderName, ProviderClient>();

  constructor(
    @Inject(providersConfig.KEY) private readonly config: ConfigType<typeof providersConfig>,
    @Inject(MODELS_CONFIG) private readonly models: ModelsConfig,
    activity: TransportActivity = new TransportActivity(),
  ) {
    const endpoints: [ProviderName, { baseUrl: string; apiKey: string | undefined } | undefined][] = [
      ['deepseek', config.deepseek],
      ['vllm', config.vllm],
      ['openai', config.openai],
    ];
    for (const [name, endpoint] of endpoints) {
      if (!endpoint) continue;
      // vLLM without --api-key accepts any token; the SDK insists on one.
      const apiKey = endpoint.apiKey ?? 'EMPTY';
      this.clients.set(name, {
        baseUrl: endpoint.baseUrl,
        // Retries and deadlines are ours (UpstreamCaller), so the SDK makes exactly one attempt.
        client: new OpenAI({
          apiKey,
          baseURL: endpoint.baseUrl,
          maxRetries: 0,
          fetch: activity.fetch,
        }),
        http: new ChatCompletionsHttp(endpoint.baseUrl, apiKey),
      });
    }
    const configured = [...this.clients.keys()];
    if (configured.length === 0) {
      this.logger.warn(
        'No LLM provider configured (DEEPSEEK_API_KEY, BASTION_MODEL_URL, OPENAI_API_KEY): AI calls answer 503',
      );
    } else {
      this.logger.log(
        `LLM providers: ${configured.join(', ')}; default model ${this.defaultModel() ?? 'none'}`,
      );
    }
  }

  get configuredProviders(): ProviderName[] {
    return [...this.clients.keys()];
  }

  providerBaseUrl(provider: ProviderName): string | undefined {
    return this.clients.get(provider)?.baseUrl;
  }

  defaultModel(): string | undefined {
    if (this.config.defaultModel) return this.config.defaultModel;
    if (this.clients.has('deepseek')) return 'deepseek-v4-flash';
    if (this.clients.has('vllm')) return 'bastion-model';
    if (this.clients.has('openai')) return 'gpt-4o-mini';
    return undefined;
  }

  /** Every model name a client may ask for: config names plus the vLLM served name. */
  knownModels(): ModelEntry[] {
    return [...this.models.models.values()].filter((m) => this.clients.has(m.provider));
  }

  entryFor(name: string): ModelEntry | undefined {
    const direct = this.models.models.get(name);
    if (direct) return direct;
    if (this.config.vllm && name === this.config.vllm.modelName) {
      return [...this.models.models.values()].find((m) => m.provider === 'vllm' && !m.upstreamModel);
    }
    return undefined;
  }

  /** The model and its fallbacks, in order, keeping only those whose provider is configured. */
  chain(requested: string | undefined): ResolvedModel[] {
    const name = requested ?? this.defaultModel();
    if (name === undefined) {
      throw new ProviderUnavailableError(
        'No LLM provider is configured: set DEEPSEEK_API_KEY, BASTION_MODEL_URL or OPENAI_API_KEY',
        503,
      );
    }
    const first = this.entryFor(name);
    if (!first) {
      const known = [...this.models.models.keys()].join(', ');
      throw new DomainError(
        'unknown_model',
        `model "${name}" is not configured; known models: ${known}`,
        400,
      );
    }
    const order: ModelEntry[] = [];
    const visit = (entry: ModelEntry): void => {
      if (order.includes(entry)) return;
      order.push(entry);
      for (const fb of entry.fallbacks) {
        const next = this.models.models.get(fb);
        if (next) visit(next);
      }
    };
    visit(first);
    const usable = order.filter((e) => this.clients.has(e.provider)).map((e) => this.resolve(e));
    if (usable.length === 0) {
      throw new ProviderUnavailableError(
        `model "${name}" needs provider ${first.provider} (${PROVIDER_ENV[first.provider]} is not set) and no configured fallback`,
        503,
      );
    }
    return usable;
  }

  private resolve(entry: ModelEntry): ResolvedModel {
    const provider = this.clients.get(entry.provider) as ProviderClient;
    const upstreamModel =
      entry.upstreamModel ??
      (entry.provider === 'vllm' ? (this.config.vllm?.modelName ?? entry.name) : entry.name);
    return {
      entry,
      provider: entry.provider,
      baseUrl: provider.baseUrl,
      upstreamModel,
      client: provider.client,
      http: provider.http,
    };
  }
}

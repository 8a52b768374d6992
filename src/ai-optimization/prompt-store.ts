import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { PromptRepository } from '../redis/repositories/prompt.repository.js';

export interface PromptTemplate {
  name: string;
  version: string;
  text: string;
}

/**
 * Versioned system prompts under `ai:prompt:{name}:{version}`. A template is static text only — prices,
 * dates and user context go in a later message — so every call sends byte-identical leading tokens and the
 * provider's prefix cache can bill them at the cache-hit rate.
 */
@Injectable()
export class PromptStore {
  private readonly logger = new Logger(PromptStore.name);
  private readonly local = new Map<string, PromptTemplate>();

  constructor(private readonly store: PromptRepository) {}

  static versionOf(text: string): string {
    return createHash('sha256').update(text).digest('hex').slice(0, 12);
  }

  /** Registers a template; the version is the hash of its text, so an edit is a new version, never a mutation. */
  async register(name: string, text: string): Promise<PromptTemplate> {
    const template = { name, version: PromptStore.versionOf(text), text };
    this.local.set(name, template);
    if (!(await this.store.register(name, template.version, text))) {
      this.logger.warn(`Prompt ${name} kept in memory only: the store is unavailable`);
    }
    return template;
  }

  get(name: string): PromptTemplate | undefined {
    return this.local.get(name);
  }

  load(name: string, version: string): Promise<string | null> {
    return this.store.load(name, version);
  }
}

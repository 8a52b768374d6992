import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/** Versioned system prompts under `ai:prompt:{name}:{version}` (a version is the hash of its text). */
@Injectable()
export class PromptRepository {
  constructor(private readonly redis: RedisService) {}

  /** Stores a version once (its text never changes); false when Redis did not take it. */
  async register(name: string, version: string, text: string): Promise<boolean> {
    return this.redis.run(
      'prompt.register',
      async (c) => {
        await c.set(this.redis.keys.prompt(name, version), text, 'NX');
        return true;
      },
      () => false,
    );
  }

  async load(name: string, version: string): Promise<string | null> {
    return this.redis.run('prompt.load', (c) => c.get(this.redis.keys.prompt(name, version)));
  }
}

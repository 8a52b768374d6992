import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/** Run-time agent settings: one hash, agent → its settings as JSON, read by every instance on each use. */
@Injectable()
export class AgentSettingsRepository {
  constructor(private readonly redis: RedisService) {}

  /** The stored JSON per agent; empty when none is stored or Redis cannot answer (the file applies). */
  async readAll(): Promise<Record<string, string>> {
    return this.redis.run(
      'agent_settings.read',
      (client) => client.hgetall(this.redis.keys.agentSettings()),
      () => ({}),
    );
  }

  async read(agent: string): Promise<string | null> {
    return this.redis.run(
      'agent_settings.read',
      (client) => client.hget(this.redis.keys.agentSettings(), agent),
      () => null,
    );
  }

  async write(agent: string, json: string): Promise<void> {
    await this.redis.run('agent_settings.write', (client) =>
      client.hset(this.redis.keys.agentSettings(), agent, json),
    );
  }

  async remove(agent: string): Promise<void> {
    await this.redis.run('agent_settings.write', (client) =>
      client.hdel(this.redis.keys.agentSettings(), agent),
    );
  }
}

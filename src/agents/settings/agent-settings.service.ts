import { BadRequestException, Inject, Injectable, Logger } from '@nestjs/common';
import { AGENTS_CONFIG } from '../../config/config.module.js';
import type { AgentsConfig } from '../../config/yaml-config.js';
import { AgentSettingsRepository } from '../../redis/repositories/agent-settings.repository.js';
import {
  AGENT_NAMES,
  applyAgentSettings,
  isAgentName,
  settingsFromFile,
  type AgentName,
  type AgentSettingsMap,
} from './agent-settings.js';

/**
 * The settings in force: config/agents.yaml, replaced per agent by what an admin stored at run time (Redis,
 * so every instance applies a change on its next use). Agents read them on every request.
 */
@Injectable()
export class AgentSettingsService {
  private readonly logger = new Logger(AgentSettingsService.name);
  private readonly listeners: ((agent: AgentName) => void)[] = [];
  /** config/agents.yaml's settings, checked when the app is built (a bad file stops the boot). */
  private readonly file: AgentSettingsMap;

  constructor(
    @Inject(AGENTS_CONFIG) config: AgentsConfig,
    private readonly repository: AgentSettingsRepository,
  ) {
    this.file = settingsFromFile(config);
  }

  /** The file's settings of one agent (what a reset returns to). */
  configured<A extends AgentName>(agent: A): AgentSettingsMap[A] {
    return this.file[agent];
  }

  async get<A extends AgentName>(agent: A): Promise<AgentSettingsMap[A]> {
    return this.parse(agent, await this.repository.read(agent));
  }

  async all(): Promise<AgentSettingsMap> {
    const stored = await this.repository.readAll();
    const out = {} as Record<AgentName, unknown>;
    for (const agent of AGENT_NAMES) out[agent] = this.parse(agent, stored[agent] ?? null);
    return out as AgentSettingsMap;
  }

  /**
   * Applies partial updates `{agent: {setting: value}}` onto the settings in force; every problem of every
   * agent is named in one 400 and nothing is stored unless all are valid.
   */
  async update(patches: unknown): Promise<Partial<AgentSettingsMap>> {
    if (typeof patches !== 'object' || patches === null || Array.isArray(patches)) {
      throw new BadRequestException(`body must be an object of agent → settings (${AGENT_NAMES.join(', ')})`);
    }
    const problems: string[] = [];
    const next: Partial<Record<AgentName, unknown>> = {};
    for (const [agent, patch] of Object.entries(patches)) {
      if (!isAgentName(agent)) {
        problems.push(`${agent} is not an agent with settings (known: ${AGENT_NAMES.join(', ')})`);
        continue;
      }
      const applied = applyAgentSettings(agent, await this.get(agent), patch);
      problems.push(...applied.problems);
      next[agent] = applied.settings;
    }
    if (problems.length > 0) throw new BadRequestException(problems);
    for (const [agent, settings] of Object.entries(next) as [AgentName, unknown][]) {
      await this.repository.write(agent, JSON.stringify(settings));
      this.logger.log(`Settings of ${agent} changed at run time`);
      this.notify(agent);
    }
    return next as Partial<AgentSettingsMap>;
  }

  /** Back to config/agents.yaml. */
  async reset(agent: AgentName): Promise<AgentSettingsMap[AgentName]> {
    await this.repository.remove(agent);
    this.notify(agent);
    return this.configured(agent);
  }

  /** Called on this instance when an agent's settings change here (other instances read them on use). */
  onChange(listener: (agent: AgentName) => void): void {
    this.listeners.push(listener);
  }

  private notify(agent: AgentName): void {
    for (const listener of this.listeners) listener(agent);
  }

  /** Stored settings are re-validated on read: a value written by an older version never reaches an agent. */
  private parse<A extends AgentName>(agent: A, raw: string | null): AgentSettingsMap[A] {
    const base = this.configured(agent);
    if (raw === null) return base;
    let stored: unknown;
    try {
      stored = JSON.parse(raw);
    } catch {
      this.logger.warn(`Stored settings of ${agent} are not JSON; the file's apply`);
      return base;
    }
    const applied = applyAgentSettings(agent, base, stored);
    if (applied.problems.length > 0) {
      this.logger.warn(
        `Stored settings of ${agent} are invalid (${applied.problems.join('; ')}); the file's apply`,
      );
      return base;
    }
    return applied.settings;
  }
}

import { BadRequestException, Inject, Injectable, Logger } from '@nestjs/common';
import { AGENTS_CONFIG } from '../../config/config.module.js';
import {
  SAMPLING_STRATEGIES,
  type AgentsConfig,
  type SamplingStrategyName,
} from '../../config/yaml-config.js';
import type { SamplingClaim } from '../../redis/repositories/conversation.repository.js';
import { SettingsRepository } from '../../redis/repositories/settings.repository.js';
import type { SamplingInput } from '../pipeline/metered-call.js';

/** A strategy with its parameters, as shown and accepted by /ai-cost/sampling-strategy. */
export interface SamplingStrategy {
  strategy: SamplingStrategyName;
  interval_seconds?: number;
  threshold?: number;
  min_interval_seconds?: number;
  max_interval_seconds?: number;
  /** ADAPTIVE: volatility (percent) at which the interval reaches its minimum. */
  volatility_scale?: number;
}

const PARAMS: Record<keyof Omit<SamplingStrategy, 'strategy'>, [number, number]> = {
  interval_seconds: [1, 7 * 86_400],
  threshold: [0, 1_000_000],
  min_interval_seconds: [1, 7 * 86_400],
  max_interval_seconds: [1, 7 * 86_400],
  volatility_scale: [0.01, 100],
};

const DEFAULTS: Record<SamplingStrategyName, Omit<SamplingStrategy, 'strategy'>> = {
  PERIODIC: { interval_seconds: 300 },
  CHANGE_BASED: { threshold: 0.1 },
  THRESHOLD: { threshold: 0.5 },
  ADAPTIVE: { min_interval_seconds: 60, max_interval_seconds: 900, volatility_scale: 5 },
  ALWAYS: {},
  NEVER: {},
};

/**
 * ADAPTIVE interval: the maximum at zero volatility, shrinking linearly to the minimum at
 * `volatility_scale` percent and beyond.
 */
export function adaptiveIntervalSeconds(s: SamplingStrategy, volatility: number | undefined): number {
  const min = s.min_interval_seconds ?? 60;
  const max = s.max_interval_seconds ?? 900;
  const t = Math.min(1, Math.max(0, (volatility ?? 0) / (s.volatility_scale ?? 5)));
  return max - t * (max - min);
}

/**
 * What the pre-call step must claim for this strategy and request, or null when the strategy lets every
 * call through. Strategies that need no shared state (THRESHOLD, NEVER) are decided here; the script
 * only answers "skip" for them after the response cache missed, so a cached answer still wins.
 */
export function samplingClaim(s: SamplingStrategy, input: SamplingInput): SamplingClaim | null {
  switch (s.strategy) {
    case 'ALWAYS':
      return null;
    case 'NEVER':
      return { kind: 'deny' };
    case 'THRESHOLD':
      return (input.score ?? 0) >= (s.threshold ?? 0.5) ? null : { kind: 'deny' };
    case 'PERIODIC':
    case 'ADAPTIVE':
      return { kind: 'interval', ms: Math.round(intervalSeconds(s, input) * 1000) };
    case 'CHANGE_BASED':
      return { kind: 'change', threshold: s.threshold ?? 0.1, features: input.features ?? {} };
  }
}

const intervalSeconds = (s: SamplingStrategy, input: SamplingInput): number =>
  s.strategy === 'PERIODIC'
    ? (s.interval_seconds ?? 300)
    : adaptiveIntervalSeconds(s, input.volatility ?? input.features?.volatility);

/** Why the sampler skipped a call (or let it through), in the words of its strategy. */
export function describeSampling(
  s: SamplingStrategy,
  input: SamplingInput,
  skipped: boolean,
  change: number | null,
): string {
  const pct = (x: number): string => (x === Infinity ? 'new features' : `${(x * 100).toFixed(2)}%`);
  switch (s.strategy) {
    case 'ALWAYS':
      return 'always';
    case 'NEVER':
      return 'strategy NEVER';
    case 'THRESHOLD': {
      const threshold = s.threshold ?? 0.5;
      const score = input.score ?? 0;
      return skipped ? `score ${score} below threshold ${threshold}` : `score ${score} ≥ ${threshold}`;
    }
    case 'PERIODIC':
    case 'ADAPTIVE': {
      const seconds = intervalSeconds(s, input).toFixed(0);
      return skipped ? `called less than ${seconds} s ago` : `interval ${seconds} s elapsed`;
    }
    case 'CHANGE_BASED': {
      const threshold = `${Number(((s.threshold ?? 0.1) * 100).toPrecision(12))}%`;
      if (change === null) return 'first call';
      return skipped ? `features changed ${pct(change)} < ${threshold}` : `features changed ${pct(change)}`;
    }
  }
}

/**
 * Per-agent sampling strategies: config/agents.yaml, overridden at run time (kept in Redis and read from
 * the instance's copy of the run-time settings, so deciding costs no round trip).
 */
@Injectable()
export class SamplingService {
  private readonly logger = new Logger(SamplingService.name);

  constructor(
    private readonly settings: SettingsRepository,
    @Inject(AGENTS_CONFIG) private readonly agents: AgentsConfig,
  ) {}

  configured(agent: string): SamplingStrategy {
    const entry = this.agents.agents.get(agent);
    if (!entry) return { strategy: 'ALWAYS' };
    return { strategy: entry.samplingStrategy, ...DEFAULTS[entry.samplingStrategy], ...entry.samplingConfig };
  }

  /** The strategy in force for an agent, from this instance's copy of the settings. */
  strategyFor(agent: string): SamplingStrategy {
    const stored = this.settings.snapshot.sampling[agent];
    return isStrategy(stored) ? stored : this.configured(agent);
  }

  /** Every agent's strategy, read fresh from the store (its last copy when Redis is away). */
  async all(): Promise<Record<string, SamplingStrategy>> {
    await this.settings.reload();
    const result: Record<string, SamplingStrategy> = {};
    for (const agent of this.agents.agents.keys()) result[agent] = this.configured(agent);
    for (const [agent, stored] of Object.entries(this.settings.snapshot.sampling)) {
      if (isStrategy(stored)) result[agent] = stored;
    }
    return result;
  }

  async current(agent: string): Promise<SamplingStrategy> {
    await this.settings.reload();
    return this.strategyFor(agent);
  }

  /** Validates and stores a run-time strategy for one agent; every problem is named in one 400. */
  async set(agent: string, input: Record<string, unknown>): Promise<SamplingStrategy> {
    const problems: string[] = [];
    const name = input.strategy as SamplingStrategyName;
    if (!SAMPLING_STRATEGIES.includes(name))
      problems.push(`strategy must be one of ${SAMPLING_STRATEGIES.join(', ')}`);
    const next: SamplingStrategy = { strategy: name, ...(DEFAULTS[name] ?? {}) };
    for (const [field, value] of Object.entries(input)) {
      if (field === 'strategy' || field === 'agent_type') continue;
      const range = Object.hasOwn(PARAMS, field) ? PARAMS[field as keyof typeof PARAMS] : undefined;
      if (!range) {
        problems.push(`${field} is not a sampling parameter (known: ${Object.keys(PARAMS).join(', ')})`);
      } else if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        value < range[0] ||
        value > range[1]
      ) {
        problems.push(`${field} must be a number between ${range[0]} and ${range[1]}`);
      } else {
        next[field as keyof typeof PARAMS] = value;
      }
    }
    if (name === 'ADAPTIVE' && (next.min_interval_seconds ?? 0) > (next.max_interval_seconds ?? 0)) {
      problems.push('min_interval_seconds must not exceed max_interval_seconds');
    }
    if (problems.length > 0) throw new BadRequestException(problems);
    await this.settings.setSampling(agent, next);
    this.logger.log(`Sampling strategy of ${agent} set to ${JSON.stringify(next)}`);
    return next;
  }
}

function isStrategy(v: unknown): v is SamplingStrategy {
  return (
    typeof v === 'object' &&
    v !== null &&
    SAMPLING_STRATEGIES.includes((v as { strategy?: SamplingStrategyName }).strategy as SamplingStrategyName)
  );
}

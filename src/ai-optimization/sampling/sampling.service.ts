import { BadRequestException, Inject, Injectable, Logger } from '@nestjs/common';
import { AGENTS_CONFIG } from '../../config/config.module.js';
import {
  SAMPLING_STRATEGIES,
  type AgentsConfig,
  type SamplingStrategyName,
} from '../../config/yaml-config.js';
import { RedisService } from '../../redis/redis.service.js';

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

export interface SamplingInput {
  agent: string;
  symbol: string;
  features?: Record<string, number>;
  score?: number;
  volatility?: number;
  now: number;
}

export interface SamplingDecision {
  call: boolean;
  strategy: SamplingStrategyName;
  /** Why the call was skipped (or which interval applied). */
  detail: string;
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

/** Largest relative change of any feature present in both sets. */
export function relativeChange(previous: Record<string, number>, current: Record<string, number>): number {
  let largest = 0;
  for (const [name, value] of Object.entries(current)) {
    const before = previous[name];
    if (before === undefined) return Infinity; // a new feature is a change
    const change = before === 0 ? (value === 0 ? 0 : Infinity) : Math.abs(value - before) / Math.abs(before);
    largest = Math.max(largest, change);
  }
  return largest;
}

/** Per-agent sampling strategies (config/agents.yaml, overridable at run time through Redis). */
@Injectable()
export class SamplingService {
  private readonly logger = new Logger(SamplingService.name);

  constructor(
    private readonly redis: RedisService,
    @Inject(AGENTS_CONFIG) private readonly agents: AgentsConfig,
  ) {}

  configured(agent: string): SamplingStrategy {
    const entry = this.agents.agents.get(agent);
    if (!entry) return { strategy: 'ALWAYS' };
    return { strategy: entry.samplingStrategy, ...DEFAULTS[entry.samplingStrategy], ...entry.samplingConfig };
  }

  async strategyFor(agent: string): Promise<SamplingStrategy> {
    try {
      const raw = await this.redis.client.hget(this.redis.keys.samplingStrategies(), agent);
      if (raw !== null) return JSON.parse(raw) as SamplingStrategy;
    } catch {
      // Redis down: the file's strategy applies
    }
    return this.configured(agent);
  }

  async all(): Promise<Record<string, SamplingStrategy>> {
    const result: Record<string, SamplingStrategy> = {};
    for (const agent of this.agents.agents.keys()) result[agent] = this.configured(agent);
    const overrides = await this.redis.client.hgetall(this.redis.keys.samplingStrategies());
    for (const [agent, raw] of Object.entries(overrides)) result[agent] = JSON.parse(raw) as SamplingStrategy;
    return result;
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
      const range = PARAMS[field as keyof typeof PARAMS] as [number, number] | undefined;
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
    await this.redis.client.hset(this.redis.keys.samplingStrategies(), agent, JSON.stringify(next));
    this.logger.log(`Sampling strategy of ${agent} set to ${JSON.stringify(next)}`);
    return next;
  }

  /** Decides whether this request may call the model now; claims the interval when it may. */
  async decide(input: SamplingInput): Promise<SamplingDecision> {
    const s = await this.strategyFor(input.agent);
    const k = this.redis.keys;
    switch (s.strategy) {
      case 'ALWAYS':
        return { call: true, strategy: s.strategy, detail: 'always' };
      case 'NEVER':
        return { call: false, strategy: s.strategy, detail: 'strategy NEVER' };
      case 'THRESHOLD': {
        const threshold = s.threshold ?? 0.5;
        const score = input.score ?? 0;
        return score >= threshold
          ? { call: true, strategy: s.strategy, detail: `score ${score} ≥ ${threshold}` }
          : { call: false, strategy: s.strategy, detail: `score ${score} below threshold ${threshold}` };
      }
      case 'PERIODIC':
      case 'ADAPTIVE': {
        const seconds =
          s.strategy === 'PERIODIC'
            ? (s.interval_seconds ?? 300)
            : adaptiveIntervalSeconds(s, input.volatility ?? input.features?.volatility);
        const ok = await this.redis.client.claimInterval(
          k.samplingClaim(input.agent, input.symbol),
          input.now,
          Math.round(seconds * 1000),
        );
        return ok === 1
          ? { call: true, strategy: s.strategy, detail: `interval ${seconds.toFixed(0)} s elapsed` }
          : { call: false, strategy: s.strategy, detail: `called less than ${seconds.toFixed(0)} s ago` };
      }
      case 'CHANGE_BASED': {
        const threshold = s.threshold ?? 0.1;
        const key = k.samplingFeatures(input.agent, input.symbol);
        const features = input.features ?? {};
        const raw = await this.redis.client.get(key);
        const change =
          raw === null ? Infinity : relativeChange(JSON.parse(raw) as Record<string, number>, features);
        if (change < threshold) {
          return {
            call: false,
            strategy: s.strategy,
            detail: `features changed ${(change * 100).toFixed(2)}% < ${threshold * 100}%`,
          };
        }
        await this.redis.client.set(key, JSON.stringify(features), 'EX', 7 * 86_400);
        return {
          call: true,
          strategy: s.strategy,
          detail: raw === null ? 'first call' : `features changed ${(change * 100).toFixed(2)}%`,
        };
      }
    }
  }
}

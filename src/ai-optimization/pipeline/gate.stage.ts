import { Injectable } from '@nestjs/common';
import type { SamplingClaim } from '../../redis/repositories/conversation.repository.js';
import {
  describeSampling,
  samplingClaim,
  SamplingService,
  type SamplingStrategy,
} from '../sampling/sampling.service.js';
import type { MeteredCall } from './metered-call.js';

/** What the gate asks the pre-call step to claim. */
export interface GatePlan {
  /** The event gate's interval for this conversation (null: none). */
  intervalMs: number | null;
  /** The sampler's claim (null: the call goes through). */
  sampling: SamplingClaim | null;
  /** The agent's strategy, when the sampler was consulted. */
  strategy: SamplingStrategy | null;
}

/**
 * Stage 2, gate: the event gate's interval (HIGH and MEDIUM events: one upstream call per conversation per
 * `min_ai_interval`) and the agent's sampling strategy. Both are claimed atomically by the pre-call step, so
 * N instances make one call per interval, not N.
 */
@Injectable()
export class GateStage {
  constructor(private readonly sampling: SamplingService) {}

  plan(call: MeteredCall): GatePlan {
    const intervalMs =
      call.intervalSeconds !== null && call.intervalSeconds > 0 ? call.intervalSeconds * 1000 : null;
    if (call.sampling === null) return { intervalMs, sampling: null, strategy: null };
    const strategy = this.sampling.strategyFor(call.agent);
    return { intervalMs, sampling: samplingClaim(strategy, call.sampling), strategy };
  }

  /** The message of a sampled-out answer, in the words of the strategy. */
  sampledOut(plan: GatePlan, call: MeteredCall, change: number | null): string {
    const s = plan.strategy ?? { strategy: 'ALWAYS' as const };
    return `Sampled out (${s.strategy}): ${describeSampling(s, call.sampling ?? {}, true, change)}`;
  }

  filtered(call: MeteredCall): string {
    return `Event inside min_ai_interval (${call.intervalSeconds} s) of the last call for ${call.agent} ${call.symbol ?? ''}`.trim();
  }

  /** An ADAPTIVE strategy let this call through (counted as an adaptive call). */
  adaptive(plan: GatePlan): boolean {
    return plan.strategy?.strategy === 'ADAPTIVE';
  }
}

import { Injectable } from '@nestjs/common';
import type { Observation, WindowRanks } from '../../ai-optimization/events/adaptive-priority.js';
import { RedisService } from '../redis.service.js';

/** A window nobody adds to for this long is dropped (a symbol no bot trades any more). */
const IDLE_TTL_MS = 35 * 86_400_000;

const figure = (x: number | undefined): string => (x === undefined ? '' : String(x));

/**
 * The rolling windows of adaptive event priority: the recent |return|, range and volume ratio of each
 * symbol (or of all symbols, scope `*`), per tenant — the figures come from the tenant's own bots, so one
 * tenant cannot move another's ranks. One script per event appends the observation (once per symbol and
 * event time, however many agents send it), trims the window to its size and ranks the event against the
 * rest. Fails open: null, and the gate falls back to the static thresholds.
 */
@Injectable()
export class EventWindowRepository {
  constructor(private readonly redis: RedisService) {}

  async observe(
    tenant: string,
    scope: string,
    symbol: string,
    at: number,
    obs: Observation,
    size: number,
  ): Promise<WindowRanks | null> {
    const keys = this.redis.keys.eventWindow(tenant, scope);
    return this.redis.run(
      'event_window.observe',
      async (client) => {
        const raw = await client.observeEvent(
          keys.times,
          keys.move,
          keys.range,
          keys.volume,
          `${symbol}|${at}`,
          at,
          size,
          figure(obs.move),
          figure(obs.range),
          figure(obs.volumeRatio),
          IDLE_TTL_MS,
        );
        const [history, nMove, lessMove, nRange, lessRange, nVolume, lessVolume] = raw.map(Number);
        const ranks: WindowRanks = { history };
        if (obs.move !== undefined) ranks.move = { n: nMove, less: lessMove };
        if (obs.range !== undefined) ranks.range = { n: nRange, less: lessRange };
        if (obs.volumeRatio !== undefined) ranks.volumeRatio = { n: nVolume, less: lessVolume };
        return ranks;
      },
      () => null,
    );
  }
}

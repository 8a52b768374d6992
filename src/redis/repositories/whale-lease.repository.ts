import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis.service.js';

/**
 * The lease that picks the one instance of a deployment holding the Whale Alert WebSocket (the vendor allows
 * two connections per key, and one stream is enough). Taking it bumps a fencing counter: the token a holder
 * gets is higher than every earlier holder's, and the alerts it stores are checked against it
 * (WhaleAlertRepository.record), so a holder that was paused past its lease cannot store after its successor.
 */
@Injectable()
export class WhaleLeaseRepository {
  constructor(private readonly redis: RedisService) {}

  /** The fencing token when this call took the lease, null when another holder has it. */
  async acquire(holder: string, leaseMs: number): Promise<number | null> {
    const keys = this.redis.keys;
    const token = await this.redis.run('whale_stream.acquire', (c) =>
      c.acquireFencedLease(keys.whaleStreamLease(), keys.whaleStreamFence(), holder, leaseMs),
    );
    return token > 0 ? token : null;
  }

  /** Extends the lease for `leaseMs` from now; false when `holder` no longer has it. */
  async renew(holder: string, leaseMs: number): Promise<boolean> {
    const renewed = await this.redis.run('whale_stream.renew', (c) =>
      c.renewLease(this.redis.keys.whaleStreamLease(), holder, leaseMs),
    );
    return renewed === 1;
  }

  /** Gives the lease back (only if `holder` still has it), so another instance takes over at its next try. */
  async release(holder: string): Promise<void> {
    await this.redis.run(
      'whale_stream.release',
      (c) => c.releaseLease(this.redis.keys.whaleStreamLease(), holder),
      () => 0,
    );
  }
}

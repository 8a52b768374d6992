import type { LoadSpec } from '../measure.js';

export type Log = (line: string) => void;

/**
 * Something to benchmark: a server booted in this process plus the one request to repeat against it.
 * A new scenario (another path through Bastion) is one more module implementing this, added to run.ts.
 */
export interface BenchTarget {
  /** Stable key in bench/results/latest.json. */
  id: string;
  /** Row label of the printed table. */
  label: string;
  start(log: Log): Promise<StartedTarget>;
}

export interface StartedTarget {
  load: LoadSpec;
  /**
   * Checks after the measurement that the intended path was the one measured; throws otherwise.
   * Returns the facts it checked, for the report.
   */
  verify(): Promise<Record<string, number | string | boolean>>;
  /** Closes servers and connections and deletes the Redis keys the target created. */
  stop(): Promise<void>;
}

/**
 * One autocannon run against one HTTP endpoint. The load generator is a child process (load-generator.ts)
 * so it shares neither an event loop nor a heap with the server under test, which runs in this process.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The request a target wants hammered, and how to tell a right answer from a wrong one. */
export interface LoadSpec {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Every response body must contain this string; others are counted as mismatches. */
  expectBodyContains: string;
  /**
   * Makes every request distinct: each occurrence of this placeholder in the body is replaced by a counter
   * (prefixed by the run's process id), set up per request by autocannon.
   */
  uniquePlaceholder?: string;
}

export interface MeasureOptions {
  connections: number;
  durationSeconds: number;
  /** Called about once a second with the 2xx responses of the last second. */
  onProgress?: (elapsedSeconds: number, responsesLastSecond: number) => void;
}

export interface Measurement {
  /** Mean of autocannon's per-second request samples. */
  rps: number;
  /** Latency percentiles of 2xx responses in ms, from sub-millisecond samples (autocannon rounds to 1 ms). */
  p50: number;
  p99: number;
  p99_9: number;
  meanLatencyMs: number;
  maxLatencyMs: number;
  non2xx: number;
  /** Connection errors (timeouts included). */
  errors: number;
  timeouts: number;
  /** Responses whose body lacked `expectBodyContains`. */
  mismatches: number;
  /** Completed responses, whatever their status. */
  requests: number;
  durationSeconds: number;
  statusCodes: Record<string, number>;
  /** autocannon's own latency percentiles (whole milliseconds), kept for comparison with its CLI. */
  autocannonLatencyMs: { p50: number; p99: number; max: number; mean: number };
}

/** Messages from load-generator.ts. */
export type LoadGeneratorMessage =
  | { kind: 'progress'; elapsedSeconds: number; responses: number }
  | { kind: 'done'; measurement: Measurement }
  | { kind: 'failed'; message: string };

/** What load-generator.ts gets as its one command-line argument (JSON). */
export interface LoadGeneratorInput {
  spec: LoadSpec;
  connections: number;
  durationSeconds: number;
}

export function measure(spec: LoadSpec, options: MeasureOptions): Promise<Measurement> {
  const input: LoadGeneratorInput = {
    spec,
    connections: options.connections,
    durationSeconds: options.durationSeconds,
  };
  const child = fork(
    fileURLToPath(new URL('./load-generator.js', import.meta.url)),
    [JSON.stringify(input)],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  return new Promise<Measurement>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    child.on('message', (message: LoadGeneratorMessage) => {
      if (message.kind === 'progress') options.onProgress?.(message.elapsedSeconds, message.responses);
      else if (message.kind === 'done') settle(() => resolve(message.measurement));
      else settle(() => reject(new Error(`autocannon failed: ${message.message}`)));
    });
    child.on('error', (err) => settle(() => reject(err)));
    child.on('exit', (code, signal) =>
      settle(() =>
        reject(new Error(`load generator exited (code ${code}, signal ${signal}) before reporting`)),
      ),
    );
  });
}

/** Throws when a run saw anything but right 2xx answers: a benchmark of errors would be worthless. */
export function assertClean(what: string, m: Measurement): void {
  const problems: string[] = [];
  if (m.requests === 0) problems.push('no response at all');
  if (m.non2xx > 0) problems.push(`${m.non2xx} non-2xx responses (${JSON.stringify(m.statusCodes)})`);
  if (m.errors > 0) problems.push(`${m.errors} connection errors (${m.timeouts} timeouts)`);
  if (m.mismatches > 0) problems.push(`${m.mismatches} responses with an unexpected body`);
  if (problems.length > 0) throw new Error(`${what}: ${problems.join('; ')}`);
}

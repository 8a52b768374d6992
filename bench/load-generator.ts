/**
 * Child-process side of measure.ts: runs autocannon against one endpoint and sends progress and the
 * result to the parent over IPC, then exits.
 */
import autocannon from 'autocannon';
import type { LoadGeneratorInput, LoadGeneratorMessage, Measurement } from './measure.js';

const input = JSON.parse(process.argv[2] ?? '{}') as LoadGeneratorInput;
const post = (message: LoadGeneratorMessage): void => {
  // After the last message, drop the IPC channel so this process can exit.
  process.send?.(message, undefined, {}, () => {
    if (message.kind !== 'progress') process.disconnect();
  });
};

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

function run(): void {
  const { spec } = input;
  // Sub-millisecond latencies of 2xx responses (autocannon's histogram keeps whole milliseconds only).
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let secondResponses = 0;
  const started = performance.now();

  // Distinct bodies (a cache-miss path): a counter replaces the placeholder in every request.
  let sequence = 0;
  const placeholder = spec.uniquePlaceholder;
  const requests =
    placeholder === undefined || spec.body === undefined
      ? undefined
      : [
          {
            method: spec.method,
            headers: spec.headers,
            setupRequest: (request: autocannon.Request): autocannon.Request => ({
              ...request,
              body: (spec.body as string).split(placeholder).join(`${process.pid}-${++sequence}`),
            }),
          },
        ];

  const instance = autocannon(
    {
      url: spec.url,
      method: spec.method,
      headers: spec.headers,
      body: spec.body,
      requests,
      connections: input.connections,
      duration: input.durationSeconds,
      verifyBody: (body) => typeof body === 'string' && body.includes(spec.expectBodyContains),
    },
    (err: unknown, result) => {
      clearInterval(progress);
      if (err) {
        post({ kind: 'failed', message: err instanceof Error ? err.message : JSON.stringify(err) });
        return;
      }
      const sorted = latencies.subarray(0, count).sort();
      let sum = 0;
      for (const v of sorted) sum += v;
      const statusCodes: Record<string, number> = {};
      for (const [code, stat] of Object.entries(result.statusCodeStats ?? {}))
        statusCodes[code] = stat.count ?? 0;
      const measurement: Measurement = {
        rps: round(result.requests.average, 1),
        p50: round(percentile(sorted, 50), 3),
        p99: round(percentile(sorted, 99), 3),
        p99_9: round(percentile(sorted, 99.9), 3),
        meanLatencyMs: round(count > 0 ? sum / count : 0, 3),
        maxLatencyMs: round(count > 0 ? sorted[count - 1] : 0, 3),
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        mismatches: result.mismatches,
        requests: result.requests.total,
        durationSeconds: result.duration,
        statusCodes,
        autocannonLatencyMs: {
          p50: result.latency.p50,
          p99: result.latency.p99,
          max: result.latency.max,
          mean: result.latency.mean,
        },
      };
      post({ kind: 'done', measurement });
    },
  );

  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode < 200 || statusCode >= 300) return;
    secondResponses++;
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = responseTime;
  });

  const progress = setInterval(() => {
    post({
      kind: 'progress',
      elapsedSeconds: Math.round((performance.now() - started) / 1000),
      responses: secondResponses,
    });
    secondResponses = 0;
  }, 1000);
}

run();

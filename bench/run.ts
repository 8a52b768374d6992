/**
 * `npm run bench`: measures each target in turn on this machine (same load, same settings) and compares
 * every target with the first one, the bare-Fastify floor. Prints a Markdown table and writes the raw
 * figures to bench/results/latest.json.
 *
 * BENCH_DURATION_SECONDS (default 10) sets the measured time per target; REDIS_URL the Redis to use.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertClean, measure, type Measurement } from './measure.js';
import { bareFastify } from './targets/bare-fastify.js';
import { bastionCacheHit } from './targets/bastion-cache-hit.js';
import type { BenchTarget } from './targets/target.js';

const CONNECTIONS = 50;
const WARMUP_SECONDS = 2;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Compiled to dist-bench/bench/run.js; results go to the source tree's bench/results/.
const RESULTS_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../bench/results/latest.json');

const log = (line: string): void => console.log(line);

function durationSeconds(): number {
  const raw = process.env.BENCH_DURATION_SECONDS?.trim();
  if (raw === undefined || raw === '') return 10;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 3600) {
    throw new Error(`BENCH_DURATION_SECONDS must be an integer between 1 and 3600, got "${raw}"`);
  }
  return value;
}

interface TargetResult {
  label: string;
  measurement: Measurement;
  warmup: Measurement;
  checks: Record<string, number | string | boolean>;
}

async function benchTarget(target: BenchTarget, seconds: number): Promise<TargetResult> {
  const say = (line: string): void => log(`[${target.id}] ${line}`);
  say('starting …');
  const started = await target.start(say);
  try {
    say(`warming up (${WARMUP_SECONDS} s, ${CONNECTIONS} connections) …`);
    const warmup = await measure(started.load, { connections: CONNECTIONS, durationSeconds: WARMUP_SECONDS });
    assertClean(`${target.id} warm-up`, warmup);
    say(`measuring (${seconds} s, ${CONNECTIONS} connections) …`);
    const measurement = await measure(started.load, {
      connections: CONNECTIONS,
      durationSeconds: seconds,
      onProgress: (elapsed, responses) => say(`  ${elapsed}/${seconds} s: ${responses} req/s`),
    });
    assertClean(`${target.id} measurement`, measurement);
    const checks = await started.verify();
    say(
      `done: ${measurement.rps} req/s, p50 ${measurement.p50} ms, p99 ${measurement.p99} ms, ` +
        `${measurement.requests} responses, ${measurement.non2xx} non-2xx`,
    );
    return { label: target.label, measurement, warmup, checks };
  } finally {
    say('stopping …');
    await started.stop();
  }
}

const ratio = (value: number, base: number): number => (base > 0 ? Number((value / base).toFixed(3)) : NaN);

function markdownTable(results: [string, TargetResult][], baseline: Measurement): string {
  const rows = [
    '| target | req/s | p50 (ms) | p99 (ms) | non-2xx | req/s vs floor | p99 vs floor |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [, r] of results) {
    const m = r.measurement;
    rows.push(
      `| ${r.label} | ${m.rps.toFixed(0)} | ${m.p50.toFixed(2)} | ${m.p99.toFixed(2)} | ${m.non2xx} | ` +
        `${ratio(m.rps, baseline.rps).toFixed(2)} | ${ratio(m.p99, baseline.p99).toFixed(2)} |`,
    );
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const seconds = durationSeconds();
  const targets = [bareFastify(REDIS_URL), bastionCacheHit(REDIS_URL)];
  log(
    `Bastion bench: ${targets.length} targets, ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ` +
      `${seconds} s each, Node ${process.version}, ${cpus().length} CPUs, Redis ${REDIS_URL}`,
  );

  const results: [string, TargetResult][] = [];
  for (const target of targets) results.push([target.id, await benchTarget(target, seconds)]);

  const [baselineId, baseline] = results[0];
  const ratios: Record<string, { throughput: number; p99: number }> = {};
  for (const [id, r] of results.slice(1)) {
    ratios[id] = {
      throughput: ratio(r.measurement.rps, baseline.measurement.rps),
      p99: ratio(r.measurement.p99, baseline.measurement.p99),
    };
  }

  log('');
  log(markdownTable(results, baseline.measurement));
  log('');
  for (const [id, r] of Object.entries(ratios)) {
    log(`throughput ratio ${id} / ${baselineId}: ${r.throughput.toFixed(3)}`);
    log(`p99 latency ratio ${id} / ${baselineId}: ${r.p99.toFixed(3)}`);
  }

  const report = {
    generatedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpuCount: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
    },
    settings: { connections: CONNECTIONS, warmupSeconds: WARMUP_SECONDS, durationSeconds: seconds },
    baseline: baselineId,
    targets: Object.fromEntries(results),
    ratios,
  };
  await mkdir(dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  log(`raw results written to ${RESULTS_FILE}`);
}

main().catch((err: unknown) => {
  console.error(`BENCH FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});

/**
 * `npm run bench`: measures each target in turn on this machine, in one run, and compares them:
 * (a) bare Fastify + one Redis GET, the floor;
 * (b) Bastion POST /ai/call answered from the response cache;
 * (c) Bastion POST /v1/chat/completions answered from the response cache;
 * (d) a cache miss through Bastion to a fake upstream that answers after a fixed delay, against the same
 *     fake called directly with the same load: Bastion's own added latency at p50 and p99; as the floor, a bare
 *     node:http proxy in Bastion's place (what the extra hop alone costs on this machine); and, as a peer,
 *     Portkey's open-source gateway (@portkey-ai/gateway) proxying the same fake.
 * Each target runs in a fresh Node process of its own (this script forked with `--one <index>`), so no target
 * inherits another's heap, compiled code or open handles, and the RSS reported after the cache hits is that of
 * a process holding one Bastion and nothing else of the bench. Prints Markdown tables and writes the raw
 * figures to bench/results/latest.json.
 *
 * BENCH_DURATION_SECONDS (default 10) sets the measured time per target, BENCH_CONNECTIONS (default 50) the
 * concurrent connections of (a)–(c), BENCH_MISS_CONNECTIONS (default "1,10") the loads at which the miss pair
 * (d) runs: 1 connection gives Bastion's own latency without queueing, 10 shows it under load; REDIS_URL the
 * Redis to use.
 */
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertClean, measure, type Measurement } from './measure.js';
import { bareFastify } from './targets/bare-fastify.js';
import { bastionCacheHit, bastionOpenAiCacheHit } from './targets/bastion-cache-hit.js';
import { bareProxy } from './targets/bare-proxy.js';
import { bastionMiss, UPSTREAM_DELAY_MS, upstreamDirect } from './targets/miss-path.js';
import { portkeyMiss, portkeyServerScript, portkeyVersion } from './targets/portkey-miss.js';
import type { BenchTarget } from './targets/target.js';

const WARMUP_SECONDS = 2;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Compiled to dist-bench/bench/run.js; results go to the source tree's bench/results/.
const RESULTS_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../bench/results/latest.json');
const PORTKEY_MISSING =
  '@portkey-ai/gateway is not installed (it is a dev dependency: run npm ci), so the Portkey peer for (d) was ' +
  'skipped.';

const log = (line: string): void => console.log(line);

function intFromEnv(name: string, fallback: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`${name} must be an integer between 1 and ${max}, got "${raw}"`);
  }
  return value;
}

interface TargetResult {
  id: string;
  label: string;
  connections: number;
  measurement: Measurement;
  warmup: Measurement;
  checks: Record<string, number | string | boolean>;
  /** Resident memory of the target's process (the server and this harness) right after the load. */
  rssAfterLoadMb: number;
}

async function benchTarget(target: BenchTarget, seconds: number, connections: number): Promise<TargetResult> {
  const say = (line: string): void => log(`[${target.id} @${connections}] ${line}`);
  say('starting …');
  const started = await target.start(say);
  try {
    say(`warming up (${WARMUP_SECONDS} s, ${connections} connections) …`);
    const warmup = await measure(started.load, { connections, durationSeconds: WARMUP_SECONDS });
    assertClean(`${target.id} warm-up`, warmup);
    say(`measuring (${seconds} s, ${connections} connections) …`);
    const measurement = await measure(started.load, {
      connections,
      durationSeconds: seconds,
      onProgress: (elapsed, responses) => say(`  ${elapsed}/${seconds} s: ${responses} req/s`),
    });
    assertClean(`${target.id} measurement`, measurement);
    const rssAfterLoadMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    const checks = await started.verify();
    say(
      `done: ${measurement.rps} req/s, p50 ${measurement.p50} ms, p99 ${measurement.p99} ms, ` +
        `${measurement.requests} responses, ${measurement.non2xx} non-2xx`,
    );
    return { id: target.id, label: target.label, connections, measurement, warmup, checks, rssAfterLoadMb };
  } finally {
    say('stopping …');
    await started.stop();
  }
}

const ratio = (value: number, base: number): number => (base > 0 ? Number((value / base).toFixed(3)) : NaN);
const ms = (value: number): string => value.toFixed(2);

function resultsTable(results: [string, TargetResult][]): string {
  const rows = [
    '| | target | connections | req/s | p50 (ms) | p99 (ms) | responses | non-2xx |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [, r] of results) {
    const m = r.measurement;
    const letter =
      r.id === 'bare-fastify'
        ? 'a'
        : r.id === 'bastion-cache-hit'
          ? 'b'
          : r.id === 'bastion-openai-cache-hit'
            ? 'c'
            : 'd';
    rows.push(
      `| ${letter} | ${r.label} | ${r.connections} | ${m.rps.toFixed(0)} | ${ms(m.p50)} | ` +
        `${ms(m.p99)} | ${m.requests} | ${m.non2xx} |`,
    );
  }
  return rows.join('\n');
}

function missLoads(): number[] {
  const raw = process.env.BENCH_MISS_CONNECTIONS?.trim() || '1,10';
  const loads = raw.split(',').map((x) => Number(x.trim()));
  if (loads.some((n) => !Number.isInteger(n) || n < 1 || n > 10_000)) {
    throw new Error(
      `BENCH_MISS_CONNECTIONS must be comma-separated integers between 1 and 10000, got "${raw}"`,
    );
  }
  return loads;
}

/** A gateway on the miss path measured against the fake upstream called directly at the same load. */
interface AgainstDirect {
  rps: number;
  p50: number;
  p99: number;
  addedP50Ms: number;
  addedP99Ms: number;
  throughputRatio: number;
}

function againstDirect(m: Measurement, direct: Measurement): AgainstDirect {
  return {
    rps: m.rps,
    p50: m.p50,
    p99: m.p99,
    addedP50Ms: Number((m.p50 - direct.p50).toFixed(3)),
    addedP99Ms: Number((m.p99 - direct.p99).toFixed(3)),
    throughputRatio: ratio(m.rps, direct.rps),
  };
}

/** A peer's figures next to Bastion's, one row per load. */
function peerTable<R extends { connections: number; addedP50Ms: number; addedP99Ms: number }>(
  name: string,
  rows: R[],
  peerOf: (row: R) => AgainstDirect | null,
): string[] {
  const lines = [
    `| connections | ${name} req/s | ${name} p50 / p99 (ms) | req/s ratio | added p50 | added p99 | Bastion added p50 / p99 |`,
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const p = peerOf(row);
    if (!p) continue;
    lines.push(
      `| ${row.connections} | ${p.rps.toFixed(0)} | ${ms(p.p50)} / ${ms(p.p99)} | ${p.throughputRatio.toFixed(3)} | ` +
        `+${ms(p.addedP50Ms)} ms | +${ms(p.addedP99Ms)} ms | +${ms(row.addedP50Ms)} / +${ms(row.addedP99Ms)} ms |`,
    );
  }
  return lines;
}

/** Every run of the bench, in order; the same list in the parent and in each target's process. */
function benchTargets(
  connections: number,
  loads: number[],
  portkeyScript: string | null,
): [BenchTarget, number][] {
  return [
    [bareFastify(REDIS_URL), connections],
    [bastionCacheHit(REDIS_URL), connections],
    [bastionOpenAiCacheHit(REDIS_URL), connections],
    ...loads.flatMap((n): [BenchTarget, number][] => [
      [upstreamDirect(), n],
      [bareProxy(), n],
      [bastionMiss(REDIS_URL), n],
      ...(portkeyScript ? [[portkeyMiss(portkeyScript), n] as [BenchTarget, number]] : []),
    ]),
  ];
}

/** What a target's process sends back to the parent. */
type OneResult = { kind: 'done'; result: TargetResult } | { kind: 'failed'; message: string };

/** How long a target's process may take to exit once it sent its result (its servers are already closed). */
const EXIT_GRACE_MS = 10_000;

/**
 * Runs run `index` of the list in a fresh process (this script with `--one`); its log goes to our stdout.
 * Settles once the process has sent its result and exited, so no two targets ever overlap; a process that
 * lingers after its result (a handle its target left open) is named and killed.
 */
function benchInOwnProcess(index: number, label: string): Promise<TargetResult> {
  const child = fork(fileURLToPath(import.meta.url), ['--one', String(index)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise<TargetResult>((resolve, reject) => {
    let answer: OneResult | null = null;
    let lingering: NodeJS.Timeout | undefined;
    const settle = (): void => {
      clearTimeout(lingering);
      if (answer?.kind === 'done') resolve(answer.result);
      else if (answer?.kind === 'failed') reject(new Error(`${label}: ${answer.message}`));
    };
    child.on('message', (message: OneResult) => {
      answer = message;
      lingering = setTimeout(() => {
        log(
          `[${label}] its process did not exit ${EXIT_GRACE_MS / 1000} s after its result (an open handle): killed`,
        );
        child.kill('SIGKILL');
      }, EXIT_GRACE_MS);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (answer) return settle();
      reject(new Error(`${label}: its process exited (code ${code}, signal ${signal}) without a result`));
    });
  });
}

/** The child side of benchInOwnProcess: one run, its result to the parent, then exit. */
async function runOne(index: number, seconds: number, connections: number, loads: number[]): Promise<void> {
  const [target, n] = benchTargets(connections, loads, portkeyServerScript())[index];
  const send = (message: OneResult): Promise<void> =>
    new Promise((done) => process.send?.(message, () => done()) ?? done());
  try {
    await send({ kind: 'done', result: await benchTarget(target, seconds, n) });
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`[${target.id} @${n}] FAILED: ${message}`);
    await send({ kind: 'failed', message });
  }
  process.disconnect?.();
}

async function main(): Promise<void> {
  const seconds = intFromEnv('BENCH_DURATION_SECONDS', 10, 3600);
  const connections = intFromEnv('BENCH_CONNECTIONS', 50, 10_000);
  const loads = missLoads();
  const portkeyScript = portkeyServerScript();
  const targets = benchTargets(connections, loads, portkeyScript);
  const wallStart = performance.now();
  const loadAtStart = loadavg()[0];
  log(
    `Bastion bench: ${targets.length} runs, ${WARMUP_SECONDS} s warm-up + ${seconds} s each, ` +
      `${connections} connections (miss pair: ${loads.join(' and ')}), Node ${process.version}, ` +
      `${cpus().length} CPUs, load average ${loadAtStart.toFixed(2)}, Redis ${REDIS_URL}`,
  );

  const results: [string, TargetResult][] = [];
  for (const [i, [target, n]] of targets.entries())
    results.push([`${target.id}@${n}`, await benchInOwnProcess(i, `${target.id} @${n}`)]);
  const by = (key: string): Measurement =>
    (results.find(([k]) => k === key) as [string, TargetResult])[1].measurement;

  const floor = by(`bare-fastify@${connections}`);
  const cacheHits: Record<string, { throughput: number; p50: number; p99: number }> = {};
  for (const id of ['bastion-cache-hit', 'bastion-openai-cache-hit']) {
    const m = by(`${id}@${connections}`);
    cacheHits[id] = {
      throughput: ratio(m.rps, floor.rps),
      p50: ratio(m.p50, floor.p50),
      p99: ratio(m.p99, floor.p99),
    };
  }
  const missPath = loads.map((n) => {
    const direct = by(`upstream-direct@${n}`);
    const miss = by(`bastion-miss@${n}`);
    const proxy = by(`bare-proxy@${n}`);
    const portkey = portkeyScript ? by(`portkey-miss@${n}`) : null;
    return {
      connections: n,
      upstreamDelayMs: UPSTREAM_DELAY_MS,
      direct: { rps: direct.rps, p50: direct.p50, p99: direct.p99 },
      bastion: { rps: miss.rps, p50: miss.p50, p99: miss.p99 },
      addedP50Ms: Number((miss.p50 - direct.p50).toFixed(3)),
      addedP99Ms: Number((miss.p99 - direct.p99).toFixed(3)),
      throughputRatio: ratio(miss.rps, direct.rps),
      bareProxy: againstDirect(proxy, direct),
      portkey: portkey && againstDirect(portkey, direct),
    };
  });

  log('');
  log(resultsTable(results));
  log('');
  log('Cache hits against the floor (a):');
  log('');
  log('| path | req/s ÷ floor | p50 ÷ floor | p99 ÷ floor | goal: req/s ≥ 0.5 × floor |');
  log('|---|---:|---:|---:|---|');
  for (const [id, r] of Object.entries(cacheHits)) {
    log(
      `| ${id} | ${r.throughput.toFixed(3)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ` +
        `${r.throughput >= 0.5 ? 'met' : 'missed'} |`,
    );
  }
  log('');
  // Each hit run's process holds one Bastion and the bench's harness (the load comes from yet another process).
  const rss = Math.max(...results.filter(([k]) => k.includes('cache-hit')).map(([, r]) => r.rssAfterLoadMb));
  log(`Bastion RSS after load: ${rss} MB (goal < 200 MB: ${rss < 200 ? 'met' : 'missed'})`);
  log('');
  log(
    `Miss path (d): Bastion's /ai/call miss vs the same fake upstream (answering after ${UPSTREAM_DELAY_MS} ms) called directly:`,
  );
  log('');
  log(
    '| connections | direct req/s | direct p50 / p99 (ms) | Bastion req/s | Bastion p50 / p99 (ms) | req/s ratio | **added p50** | **added p99** |',
  );
  log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const m of missPath) {
    log(
      `| ${m.connections} | ${m.direct.rps.toFixed(0)} | ${ms(m.direct.p50)} / ${ms(m.direct.p99)} | ` +
        `${m.bastion.rps.toFixed(0)} | ${ms(m.bastion.p50)} / ${ms(m.bastion.p99)} | ${m.throughputRatio.toFixed(3)} | ` +
        `**+${ms(m.addedP50Ms)} ms** | **+${ms(m.addedP99Ms)} ms** |`,
    );
  }
  log('');
  log(
    'The floor of any gateway on this machine: a bare node:http proxy (no parsing, no Redis, no logging) in ' +
      "Bastion's place, against the direct call:",
  );
  log('');
  for (const line of peerTable('bare proxy', missPath, (m) => m.bareProxy)) log(line);
  log('');
  const quiet = missPath[0];
  log(
    `Goal: added p50 ≤ 1 ms on the miss path at ${quiet.connections} connection${quiet.connections === 1 ? '' : 's'}: ` +
      `${quiet.addedP50Ms <= 1 ? 'met' : 'missed'} (+${ms(quiet.addedP50Ms)} ms).`,
  );
  if (portkeyScript) {
    log('');
    log(
      `Peer on the same miss path: Portkey gateway ${portkeyVersion()} (its own Node process) proxying the same fake ` +
        `upstream, against the direct call:`,
    );
    log('');
    for (const line of peerTable('Portkey', missPath, (m) => m.portkey)) log(line);
    log('');
    for (const m of missPath.slice(1)) {
      if (!m.portkey) continue;
      const met = m.addedP50Ms <= m.portkey.addedP50Ms;
      log(
        `Goal: at ${m.connections} connections Bastion adds no more than Portkey (p50): ${met ? 'met' : 'missed'} ` +
          `(Bastion +${ms(m.addedP50Ms)} ms, Portkey +${ms(m.portkey.addedP50Ms)} ms).`,
      );
    }
    log('');
    log(
      'Portkey only proxies here (no cache, no budget, no ledger); Bastion also looks up its response cache, ' +
        'reserves and settles the budget, prices the call and records it.',
    );
  } else {
    log(PORTKEY_MISSING);
  }

  const wallSeconds = (performance.now() - wallStart) / 1000;
  const report = {
    generatedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpuCount: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadAverageAtStart: loadAtStart,
    },
    settings: {
      connections,
      missConnections: loads,
      warmupSeconds: WARMUP_SECONDS,
      durationSeconds: seconds,
    },
    baseline: 'bare-fastify',
    targets: Object.fromEntries(results),
    ratios: cacheHits,
    missPath,
    bastionRssAfterLoadMb: rss,
    portkey: portkeyScript ? { version: portkeyVersion() } : { skipped: true, reason: PORTKEY_MISSING },
    wallSeconds,
  };
  await mkdir(dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  log(`raw results written to ${RESULTS_FILE} (wall time ${wallSeconds.toFixed(0)} s)`);
}

const one = process.argv.indexOf('--one');
(one >= 0
  ? runOne(
      Number(process.argv[one + 1]),
      intFromEnv('BENCH_DURATION_SECONDS', 10, 3600),
      intFromEnv('BENCH_CONNECTIONS', 50, 10_000),
      missLoads(),
    )
  : main()
).catch((err: unknown) => {
  console.error(`BENCH FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});

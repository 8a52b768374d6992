/**
 * `npm run bench:cpu`: CPU time per request of each target in this process (where the servers run; the load
 * comes from a child process), which unlike req/s does not depend on what else the machine is doing.
 * For every target: a warm-up, then a fixed-length autocannon run, and the process's user + system CPU time
 * over it divided by the responses. With BENCH_CPU_PROFILE=1 it also samples a V8 CPU profile of each
 * measured run and prints the self time by file (node_modules by package) and the top functions; with
 * BENCH_CPU_PROFILE_DIR=<dir> it also writes each profile there (<target>.cpuprofile, for Chrome DevTools).
 * The profiler samples wall time: on a busy machine syscalls (writev) look heavier than they are.
 *
 * BENCH_DURATION_SECONDS (default 5) per run, BENCH_CONNECTIONS (default 50) for the cache hits and the floor,
 * BENCH_MISS_CONNECTIONS (default 1) for the miss pair, BENCH_CPU_TARGETS (comma-separated ids; default all),
 * REDIS_URL. The miss figures include the fake upstream (a worker thread of this process), so compare
 * bastion-miss with upstream-direct.
 */
import { Session } from 'node:inspector/promises';
import { assertClean, measure } from './measure.js';
import { bareFastify } from './targets/bare-fastify.js';
import { bastionCacheHit, bastionOpenAiCacheHit } from './targets/bastion-cache-hit.js';
import { bastionMiss, upstreamDirect } from './targets/miss-path.js';
import type { BenchTarget } from './targets/target.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const seconds = Number(process.env.BENCH_DURATION_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const missConnections = Number(process.env.BENCH_MISS_CONNECTIONS ?? 1);
const profile = process.env.BENCH_CPU_PROFILE === '1';
const wanted = process.env.BENCH_CPU_TARGETS?.split(',').map((s) => s.trim());

interface ProfileNode {
  id: number;
  callFrame: { url: string; functionName: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (url === '') return '(native/gc/idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/dist-bench/');
  return src >= 0 ? url.slice(src + '/dist-bench/'.length) : url;
}

function summarise(p: Profile, top = 25): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  const fnUs = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    if (!node) continue;
    const name = node.callFrame.functionName;
    if (name === '(idle)') continue;
    total += dt;
    const file = name === '(garbage collector)' ? '(gc)' : where(node.callFrame.url);
    selfUs.set(file, (selfUs.get(file) ?? 0) + dt);
    const fn = `${name || '(anonymous)'} ${file}:${node.callFrame.lineNumber + 1}`;
    fnUs.set(fn, (fnUs.get(fn) ?? 0) + dt);
  }
  const lines = [`  busy ${(total / 1000).toFixed(0)} ms sampled; self time by file/package:`];
  for (const [file, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`    ${((100 * us) / total).toFixed(1).padStart(5)}%  ${file}`);
  lines.push('  top functions:');
  for (const [fn, us] of [...fnUs].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`    ${((100 * us) / total).toFixed(1).padStart(5)}%  ${fn}`);
  return lines;
}

async function run(target: BenchTarget, conns: number): Promise<void> {
  const started = await target.start(() => {});
  try {
    assertClean('warm-up', await measure(started.load, { connections: conns, durationSeconds: 2 }));
    const session = new Session();
    if (profile) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    }
    const before = process.cpuUsage();
    const m = await measure(started.load, { connections: conns, durationSeconds: seconds });
    const cpu = process.cpuUsage(before);
    let lines: string[] = [];
    if (profile) {
      const { profile: p } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
      session.disconnect();
      lines = summarise(p);
      if (process.env.BENCH_CPU_PROFILE_DIR) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(`${process.env.BENCH_CPU_PROFILE_DIR}/${target.id}.cpuprofile`, JSON.stringify(p));
      }
    }
    assertClean('measurement', m);
    await started.verify();
    const perReq = (cpu.user + cpu.system) / m.requests;
    const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
    console.log(
      `${target.id.padEnd(26)} @${String(conns).padStart(2)}: ${perReq.toFixed(1).padStart(7)} µs CPU/request ` +
        `(user ${(cpu.user / m.requests).toFixed(1)}, sys ${(cpu.system / m.requests).toFixed(1)}), ` +
        `${m.rps.toFixed(0)} req/s, p50 ${m.p50} ms, ${m.requests} responses, RSS ${rss} MB`,
    );
    for (const line of lines) console.log(line);
  } finally {
    await started.stop();
  }
}

async function main(): Promise<void> {
  const all: [BenchTarget, number][] = [
    [bareFastify(REDIS_URL), connections],
    [bastionCacheHit(REDIS_URL), connections],
    [bastionOpenAiCacheHit(REDIS_URL), connections],
    [upstreamDirect(), missConnections],
    [bastionMiss(REDIS_URL), missConnections],
  ];
  for (const [target, conns] of all) {
    if (wanted && !wanted.includes(target.id)) continue;
    await run(target, conns);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

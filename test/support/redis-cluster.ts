import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * A local three-master Redis Cluster for tests: three `redis-server --cluster-enabled yes` processes on free
 * ports under their own temporary directory, joined with `redis-cli --cluster create`. Needs redis-server and
 * redis-cli on PATH (Debian's redis-server package has both).
 */
export interface LocalRedisCluster {
  /** The start-up nodes, as REDIS_CLUSTER_NODES takes them: `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`. */
  nodes: string;
  ports: number[];
  stop(): Promise<void>;
}

/** A port that is free, and whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the kernel's ephemeral range (32768 and up), bus ports included, so no outgoing connection takes them.
    const port = 10000 + Math.floor(Math.random() * 12000);
    if (taken.has(port) || taken.has(port + 10000) || taken.has(port - 10000)) continue;
    if ((await isFree(port)) && (await isFree(port + 10000))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function redisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it holds; throws `message` after `timeoutMs`, or what `abort` says. */
async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  message: string,
  abort: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const reason = abort();
    if (reason) throw new Error(reason);
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(message);
}

/**
 * Starts the three masters, joins them and waits until every node reports `cluster_state:ok`. A port taken
 * between choosing it and binding it (other test runs start servers too) makes one more attempt.
 */
export async function startRedisCluster(): Promise<LocalRedisCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptCluster();
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function attemptCluster(): Promise<LocalRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-redis-cluster-'));
  const children: ChildProcess[] = [];
  const clients: Redis[] = [];
  let output = '';
  const stop = async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    process.removeListener('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
  };
  // A test run that ends without its teardown (an error, Ctrl-C) must not leave servers behind.
  const killOnExit = () => children.forEach((child) => child.kill('SIGKILL'));
  process.once('exit', killOnExit);
  const exited = () => {
    const gone = children.find((child) => child.exitCode !== null || child.signalCode !== null);
    return gone ? `a redis-server of the cluster exited (code ${gone.exitCode})` : undefined;
  };
  try {
    const taken = new Set<number>();
    const ports = [await freeClusterPort(taken), await freeClusterPort(taken), await freeClusterPort(taken)];
    for (const port of ports) {
      const child = spawn(
        'redis-server',
        [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          // Generous: on a loaded machine a slow ping must not mark a master as failed (there are no replicas).
          '--cluster-node-timeout',
          '60000',
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      child.once('error', (err) => (output += `\n${err.message}`));
      children.push(child);
    }
    for (const port of ports) {
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
      client.on('error', () => undefined); // retried below
      clients.push(client);
    }
    await until(
      // A lazy client connects on its first command, and keeps reconnecting until the server listens.
      async () => (await Promise.all(clients.map((c) => c.ping()))).every((r) => r === 'PONG'),
      20_000,
      'the Redis Cluster nodes did not start',
      exited,
    );
    await redisCli(
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      60_000,
    );
    await until(
      async () => {
        const infos = await Promise.all(clients.map((c) => c.cluster('INFO')));
        return infos.every(
          (info) =>
            info.includes('cluster_state:ok') &&
            info.includes('cluster_slots_ok:16384') &&
            info.includes('cluster_known_nodes:3'),
        );
      },
      60_000,
      'the Redis Cluster did not reach cluster_state:ok',
      exited,
    );
    for (const client of clients) client.disconnect();
    clients.length = 0;
    return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), ports, stop };
  } catch (err) {
    await stop();
    const hint = `${(err as Error).message}${output}`.includes('ENOENT')
      ? ' (the cluster tests need redis-server and redis-cli on PATH: apt-get install redis-server)'
      : '';
    throw new Error(`${(err as Error).message}${hint}\nredis-server output:\n${output}`, { cause: err });
  }
}

/**
 * Jest global setup of the "cluster" project (jest.config.js): starts one cluster for the whole run. The node
 * list reaches the test workers through BASTION_TEST_CLUSTER_NODES (workers inherit this process's
 * environment); the project's setup file (test/setup-cluster-env.ts) makes the tests use it. This file
 * imports nothing of the project's own: Jest loads a global setup outside its module mapping.
 */
export default async function setupCluster(): Promise<void> {
  const cluster = await startRedisCluster();
  process.env.BASTION_TEST_CLUSTER_NODES = cluster.nodes;
  (globalThis as { bastionTestCluster?: LocalRedisCluster }).bastionTestCluster = cluster;
}

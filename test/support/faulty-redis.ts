import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { canConnect, waitFor } from './redis-server.js';

/** A port the OS just handed out (closed again at once, so redis-server can take it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

/** Redis 7 refuses DEBUG unless the server allows it; older servers do not know the option. */
function debugCommandArgs(): string[] {
  const version = /v=(\d+)\./.exec(spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout);
  return version && Number(version[1]) >= 7 ? ['--enable-debug-command', 'yes'] : [];
}

/** One command Redis executed, as MONITOR reports it. */
export interface MonitoredCommand {
  /** Lower-case command name. */
  name: string;
  args: string[];
  /** When the server executed it (epoch ms, the server's clock). */
  at: number;
}

/**
 * A private redis-server for fault tests: killed (SIGKILL, like a crash), restarted on the same port, or
 * slowed with `DEBUG SLEEP` (the whole server stops answering for that long, as under a long fork or a
 * swap storm). It keeps an append-only file fsynced on every write, so what Redis acknowledged survives a
 * kill and a restart, as on a production Redis with persistence; the shared Redis of the other tests is
 * never touched.
 */
export class FaultyRedis {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'bastion-faulty-redis-'));
  private readonly sleepers = new Set<Redis>();

  private constructor(readonly port: number) {}

  static async start(): Promise<FaultyRedis> {
    const redis = new FaultyRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      ...debugCommandArgs(),
    ];
    this.child = spawn('redis-server', args, { stdio: 'ignore' });
    await waitFor(() => canConnect(this.port), 10_000, `redis-server on port ${this.port} did not start`);
    // A restarted server answers LOADING until it has read its append-only file.
    await waitFor(
      async () => (await this.command('PING').catch(() => null)) === 'PONG',
      10_000,
      `redis-server on port ${this.port} did not load its data`,
    );
  }

  /** SIGKILL: no goodbye to the clients, connections refused until start(). */
  async kill(): Promise<void> {
    for (const sleeper of this.sleepers) sleeper.disconnect();
    this.sleepers.clear();
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /**
   * `DEBUG SLEEP seconds`: the server answers nothing for that long, then executes what queued up meanwhile.
   * Resolves once the command is in the server's hands; `awake` resolves when the server answers again.
   */
  async sleep(seconds: number): Promise<{ awake: Promise<void> }> {
    const client = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    client.on('error', () => undefined);
    this.sleepers.add(client);
    await client.connect();
    let refused: unknown = null;
    const awake = client
      .call('DEBUG', 'SLEEP', String(seconds))
      .then(
        () => undefined,
        (err: unknown) => {
          refused = err;
        },
      )
      .finally(() => {
        this.sleepers.delete(client);
        client.disconnect();
      });
    // The sleep has begun once another connection's PING goes unanswered.
    for (let probe = 0; probe < 20; probe++) {
      const answered = await this.command('PING', 200).then(
        () => true,
        () => false,
      );
      if (refused !== null)
        throw new Error(
          `DEBUG SLEEP refused: ${refused instanceof Error ? refused.message : 'unknown error'}`,
        );
      if (!answered) return { awake };
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('DEBUG SLEEP did not take effect');
  }

  /**
   * Records every command the server executes from now on (MONITOR), until the returned stop() is called.
   * Commands sent while the server sleeps are recorded when it wakes and executes them.
   */
  async monitor(): Promise<{ commands: MonitoredCommand[]; stop: () => void }> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    await client.connect();
    const monitor = await client.monitor();
    const commands: MonitoredCommand[] = [];
    monitor.on('error', () => undefined);
    monitor.on('monitor', (time: string, args: string[]) => {
      commands.push({
        name: String(args[0]).toLowerCase(),
        args: args.slice(1).map(String),
        at: Number(time) * 1000,
      });
    });
    return {
      commands,
      stop: () => {
        monitor.disconnect();
        client.disconnect();
      },
    };
  }

  /** One command on a short-lived connection; rejects after `timeoutMs`. */
  async command(name: string, timeoutMs = 1000, ...args: string[]): Promise<unknown> {
    const client = new Redis(this.url, {
      lazyConnect: true,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        client.connect().then(() => client.call(name, ...args)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${name}: no answer in ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      client.disconnect();
    }
  }

  /** Kills the server and removes its files. */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

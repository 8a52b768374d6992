import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomPort, waitFor } from './redis-server.js';

/**
 * Where this jest worker compiles the server: one directory per worker, so two test files building at once
 * never overwrite the files a child of the other is loading. The child runs from the repository root, so
 * config/ files and node_modules resolve as they do for `node dist/main.js`.
 */
const OUT_DIR = `test-output/dist-${process.env.JEST_WORKER_ID ?? '0'}`;
let built = false;

/** Compiles the server once per test file so a child process runs the current code, not a stale build. */
export function buildOnce(): void {
  if (built) return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', OUT_DIR], { stdio: 'inherit' });
  built = true;
}

/** Bastion as a real OS process (`node <build>/main.js`), so a test can SIGKILL it. */
export class ChildBastion {
  private child: ChildProcess | undefined;
  readonly port = randomPort();
  output = '';

  /** `env`: the instance's settings, over this process's environment (an undefined value unsets a variable). */
  constructor(private readonly env: Record<string, string | undefined>) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    buildOnce();
    this.child = spawn(process.execPath, [`${OUT_DIR}/main.js`], {
      env: { ...process.env, NODE_OPTIONS: '', ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    const child = this.child;
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error('it exited');
          try {
            return (await fetch(`${this.url}/health/ready`)).status === 200;
          } catch {
            return false;
          }
        },
        // Booting takes a few seconds, much longer while other suites' processes load the machine.
        45_000,
        'no ready answer within 45 s',
      );
    } catch (err) {
      throw new Error(
        `The child Bastion did not become ready (${(err as Error).message}); its last output:\n` +
          this.output.slice(-2000),
        { cause: err },
      );
    }
  }

  /** SIGKILL: no shutdown hook runs, exactly like a crash. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

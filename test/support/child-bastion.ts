import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomPort, waitFor } from './redis-server.js';

let built = false;

/** Compiles the server once per test file so a child process runs the current code, not a stale dist/. */
export function buildOnce(): void {
  if (built) return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  built = true;
}

/** Bastion as a real OS process (`node dist/main.js`), so a test can SIGKILL it. */
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
    this.child = spawn(process.execPath, ['dist/main.js'], {
      env: { ...process.env, NODE_OPTIONS: '', ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    await waitFor(
      async () => {
        try {
          return (await fetch(`${this.url}/health/ready`)).status === 200;
        } catch {
          return false;
        }
      },
      15_000,
      'the child Bastion did not become ready',
    );
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

import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';

/** A private redis-server process a test can kill and restart (the shared one must stay up). */
export class DisposableRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await waitFor(() => canConnect(this.port), 5000, `redis-server on port ${this.port} did not start`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  message: string,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(message);
}

/**
 * A port for a server a test starts. Drawn below Linux's ephemeral range (32768 and up by default), where the
 * outgoing connections of the other suites running at the same time take their local ports: a port from that
 * range can already be in use (EADDRINUSE), which made the child-process suites fail now and then.
 */
export const randomPort = (): number => 20000 + Math.floor(Math.random() * 12000);

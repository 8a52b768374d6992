/**
 * The peer for the miss path (d): Portkey's open-source AI gateway (@portkey-ai/gateway, a dev dependency)
 * proxying the same fake DeepSeek with the same body, as a bot would use it: OpenAI provider, custom host.
 * It runs as its own Node process (its published server), like Bastion's targets run in this process
 * and the load generator in a child; nothing of it is cached (it has no response cache configured).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { startFakeDeepSeekWorker } from '../fake-deepseek.js';
import { UPSTREAM_KEY } from './bastion-app.js';
import { chatBodyLoad, MISS_CHAT_BODY, MISS_PLACEHOLDER, UPSTREAM_DELAY_MS } from './miss-path.js';
import type { BenchTarget, Log, StartedTarget } from './target.js';

const READY_TIMEOUT_MS = 20_000;

/** Where Portkey's server script is, or null when the package is not installed. */
export function portkeyServerScript(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@portkey-ai/gateway/package.json');
    return join(dirname(pkg), 'build', 'start-server.js');
  } catch {
    return null;
  }
}

export function portkeyVersion(): string | null {
  try {
    return (createRequire(import.meta.url)('@portkey-ai/gateway/package.json') as { version: string })
      .version;
  } catch {
    return null;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilServing(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Portkey exited with ${child.exitCode}: ${output()}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`Portkey did not listen within ${READY_TIMEOUT_MS / 1000} s: ${output()}`);
}

export function portkeyMiss(script: string): BenchTarget {
  return {
    id: 'portkey-miss',
    label: `Portkey gateway ${portkeyVersion() ?? '?'} (proxy → upstream, ${UPSTREAM_DELAY_MS} ms delay)`,
    async start(log: Log): Promise<StartedTarget> {
      const fake = await startFakeDeepSeekWorker({ apiKey: UPSTREAM_KEY, latencyMs: UPSTREAM_DELAY_MS });
      const port = await freePort();
      let output = '';
      const child = spawn(process.execPath, [script, `--port=${port}`, '--headless'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (chunk: Buffer): void => {
        output = (output + chunk.toString()).slice(-2000);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const stop = async (): Promise<void> => {
        if (child.exitCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }
        await fake.close();
      };
      try {
        const base = `http://127.0.0.1:${port}`;
        await waitUntilServing(base, child, () => output);
        log(`Portkey ${portkeyVersion()} on ${base} (own process), provider openai, custom host = the fake`);
        const headers = {
          'content-type': 'application/json',
          authorization: `Bearer ${UPSTREAM_KEY}`,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': fake.baseUrl('portkey'),
        };
        const url = `${base}/v1/chat/completions`;
        const probe = await fetch(url, {
          method: 'POST',
          headers,
          body: MISS_CHAT_BODY.split(MISS_PLACEHOLDER).join('probe'),
        });
        const text = await probe.text();
        if (probe.status !== 200 || !text.includes('"object":"chat.completion"'))
          throw new Error(`probe through Portkey failed: ${probe.status} ${text.slice(0, 300)}`);
        return {
          load: chatBodyLoad(url, headers),
          async verify() {
            await new Promise((resolve) => setTimeout(resolve, 500));
            const upstreamCalls = (await fake.stats()).portkey?.calls ?? 0;
            log(`the fake upstream received ${upstreamCalls} calls through Portkey`);
            return { upstreamCalls };
          },
          stop,
        };
      } catch (err) {
        await stop();
        throw err;
      }
    },
  };
}

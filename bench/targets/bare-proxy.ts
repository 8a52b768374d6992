/**
 * The floor of the miss path (d): the least any gateway in front of the fake upstream can add. A bare node:http
 * proxy in this process (where Bastion runs) reads the request, sends the same body to the fake upstream over a
 * keep-alive connection and writes its answer back — no parsing, no Redis, no logging. What it adds over the
 * direct call is the cost of the extra hop itself on this machine (two more socket reads and writes, two more
 * event-loop wake-ups per request).
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startFakeDeepSeekWorker } from '../fake-deepseek.js';
import { UPSTREAM_KEY } from './bastion-app.js';
import { chatBodyLoad, UPSTREAM_DELAY_MS } from './miss-path.js';
import type { BenchTarget, Log, StartedTarget } from './target.js';

export function bareProxy(): BenchTarget {
  return {
    id: 'bare-proxy',
    label: `bare node:http proxy → upstream (${UPSTREAM_DELAY_MS} ms delay)`,
    async start(log: Log): Promise<StartedTarget> {
      const fake = await startFakeDeepSeekWorker({ apiKey: UPSTREAM_KEY, latencyMs: UPSTREAM_DELAY_MS });
      const upstream = new URL(`${fake.baseUrl('proxy')}/chat/completions`);
      const agent = new Agent({ keepAlive: true });
      const sockets = new Set<Socket>();
      const forward = (req: IncomingMessage, res: ServerResponse): void => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          const out = request(
            upstream,
            {
              method: 'POST',
              agent,
              headers: {
                'content-type': 'application/json',
                authorization: req.headers.authorization ?? '',
                'content-length': body.length,
              },
            },
            (answer) => {
              const parts: Buffer[] = [];
              answer.on('data', (chunk: Buffer) => parts.push(chunk));
              answer.on('end', () => {
                const payload = Buffer.concat(parts);
                res.writeHead(answer.statusCode ?? 502, {
                  'content-type': 'application/json',
                  'content-length': payload.length,
                });
                res.end(payload);
              });
            },
          );
          out.on('error', (err) => {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end(err.message);
          });
          out.end(body);
        });
      };
      const server = createServer(forward);
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      log(`bare proxy on http://127.0.0.1:${port} → ${upstream.href}`);
      return {
        load: chatBodyLoad(`http://127.0.0.1:${port}/chat/completions`),
        async verify() {
          await new Promise((resolve) => setTimeout(resolve, 500));
          const upstreamCalls = (await fake.stats()).proxy?.calls ?? 0;
          log(`the fake upstream received ${upstreamCalls} calls through the bare proxy`);
          return { upstreamCalls };
        },
        async stop() {
          for (const socket of sockets) socket.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          agent.destroy();
          await fake.close();
        },
      };
    },
  };
}

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  body: any;
  at: number;
}

/** A fake webhook / Slack / Telegram receiver that records what it was sent and answers `status()`. */
export async function startReceiver(status: (path: string) => number = () => 200) {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // keep the raw text
      }
      received.push({ path: req.url ?? '', body, at: Date.now() });
      const code = status(req.url ?? '');
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(code < 300 ? JSON.stringify({ ok: true }) : JSON.stringify({ ok: false }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface FakeWhaleAlert {
  restUrl: string;
  wsUrl: string;
  restCalls: { path: string; query: string; key: string | undefined }[];
  subscriptions: Record<string, unknown>[];
  /** api_key query values the stream was opened with. */
  streamKeys: string[];
  connections(): number;
  pushAlert(alert: Record<string, unknown>): void;
  dropAll(): void;
  close(): Promise<void>;
}

/** v1 REST shapes (external-apis.md §5.1): owner omitted when unknown; the last page has no `transactions` key. */
const PAGES: Record<string, unknown>[] = [
  {
    result: 'success',
    cursor: 'c1',
    count: 2,
    transactions: [
      {
        blockchain: 'bitcoin',
        symbol: 'BTC',
        id: '655552612',
        transaction_type: 'transfer',
        hash: 'aa11',
        from: { address: 'bc1qxyz', owner_type: 'unknown' },
        to: { address: '3f5ce5fb', owner: 'binance', owner_type: 'exchange' },
        timestamp: 1795380000,
        amount: 120,
        amount_usd: 11650000.5,
        transaction_count: 1,
      },
      {
        blockchain: 'ethereum',
        symbol: 'usdt',
        id: '655552613',
        transaction_type: 'transfer',
        hash: 'bb22',
        from: { address: '477b8d5e', owner: 'coinbase', owner_type: 'exchange' },
        to: { address: '28c6c062', owner_type: 'unknown' },
        timestamp: 1795380060,
        amount: 5000000,
        amount_usd: 5001234.56,
        transaction_count: 1,
      },
    ],
  },
  {
    result: 'success',
    cursor: 'c2',
    count: 1,
    transactions: [
      {
        blockchain: 'bitcoin',
        symbol: 'btc',
        id: '655552614',
        transaction_type: 'transfer',
        hash: 'cc33',
        from: { address: 'bc1qabc', owner: 'kraken', owner_type: 'exchange' },
        to: { address: 'bc1qdef', owner_type: 'unknown' },
        timestamp: 1795380120,
        amount: 30,
        amount_usd: 2912000,
        transaction_count: 1,
      },
    ],
  },
  { result: 'success', cursor: 'c3', count: 0 },
];

export async function startFakeWhaleAlert(options: { apiKey: string }): Promise<FakeWhaleAlert> {
  const restCalls: FakeWhaleAlert['restCalls'] = [];
  const subscriptions: Record<string, unknown>[] = [];
  const streamKeys: string[] = [];
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const rest = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const key = req.headers['x-wa-api-key'];
    restCalls.push({ path: url.pathname, query: url.search, key: typeof key === 'string' ? key : undefined });
    if (key !== options.apiKey && url.searchParams.get('api_key') !== options.apiKey) {
      return send(res, 401, { result: 'error', message: 'invalid api_key' });
    }
    if (url.pathname === '/v1/status') {
      return send(res, 200, {
        result: 'success',
        blockchain_count: 2,
        blockchains: [
          { name: 'bitcoin', symbols: ['btc'], status: 'connected' },
          { name: 'ethereum', symbols: ['eth', 'usdt'], status: 'connected' },
        ],
      });
    }
    if (url.pathname === '/v1/transactions') {
      const cursor = url.searchParams.get('cursor');
      const page = cursor === 'c1' ? 1 : cursor === 'c2' ? 2 : 0;
      return send(res, 200, PAGES[page]);
    }
    return send(res, 404, { result: 'error', message: 'not found' });
  });
  await new Promise<void>((resolve) => rest.listen(0, '127.0.0.1', resolve));
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const clients = new Set<WebSocket>();
  wss.on('connection', (socket, req) => {
    streamKeys.push(new URL(req.url ?? '/', 'http://fake').searchParams.get('api_key') ?? '');
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    socket.on('message', (raw) => {
      const msg = JSON.parse((raw as Buffer).toString('utf8')) as Record<string, unknown>;
      if (msg.type === 'subscribe_alerts') {
        subscriptions.push(msg);
        socket.send(JSON.stringify({ ...msg, type: 'subscribed_alerts' }));
      }
    });
  });
  return {
    restUrl: `http://127.0.0.1:${(rest.address() as AddressInfo).port}/v1`,
    wsUrl: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`,
    restCalls,
    subscriptions,
    streamKeys,
    connections: () => clients.size,
    pushAlert: (alert) => clients.forEach((c) => c.send(JSON.stringify(alert))),
    dropAll: () => clients.forEach((c) => c.terminate()),
    close: async () => {
      clients.forEach((c) => c.terminate());
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      rest.closeAllConnections();
      await new Promise<void>((resolve) => rest.close(() => resolve()));
    },
  };
}

/**
 * Fake Whale Alert: the legacy REST v1 API (node:http) and the custom-alert WebSocket (ws), with the shapes
 * and quirks of the real service — `owner` omitted when unknown, mixed symbol case, cursor paging that ends
 * with an empty page WITHOUT a `transactions` key, `{"result":"error","message":"invalid api_key"}` with
 * HTTP 401, `subscribed_alerts` echoing the filter, errors as JSON with an `error` field.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export const FAKE_WHALE_KEY = 'wa-test-key-1';

export interface FakeWhaleRestCall {
  path: string;
  /** The raw query string, to prove the key is not in it. */
  query: string;
  /** The X-WA-API-KEY header as received. */
  key: string | undefined;
}

export interface FakeWhaleAlert {
  restUrl: string;
  wsUrl: string;
  restCalls: FakeWhaleRestCall[];
  /** Every `subscribe_alerts` message received, in order. */
  subscriptions: Record<string, unknown>[];
  /** The api_key query value of every accepted or refused stream connection. */
  streamKeys: string[];
  connections(): number;
  /** Sends a message (an alert, or anything else such as `{"error": ...}`) to every connected client. */
  pushAlert(alert: Record<string, unknown>): void;
  /** Kills every stream connection without a close frame, like a vendor restart. */
  dropAll(): void;
  close(): Promise<void>;
}

type Row = Record<string, unknown>;

/** One alert as the WebSocket stream sends it (a `custom_alerts` subscription), with the fields a test varies. */
export function streamAlert({ hash = '0x4a9b7c1e', symbol = 'btc', amount = 30, valueUsd = 2_900_000 } = {}) {
  return {
    type: 'alert',
    channel_id: 'bastion',
    timestamp: 1795380000,
    blockchain: 'bitcoin',
    transaction_type: 'transfer',
    from: 'unknown wallet',
    to: 'Binance',
    amounts: [{ symbol, amount, value_usd: valueUsd }],
    text: `${amount} #${symbol.toUpperCase()} (${valueUsd} USD) transferred from unknown wallet to #Binance (${hash})`,
    transaction: { hash, height: 1, index_in_block: 0, timestamp: 1795380000, sub_transactions: [] },
  };
}

/** Rows per page at most, so the three transactions take two full pages and a final empty one. */
export const FAKE_WHALE_PAGE_SIZE = 2;

/** The transactions the fake serves, in the order the cursor walks through them. */
export const FAKE_WHALE_TRANSACTIONS: Row[] = [
  {
    blockchain: 'bitcoin',
    symbol: 'BTC', // the vendor's case varies
    id: '655552612',
    transaction_type: 'transfer',
    hash: 'aa11',
    from: { address: 'bc1qxyz', owner_type: 'unknown' }, // no `owner` key at all
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
];

const STATUS_BODY = {
  result: 'success',
  blockchain_count: 2,
  blockchains: [
    { name: 'bitcoin', symbols: ['btc'], status: 'connected' },
    { name: 'ethereum', symbols: ['eth', 'usdt', 'usdc'], status: 'connected' },
  ],
};

export async function startFakeWhaleAlert(options: { apiKey?: string } = {}): Promise<FakeWhaleAlert> {
  const apiKey = options.apiKey ?? FAKE_WHALE_KEY;
  const restCalls: FakeWhaleRestCall[] = [];
  const subscriptions: Record<string, unknown>[] = [];
  const streamKeys: string[] = [];

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const rest = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const header = req.headers['x-wa-api-key'];
    const key = typeof header === 'string' ? header : undefined;
    restCalls.push({ path: url.pathname, query: url.search, key });
    // The real API also takes ?api_key=; accept it so a client using it is caught by the query check, not here.
    if (key !== apiKey && url.searchParams.get('api_key') !== apiKey) {
      return send(res, 401, { result: 'error', message: 'invalid api_key' });
    }
    if (url.pathname === '/v1/status') return send(res, 200, STATUS_BODY);
    if (url.pathname === '/v1/transactions') {
      const start = Number(url.searchParams.get('start'));
      if (!Number.isInteger(start) || start <= 0) {
        return send(res, 400, { result: 'error', message: 'start parameter is required' });
      }
      const cursor = url.searchParams.get('cursor');
      // Cursor cN = "after the Nth matching row"; an unknown cursor starts over, as a first request does.
      const offset = cursor && /^c\d+$/.test(cursor) ? Number(cursor.slice(1)) : 0;
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 100) || 100, 100, FAKE_WHALE_PAGE_SIZE);
      const minValue = Number(url.searchParams.get('min_value') ?? 0);
      const currency = url.searchParams.get('currency')?.toLowerCase();
      const matching = FAKE_WHALE_TRANSACTIONS.filter(
        (t) =>
          (t.amount_usd as number) >= minValue &&
          (currency === undefined || String(t.symbol).toLowerCase() === currency),
      );
      const rows = matching.slice(offset, offset + limit);
      const next = `c${offset + rows.length}`;
      if (rows.length === 0) {
        // The quirk clients trip over: an empty page has no `transactions` key.
        return send(res, 200, { result: 'success', cursor: next, count: 0 });
      }
      return send(res, 200, { result: 'success', cursor: next, count: rows.length, transactions: rows });
    }
    return send(res, 404, { result: 'error', message: 'not found' });
  });
  await new Promise<void>((resolve) => rest.listen(0, '127.0.0.1', resolve));

  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/ws',
    verifyClient: (info, done) => {
      const given = new URL(info.req.url ?? '/', 'http://fake').searchParams.get('api_key') ?? '';
      streamKeys.push(given);
      if (given === apiKey) done(true);
      else done(false, 401, 'Unauthorized');
    },
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const clients = new Set<WebSocket>();
  wss.on('connection', (socket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    socket.on('message', (raw, isBinary) => {
      let msg: unknown;
      try {
        if (isBinary) throw new Error('binary frame');
        msg = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : '');
      } catch {
        socket.send(JSON.stringify({ error: 'invalid json' }));
        return;
      }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
        socket.send(JSON.stringify({ error: 'invalid message' }));
        return;
      }
      const m = msg as Record<string, unknown>;
      if (m.type === 'subscribe_alerts') {
        subscriptions.push(m);
        socket.send(JSON.stringify({ ...m, type: 'subscribed_alerts' }));
        return;
      }
      socket.send(JSON.stringify({ error: `unknown message type ${String(m.type)}` }));
    });
  });

  return {
    restUrl: `http://127.0.0.1:${(rest.address() as AddressInfo).port}/v1`,
    wsUrl: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`,
    restCalls,
    subscriptions,
    streamKeys,
    connections: () => clients.size,
    pushAlert: (alert) => {
      const frame = JSON.stringify(alert);
      for (const c of clients) c.send(frame);
    },
    dropAll: () => {
      for (const c of clients) c.terminate();
    },
    close: async () => {
      for (const c of clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      rest.closeAllConnections();
      await new Promise<void>((resolve) => rest.close(() => resolve()));
    },
  };
}

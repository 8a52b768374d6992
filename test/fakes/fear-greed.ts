/**
 * Fake alternative.me Fear & Greed API (`api.alternative.me/fng/`): `GET /fng/?limit=N` answers
 * `{"name","data":[…],"metadata":{"error":null}}` with every value a STRING, newest first, daily readings at
 * 00:00 UTC, and `time_until_update` on the latest entry only. `limit` defaults to 1; `0` is the whole
 * history. Classifications come from fixed value/label pairs (the vendor's bands are undocumented, so the
 * fake never derives a label from a threshold).
 *
 * Only node:http is used so it runs inside Jest, e2e tests and benchmarks alike.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** `business_error`: HTTP 200 with `data: []` and `metadata.error` set, as the real API reports failures. */
export type FearGreedFailure = 'status500' | 'hang' | 'business_error';

export interface FakeFearGreed {
  /** e.g. http://127.0.0.1:PORT (no trailing slash); the API lives under `/fng/`. */
  url: string;
  /** Path and query of every request received (`/fng/?limit=1`). */
  calls: string[];
  /** Make every later request fail in `mode`, until reset(). */
  fail(mode: FearGreedFailure): void;
  reset(): void;
  close(): Promise<void>;
}

/** The latest reading's day: 2026-05-07 00:00 UTC, as in the captured example. */
export const FAKE_FNG_LATEST = 1778112000;
export const FAKE_FNG_TIME_UNTIL_UPDATE = '78730';
export const FAKE_FNG_HISTORY_DAYS = 500;

/** Value/label pairs seen in real answers, newest first, cycled over the history. */
const PAIRS: [string, string][] = [
  ['47', 'Neutral'],
  ['46', 'Fear'],
  ['39', 'Fear'],
  ['24', 'Extreme Fear'],
  ['18', 'Extreme Fear'],
  ['52', 'Neutral'],
  ['61', 'Greed'],
  ['74', 'Greed'],
  ['82', 'Extreme Greed'],
  ['55', 'Neutral'],
];

function reading(daysAgo: number): Record<string, string> {
  const [value, classification] = PAIRS[daysAgo % PAIRS.length];
  const entry: Record<string, string> = {
    value,
    value_classification: classification,
    timestamp: String(FAKE_FNG_LATEST - daysAgo * 86400),
  };
  if (daysAgo === 0) entry.time_until_update = FAKE_FNG_TIME_UNTIL_UPDATE;
  return entry;
}

export async function startFakeFearGreed(): Promise<FakeFearGreed> {
  const calls: string[] = [];
  let failure: FearGreedFailure | undefined;

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    calls.push(url.pathname + url.search);
    if (failure === 'hang') return; // never answer; close() destroys the socket
    if (failure === 'status500') return send(res, 500, '<html><body>500 Internal Server Error</body></html>');
    if (url.pathname !== '/fng/' && url.pathname !== '/fng') return send(res, 404, { error: 'Not found' });
    if (failure === 'business_error') {
      return send(res, 200, {
        name: 'Fear and Greed Index',
        data: [],
        metadata: { error: 'Rate limit exceeded, please try again later.' },
      });
    }
    const raw = url.searchParams.get('limit');
    const parsed = raw === null ? 1 : Number.parseInt(raw, 10);
    const limit = Number.isNaN(parsed) || parsed < 0 ? 1 : parsed === 0 ? FAKE_FNG_HISTORY_DAYS : parsed;
    const count = Math.min(limit, FAKE_FNG_HISTORY_DAYS);
    send(res, 200, {
      name: 'Fear and Greed Index',
      data: Array.from({ length: count }, (_, daysAgo) => reading(daysAgo)),
      metadata: { error: null },
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    fail(mode) {
      failure = mode;
    },
    reset() {
      calls.length = 0;
      failure = undefined;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

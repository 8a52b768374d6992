import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type CoinglassMode = 'ok' | 'plan-error-200' | 'plan-error-401' | 'http500' | 'hang' | 'malformed';

export interface FakeCoinglass {
  url: string;
  calls: { path: string; query: string; key: string | undefined }[];
  mode(m: CoinglassMode): void;
  reset(): void;
  close(): Promise<void>;
}

/** Payloads with the types seen in real captures (external-apis.md §4): some numbers are strings, both liquidation key spellings. */
const DATA: Record<string, unknown> = {
  '/api/futures/liquidation/history': [
    { time: 1747598400000, long_liquidation_usd: '2369935.19562', short_liquidation_usd: '6947459.43674' },
    { time: 1747612800000, long_liquidation_usd: 1234567.5, short_liquidation_usd: 765432.25 },
  ],
  '/api/futures/liquidation/exchange-list': [
    {
      exchange: 'All',
      liquidation_usd: 159220969.68,
      longLiquidation_usd: 134120774.28,
      shortLiquidation_usd: 25100195.39,
    },
    {
      exchange: 'Binance',
      liquidation_usd: 50220969.68,
      longLiquidation_usd: 40120774.28,
      shortLiquidation_usd: 10100195.4,
    },
  ],
  '/api/futures/open-interest/exchange-list': [
    {
      exchange: 'All',
      symbol: 'BTC',
      open_interest_usd: 67130599066.23,
      open_interest_change_percent_24h: 0.66,
    },
    {
      exchange: 'Binance',
      symbol: 'BTC',
      open_interest_usd: 14130599066.23,
      open_interest_change_percent_24h: 1.12,
    },
  ],
  '/api/futures/open-interest/aggregated-history': [
    { time: 1747598400000, open: 68596490975, high: 70045961758, low: 68045912734, close: 70030764119.0 },
  ],
  '/api/futures/funding-rate/exchange-list': [
    {
      symbol: 'BTC',
      stablecoin_margin_list: [
        {
          exchange: 'Binance',
          funding_rate: 0.008631,
          funding_rate_interval: 8,
          next_funding_time: 1763164800000,
        },
        { exchange: 'dYdX', funding_rate: 0.0019890625, funding_rate_interval: 1, next_funding_time: null },
      ],
      token_margin_list: [],
    },
  ],
  '/api/futures/funding-rate/history': [
    { time: 1747238400000, open: '0.004372', high: '0.008807', low: '0.004038', close: '0.004038' },
  ],
  '/api/futures/global-long-short-account-ratio/history': [
    {
      time: 1747598400000,
      global_account_long_percent: 38.5,
      global_account_short_percent: 61.5,
      global_account_long_short_ratio: 0.63,
    },
  ],
  '/api/futures/supported-coins': ['BTC', 'ETH', 'SOL'],
};

export async function startFakeCoinglass(options: { apiKey: string }): Promise<FakeCoinglass> {
  const calls: FakeCoinglass['calls'] = [];
  let current: CoinglassMode = 'ok';
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'API-KEY-MAX-LIMIT': '80',
      'API-KEY-USE-LIMIT': String(calls.length),
    });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const key = req.headers['cg-api-key'];
    calls.push({ path: url.pathname, query: url.search, key: typeof key === 'string' ? key : undefined });
    if (key !== options.apiKey)
      return send(res, 200, { code: '400', msg: key ? 'Invalid API key provided' : 'API key missing.' });
    if (current === 'hang') return; // close() destroys the socket
    if (current === 'http500') return send(res, 500, '<html>500</html>');
    if (current === 'malformed') return send(res, 200, '{"code":"0","data":[');
    if (current === 'plan-error-200') return send(res, 200, { code: '401', msg: 'Upgrade plan' });
    if (current === 'plan-error-401') return send(res, 401, { code: '401', msg: 'Upgrade plan' });
    const data = DATA[url.pathname];
    if (data === undefined) return send(res, 404, { code: '404', msg: 'Endpoint not found' });
    return send(res, 200, { code: '0', msg: 'success', data });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    mode: (m) => (current = m),
    reset: () => {
      calls.length = 0;
      current = 'ok';
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

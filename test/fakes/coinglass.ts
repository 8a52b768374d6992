/**
 * Fake Coinglass v4 (`open-api-v4.coinglass.com`) with the quirks of the real service rather than its docs:
 *
 * - envelope `{"code":"0","msg":"success","data":...}` with a STRING code; errors use the same envelope;
 * - auth by the `CG-API-KEY` header only: a missing or wrong key is `{"code":"400",...}` over HTTP 200;
 * - types from a real capture: OI aggregated OHLC as numbers, funding-rate history OHLC as strings,
 *   pair liquidation history as numeric strings, liquidation exchange-list in camelCase
 *   (`longLiquidation_usd`), nullable `funding_rate_interval` / `next_funding_time`;
 * - `API-KEY-MAX-LIMIT` / `API-KEY-USE-LIMIT` headers on every answer;
 * - modes: a plan error over HTTP 200 (what integrations see) or 401 (what the docs say), an HTML 500, a
 *   hang, and a truncated JSON body; each for every path or for one path only.
 *
 * Only node:http is used so it runs inside Jest, e2e tests and benchmarks alike.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type CoinglassMode = 'ok' | 'plan-error-200' | 'plan-error-401' | 'http500' | 'hang' | 'malformed';

export interface FakeCoinglassCall {
  /** e.g. `/api/futures/liquidation/history`. */
  path: string;
  /** The raw query string with its `?` (empty when none), to check that no key travels in it. */
  query: string;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  /** The `CG-API-KEY` header (shortcut for headers['cg-api-key']). */
  key: string | undefined;
}

export interface FakeCoinglass {
  /** e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** Every request received, in arrival order. */
  calls: FakeCoinglassCall[];
  /** Answer every later request in mode `m`, or only requests for `path` when given, until reset(). */
  mode(m: CoinglassMode, path?: string): void;
  /** Forget calls and modes. */
  reset(): void;
  /** Close the server, hanging requests included. */
  close(): Promise<void>;
}

/** Per-minute cap of a Startup plan. */
const PLAN_LIMIT = 80;

const DATA: Record<string, unknown> = {
  // Docs show strings here; the capture has numbers elsewhere: the first row uses numeric strings.
  '/api/futures/liquidation/history': [
    { time: 1747598400000, long_liquidation_usd: '2369935.19562', short_liquidation_usd: '6947459.43674' },
    { time: 1747612800000, long_liquidation_usd: 1234567.5, short_liquidation_usd: 765432.25 },
  ],
  '/api/futures/liquidation/aggregated-history': [
    {
      time: 1747598400000,
      aggregated_long_liquidation_usd: 2469489.04784,
      aggregated_short_liquidation_usd: 4688197.81167,
    },
  ],
  // Real keys: camelCase long/short next to snake_case liquidation_usd.
  '/api/futures/liquidation/exchange-list': [
    {
      exchange: 'All',
      liquidation_usd: 159220969.68,
      longLiquidation_usd: 134120774.28,
      shortLiquidation_usd: 25100195.39,
    },
    {
      exchange: 'Hyperliquid',
      liquidation_usd: 50220969.68,
      longLiquidation_usd: 40120774.28,
      shortLiquidation_usd: 10100195.4,
    },
    {
      exchange: 'Binance',
      liquidation_usd: 41000000.5,
      longLiquidation_usd: 30000000.25,
      shortLiquidation_usd: 11000000.25,
    },
  ],
  '/api/futures/open-interest/aggregated-history': [
    { time: 1747584000000, open: 67012345678, high: 68700000000, low: 66900000000, close: 68596490975.5 },
    { time: 1747598400000, open: 68596490975, high: 70045961758, low: 68045912734, close: 70030764119.0 },
  ],
  '/api/futures/open-interest/exchange-list': [
    {
      exchange: 'All',
      symbol: 'BTC',
      open_interest_usd: 67130599066.23,
      open_interest_quantity: 695484.05,
      open_interest_by_coin_margin: 9696934030.24,
      open_interest_by_stable_coin_margin: 57433665036.0,
      open_interest_quantity_by_coin_margin: 100346.63,
      open_interest_quantity_by_stable_coin_margin: 595137.41,
      open_interest_change_percent_5m: -0.06,
      open_interest_change_percent_15m: -0.53,
      open_interest_change_percent_30m: -0.44,
      open_interest_change_percent_1h: -0.07,
      open_interest_change_percent_4h: 1.24,
      open_interest_change_percent_24h: 0.66,
    },
    // Binance and dYdX hold equal stablecoin-margined OI, so the OI-weighted funding is their plain mean.
    {
      exchange: 'Binance',
      symbol: 'BTC',
      open_interest_usd: 14130599066.23,
      open_interest_by_stable_coin_margin: 12000000000,
      open_interest_change_percent_24h: 1.12,
    },
    {
      exchange: 'dYdX',
      symbol: 'BTC',
      open_interest_usd: 12500000000,
      open_interest_by_stable_coin_margin: 12000000000,
      open_interest_change_percent_24h: -0.4,
    },
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
        // No open-interest row: left out of the OI-weighted average.
        { exchange: 'Bitunix', funding_rate: 0.05, funding_rate_interval: null, next_funding_time: null },
      ],
      token_margin_list: [
        {
          exchange: 'Binance',
          funding_rate: -0.012,
          funding_rate_interval: 8,
          next_funding_time: 1763164800000,
        },
      ],
    },
    {
      symbol: 'ETH',
      stablecoin_margin_list: [
        {
          exchange: 'Binance',
          funding_rate: 0.01,
          funding_rate_interval: 8,
          next_funding_time: 1763164800000,
        },
      ],
      token_margin_list: [],
    },
  ],
  // Real capture: OHLC strings.
  '/api/futures/funding-rate/history': [
    { time: 1747209600000, open: '0.002100', high: '0.004372', low: '0.002100', close: '0.004372' },
    { time: 1747238400000, open: '0.004372', high: '0.008807', low: '0.004038', close: '0.004038' },
  ],
  '/api/futures/global-long-short-account-ratio/history': [
    {
      time: 1747584000000,
      global_account_long_percent: 40.1,
      global_account_short_percent: 59.9,
      global_account_long_short_ratio: 0.67,
    },
    {
      time: 1747598400000,
      global_account_long_percent: 38.5,
      global_account_short_percent: 61.5,
      global_account_long_short_ratio: 0.63,
    },
  ],
  '/api/futures/supported-coins': ['BTC', 'ETH', 'SOL', 'XRP'],
};

export async function startFakeCoinglass(options: { apiKey: string }): Promise<FakeCoinglass> {
  const calls: FakeCoinglassCall[] = [];
  let globalMode: CoinglassMode = 'ok';
  const pathModes = new Map<string, CoinglassMode>();

  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    contentType = 'application/json',
  ): void => {
    res.writeHead(status, {
      'content-type': contentType,
      'API-KEY-MAX-LIMIT': String(PLAN_LIMIT),
      'API-KEY-USE-LIMIT': String(calls.length),
    });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const key = headers['cg-api-key'];
    calls.push({ path: url.pathname, query: url.search, headers, key });

    if (key === undefined || key === '') return send(res, 200, { code: '400', msg: 'API key missing.' });
    if (key !== options.apiKey) return send(res, 200, { code: '400', msg: 'Invalid API key provided' });
    switch (pathModes.get(url.pathname) ?? globalMode) {
      case 'hang':
        return; // close() destroys the socket
      case 'http500':
        return send(res, 500, '<html><body>500 Internal Server Error</body></html>', 'text/html');
      case 'malformed':
        return send(res, 200, '{"code":"0","msg":"success","data":[{"time":17475984');
      case 'plan-error-200':
        return send(res, 200, { code: '401', msg: 'Upgrade plan' });
      case 'plan-error-401':
        return send(res, 401, { code: '401', msg: 'Upgrade plan' });
      case 'ok':
        break;
    }
    const data = DATA[url.pathname];
    if (data === undefined) return send(res, 404, { code: '404', msg: 'Endpoint not found' });
    return send(res, 200, { code: '0', msg: 'success', data });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    mode(m, path) {
      if (path === undefined) globalMode = m;
      else pathModes.set(path, m);
    },
    reset() {
      calls.length = 0;
      globalMode = 'ok';
      pathModes.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

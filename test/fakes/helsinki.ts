/**
 * Fake Helsinki quant server. The real one has no key and publishes no schema (a private service), so
 * this fake serves what a drifting private schema looks like: some numbers as strings, different field
 * spellings per symbol, and fields missing altogether:
 *
 * - BTC: the "current" spelling (`price`, `smart_money.bias`, `funding.rate`, `liquidation_map.long_levels`),
 *   numbers mostly as strings, levels mixing numbers, strings and `{price, size_usd}` objects;
 * - ETH: an older spelling (`last_price`, `smart_money_bias`, `funding_rate`, `liquidation_levels.long`), plain
 *   numbers, no volatility block;
 * - any other symbol: only `{symbol, timestamp}` — every normalised field must come out null or [].
 *
 * Only node:http is used so it runs inside Jest, e2e tests and benchmarks alike.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type HelsinkiFailure = 'status500' | 'hang' | 'malformed';

export interface FakeHelsinki {
  /** e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** Path of every request received, in arrival order (`/quant/cvd/BTC`, `/health`, …). */
  calls: string[];
  /** Make every later request for exactly `path` fail in `mode`, until reset(). */
  fail(path: string, mode: HelsinkiFailure): void;
  /** Forget calls and failures. */
  reset(): void;
  /** Close the server, hanging requests included. */
  close(): Promise<void>;
}

const TIMESTAMP = '2026-11-22T12:00:00Z';

/** Per-symbol answers, by endpoint. `full` is built from the others so the two never disagree. */
function symbolPayload(endpoint: string, symbol: string): Record<string, unknown> | undefined {
  const btc = symbol === 'BTC';
  const eth = symbol === 'ETH';
  const known = btc || eth;
  const price = btc ? 97123.5 : 3521.25;
  const head = { symbol, timestamp: TIMESTAMP };
  switch (endpoint) {
    case 'cvd':
      return known
        ? {
            ...head,
            timeframe: '1h',
            cvd: btc ? '15234.72' : -8123.4,
            buy_volume: '40211.5',
            sell_volume: '24976.78',
          }
        : head;
    case 'orderbook':
      return known
        ? {
            ...head,
            bids: [
              [String(price - 0.5), '1.25'],
              [String(price - 1.5), '3.10'],
            ],
            asks: [
              [String(price + 0.5), '0.80'],
              [String(price + 2), '2.45'],
            ],
            spread_bps: '0.10',
            imbalance: 0.18,
          }
        : head;
    case 'large-trades':
      return known
        ? {
            ...head,
            threshold_usd: 1_000_000,
            trades: [
              { side: 'buy', price: String(price), size: '25.5', usd: '2476649.25', time: TIMESTAMP },
              { side: 'sell', price: price - 10, size: 12.1, usd: 1175073.35, time: TIMESTAMP },
            ],
          }
        : head;
    case 'smart-money':
      if (btc) return { ...head, bias: 'BULLISH', score: '0.62', netflow_usd: '125000000' };
      if (eth) return { ...head, smart_money_bias: 'bearish', score: -0.41 };
      return head;
    case 'whale-flow':
      return known
        ? { ...head, exchange_inflow_usd: '310000000', exchange_outflow_usd: 452000000, net: '-142000000' }
        : head;
    case 'basis':
      if (btc)
        return {
          ...head,
          spot_price: String(price),
          perp_price: '97180.0',
          basis_bps: '5.86',
          funding_rate: '0.00012',
        };
      if (eth) return { ...head, spot_price: price, basis_bps: 3.2 };
      return head;
    case 'open-interest':
      return known
        ? { ...head, open_interest_usd: btc ? '61234000000' : 18230000000, change_24h_pct: '2.4' }
        : head;
    case 'greeks':
      return known ? { ...head, delta: '0.51', gamma: '0.00002', vega: 41.2, theta: '-55.1' } : head;
    case 'liquidation-map':
      if (btc) {
        return {
          ...head,
          long_levels: [95000, '94250.5', { price: '93000', size_usd: '182000000' }],
          short_levels: ['99000', { price: 100500, size_usd: 95000000 }],
        };
      }
      if (eth) return { ...head, long: [3400, 3300], short: [] };
      return head;
    case 'liquidation-estimate':
      return known
        ? { ...head, long_liquidations_24h_usd: '84000000', short_liquidations_24h_usd: 51000000 }
        : head;
    case 'options-iv':
      return known ? { ...head, atm_iv: '0.48', iv_7d: 0.52, iv_30d: '0.47' } : head;
    case 'iv-rv-spread':
      return known ? { ...head, iv: '0.48', rv: '0.41', spread: 0.07 } : head;
    case 'volatility':
      if (btc) return { ...head, regime: 'Elevated', realized_7d: '0.44', realized_30d: '0.52' };
      return head; // ETH too: the block is missing, as on older server builds
    case 'vwap':
      return known ? { ...head, vwap_24h: btc ? '96850.12' : 3490.7, deviation_pct: '0.28' } : head;
    case 'momentum':
      return known ? { ...head, rsi_14: '61.2', roc_24h_pct: 1.9, signal: 'up' } : head;
    case 'mean-reversion':
      return known ? { ...head, zscore: '1.12', half_life_hours: '18.5' } : head;
    case 'drawdown':
      return known ? { ...head, from_ath_pct: btc ? '-11.4' : -28.9, max_30d_pct: '-8.2' } : head;
    case 'full':
      return fullPayload(symbol);
    default:
      return undefined;
  }
}

function fullPayload(symbol: string): Record<string, unknown> {
  const head = { symbol, timestamp: TIMESTAMP };
  if (symbol === 'BTC') {
    return {
      ...head,
      price: '97123.5',
      smart_money: { bias: 'BULLISH', score: '0.62' },
      funding: { rate: '0.00012', next_funding_time: '2026-11-22T16:00:00Z' },
      liquidation_map: {
        long_levels: [95000, '94250.5', { price: '93000', size_usd: '182000000' }],
        short_levels: ['99000', { price: 100500, size_usd: 95000000 }],
      },
      volatility: { regime: 'Elevated', realized_30d: '0.52' },
      fear_greed: { value: '47', classification: 'Neutral' },
      cvd: symbolPayload('cvd', symbol),
      open_interest: symbolPayload('open-interest', symbol),
    };
  }
  if (symbol === 'ETH') {
    return {
      ...head,
      last_price: 3521.25,
      smart_money_bias: 'bearish',
      funding_rate: -0.0002,
      liquidation_levels: { long: [3400, 3300], short: [] },
      fear_greed_index: '40',
    };
  }
  return head;
}

const STATIC: Record<string, unknown> = {
  '/derivatives/funding': {
    timestamp: TIMESTAMP,
    rates: [
      { symbol: 'BTC', exchange: 'binance', rate: '0.00012' },
      { symbol: 'ETH', exchange: 'binance', rate: -0.0002 },
    ],
  },
  '/derivatives/oi': {
    timestamp: TIMESTAMP,
    total_usd: '98100000000',
    by_symbol: { BTC: '61234000000', ETH: 18230000000 },
  },
  '/derivatives/long-short': {
    timestamp: TIMESTAMP,
    BTC: { long_pct: '52.3', short_pct: '47.7' },
    ETH: { long_pct: 49.1 },
  },
  '/quant/funding-arb': {
    timestamp: TIMESTAMP,
    opportunities: [
      { symbol: 'BTC', long_exchange: 'okx', short_exchange: 'binance', spread_apr_pct: '8.4' },
    ],
  },
  '/quant/dominance': { timestamp: TIMESTAMP, btc_dominance_pct: '57.8', eth_dominance_pct: 12.1 },
  '/quant/defi-tvl': { timestamp: TIMESTAMP, total_tvl_usd: '112400000000', change_24h_pct: '-0.6' },
  '/quant/gas': { timestamp: TIMESTAMP, eth_gwei: { slow: '8', standard: '11', fast: 15 } },
  '/quant/stablecoin-supply': { timestamp: TIMESTAMP, total_usd: '231000000000', usdt_usd: '139000000000' },
  '/sentiment/fear-greed': { timestamp: TIMESTAMP, value: '47', classification: 'Neutral' },
  '/options/skew': { timestamp: TIMESTAMP, BTC: { rr_25d_7d: '-2.1', rr_25d_30d: -0.8 } },
};

const SYMBOL_ROUTE = /^\/quant\/([a-z-]+)\/([A-Za-z0-9]{1,20})$/;

export async function startFakeHelsinki(): Promise<FakeHelsinki> {
  const calls: string[] = [];
  const failures = new Map<string, HelsinkiFailure>();

  const send = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    calls.push(path);
    const failure = failures.get(path);
    if (failure === 'hang') return; // never answer; close() destroys the socket
    if (failure === 'status500') return send(res, 500, JSON.stringify({ detail: 'Internal Server Error' }));
    if (failure === 'malformed') return send(res, 200, '{"symbol": "BTC", "price": 97');
    if (req.method !== 'GET') return send(res, 405, JSON.stringify({ detail: 'Method Not Allowed' }));

    if (path === '/health') return send(res, 200, JSON.stringify({ status: 'ok', uptime_s: 86400 }));
    if (Object.hasOwn(STATIC, path)) return send(res, 200, JSON.stringify(STATIC[path]));
    const match = SYMBOL_ROUTE.exec(path);
    const payload = match ? symbolPayload(match[1], match[2].toUpperCase()) : undefined;
    if (payload) return send(res, 200, JSON.stringify(payload));
    send(res, 404, JSON.stringify({ detail: 'Not Found' }));
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    fail(path, mode) {
      failures.set(path, mode);
    },
    reset() {
      calls.length = 0;
      failures.clear();
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

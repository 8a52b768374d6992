/**
 * Fake Binance spot public API: the endpoints ccxt's `binance` calls to fetch candles
 * (`GET /api/v3/exchangeInfo` on loadMarkets, then `GET /api/v3/klines`), with the real API's wire shapes:
 * klines are arrays of 12 fields with prices as strings, errors are `{"code":-1121,"msg":"Invalid symbol."}`,
 * 429/418 carry `Retry-After`.
 *
 * Point ccxt at it with `new ccxt.binance({ urls: { api: { public: fake.apiBase } } })`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Ohlcv } from '../../src/market-data/candles/candle-source.js';

const INTERVAL_MS: Record<string, number> = {
  '1s': 1_000,
  '1m': 60_000,
  '3m': 180_000,
  '5m': 300_000,
  '15m': 900_000,
  '30m': 1_800_000,
  '1h': 3_600_000,
  '2h': 7_200_000,
  '4h': 14_400_000,
  '6h': 21_600_000,
  '8h': 28_800_000,
  '12h': 43_200_000,
  '1d': 86_400_000,
  '3d': 259_200_000,
  '1w': 604_800_000,
};
const QUOTES = ['USDT', 'USDC', 'FDUSD', 'BTC', 'ETH'];
const DEFAULT_LIMIT = 500;
const MAX_LIMIT = 1000;

export interface FakeBinanceOptions {
  /** Candles served by /api/v3/klines: exchange symbol (`BTCUSDT`) → interval (`1h`) → rows, oldest first. */
  klines: Record<string, Record<string, Ohlcv[]>>;
  /** Delay before every answer. Default 0. */
  latencyMs?: number;
}

export type BinanceFault =
  | {
      kind: 'status';
      status: number;
      code?: number;
      msg?: string;
      retryAfterSeconds?: number;
      times?: number;
    }
  | { kind: 'hang'; times?: number }
  | { kind: 'malformed'; times?: number };

export interface BinanceCall {
  path: string;
  query: Record<string, string>;
  at: number;
}

export interface FakeBinance {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** What ccxt's binance takes as `urls.api.public`: `${url}/api/v3`. */
  apiBase: string;
  /** Every request, in arrival order, faulted ones included. */
  calls: BinanceCall[];
  /** Faults apply FIFO to the next requests on `path` (default `/api/v3/klines`), each `times` times (default forever). */
  inject(fault: BinanceFault, path?: string): void;
  reset(): void;
  /** Close the server and every open socket, hanging requests and ccxt's keep-alive connections included. */
  close(): Promise<void>;
}

interface QueuedFault {
  fault: BinanceFault;
  path: string;
  remaining: number;
}

/** `46216.93` → `"46216.93000000"`, as Binance prints every decimal. */
const dec = (n: number): string => n.toFixed(8);

function splitSymbol(symbol: string): { base: string; quote: string } {
  const quote = QUOTES.find((q) => symbol.endsWith(q) && symbol.length > q.length) ?? 'USDT';
  return { base: symbol.slice(0, -quote.length), quote };
}

function exchangeInfo(symbols: string[], now: number): unknown {
  return {
    timezone: 'UTC',
    serverTime: now,
    rateLimits: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
      { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
    ],
    exchangeFilters: [],
    symbols: symbols.map((symbol) => {
      const { base, quote } = splitSymbol(symbol);
      return {
        symbol,
        status: 'TRADING',
        baseAsset: base,
        baseAssetPrecision: 8,
        quoteAsset: quote,
        quotePrecision: 8,
        quoteAssetPrecision: 8,
        baseCommissionPrecision: 8,
        quoteCommissionPrecision: 8,
        orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
        icebergAllowed: true,
        ocoAllowed: true,
        quoteOrderQtyMarketAllowed: true,
        allowTrailingStop: true,
        cancelReplaceAllowed: true,
        isSpotTradingAllowed: true,
        isMarginTradingAllowed: false,
        filters: [
          {
            filterType: 'PRICE_FILTER',
            minPrice: '0.01000000',
            maxPrice: '1000000.00000000',
            tickSize: '0.01000000',
          },
          { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' },
          {
            filterType: 'NOTIONAL',
            minNotional: '5.00000000',
            applyMinToMarket: true,
            maxNotional: '9000000.00000000',
          },
        ],
        permissions: [],
        permissionSets: [['SPOT']],
        defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
        allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
      };
    }),
  };
}

/** One kline in Binance's 12-field shape; the taker and quote fields are plausible, not real. */
function toKline(c: Ohlcv, intervalMs: number): (number | string)[] {
  const [openTime, open, high, low, close, volume] = c;
  const quoteVolume = volume * ((open + close) / 2);
  return [
    openTime,
    dec(open),
    dec(high),
    dec(low),
    dec(close),
    dec(volume),
    openTime + intervalMs - 1,
    dec(quoteVolume),
    Math.round(volume * 10),
    dec(volume / 2),
    dec(quoteVolume / 2),
    '0',
  ];
}

function intParam(query: URLSearchParams, name: string): number | undefined | null {
  const raw = query.get(name);
  if (raw === null) return undefined;
  return /^-?\d+$/.test(raw) ? Number(raw) : null;
}

export async function startFakeBinance(options: FakeBinanceOptions): Promise<FakeBinance> {
  const calls: BinanceCall[] = [];
  let faults: QueuedFault[] = [];

  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json;charset=UTF-8',
      'content-length': Buffer.byteLength(text),
      'x-mbx-used-weight-1m': String(calls.length * 2),
      ...headers,
    });
    res.end(text);
  };
  const binanceError = (res: ServerResponse, status: number, code: number, msg: string): void =>
    send(res, status, { code, msg });

  const takeFault = (path: string): BinanceFault | undefined => {
    const queued = faults.find((f) => f.path === path);
    if (queued === undefined) return undefined;
    queued.remaining -= 1;
    if (queued.remaining <= 0) faults = faults.filter((f) => f !== queued);
    return queued.fault;
  };

  const klines = (res: ServerResponse, query: URLSearchParams): void => {
    const symbol = query.get('symbol');
    if (symbol === null) {
      return binanceError(
        res,
        400,
        -1102,
        "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
      );
    }
    const bySymbol = options.klines[symbol];
    if (bySymbol === undefined) return binanceError(res, 400, -1121, 'Invalid symbol.');
    const interval = query.get('interval') ?? '';
    const intervalMs = INTERVAL_MS[interval];
    if (intervalMs === undefined) return binanceError(res, 400, -1120, 'Invalid interval.');
    const startTime = intParam(query, 'startTime');
    const endTime = intParam(query, 'endTime');
    const limit = intParam(query, 'limit') ?? DEFAULT_LIMIT;
    if (startTime === null || endTime === null || limit === null || limit < 1 || limit > MAX_LIMIT) {
      return binanceError(res, 400, -1100, 'Illegal characters found in a parameter.');
    }
    const inRange = (bySymbol[interval] ?? []).filter(
      ([t]) => (startTime === undefined || t >= startTime) && (endTime === undefined || t <= endTime),
    );
    // Binance: from startTime forward when it is given, else the most recent bars.
    const rows = startTime === undefined ? inRange.slice(-limit) : inRange.slice(0, limit);
    send(
      res,
      200,
      rows.map((c) => toKline(c, intervalMs)),
    );
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://fake-binance');
    calls.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), at: Date.now() });
    const fault = takeFault(url.pathname);
    if (fault?.kind === 'hang') return; // never answers: the client's deadline has to fire
    if (fault?.kind === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' });
      res.end('[[1700000000000,"1","2"');
      return;
    }
    if (fault?.kind === 'status') {
      const headers: Record<string, string> =
        fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
      const code = fault.code ?? (fault.status === 429 ? -1003 : -1000);
      const msg =
        fault.msg ??
        (fault.status === 429
          ? 'Too many requests; current limit is 6000 request weight per 1 MINUTE.'
          : 'An unknown error occurred while processing the request.');
      return send(res, fault.status, { code, msg }, headers);
    }
    if (req.method !== 'GET') return binanceError(res, 405, -1000, 'Method not allowed.');
    switch (url.pathname) {
      case '/api/v3/ping':
        return send(res, 200, {});
      case '/api/v3/time':
        return send(res, 200, { serverTime: Date.now() });
      case '/api/v3/exchangeInfo':
        return send(res, 200, exchangeInfo(Object.keys(options.klines), Date.now()));
      case '/api/v3/klines':
        return klines(res, url.searchParams);
      default:
        return send(res, 404, { code: -1000, msg: `fake binance has no ${url.pathname}` });
    }
  };

  const server: Server = createServer((req, res) => {
    const latency = options.latencyMs ?? 0;
    if (latency > 0) setTimeout(() => handle(req, res), latency);
    else handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    apiBase: `${url}/api/v3`,
    calls,
    inject(fault, path = '/api/v3/klines') {
      faults.push({ fault, path, remaining: fault.times ?? Infinity });
    },
    reset() {
      calls.length = 0;
      faults = [];
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

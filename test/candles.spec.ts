import { BadRequestException } from '@nestjs/common';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../src/common/clock.js';
import {
  CandleSourceError,
  findGaps,
  findSuspectBars,
  isLastCandleForming,
  type Ohlcv,
  TIMEFRAMES,
  timeframeMs,
  validateCandles,
} from '../src/market-data/candles/candle-source.js';
import { CcxtCandleSource, type OhlcvExchange } from '../src/market-data/candles/ccxt-candle-source.js';
import { CsvCandleSource, parseUtcTimestamp } from '../src/market-data/candles/csv-candle-source.js';
import { type FakeBinance, startFakeBinance } from './fakes/binance.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/candles');
const BENCH_DATA = join(ROOT, 'bench/data');
const HOUR = 3_600_000;
const utc = (iso: string): number => Date.parse(`${iso}Z`);

// Real rows of test/fixtures/candles/BTCUSDT_1h.csv around the 2023-03-24 Binance outage.
const OUTAGE_11H: Ohlcv = [utc('2023-03-24T11:00:00'), 28039.71, 28091.03, 27963.84, 28080.0, 1267.41714];
const OUTAGE_12H: Ohlcv = [utc('2023-03-24T12:00:00'), 28080.0, 28080.0, 28080.0, 28080.0, 0];
const OUTAGE_14H: Ohlcv = [utc('2023-03-24T14:00:00'), 28079.99, 28253.01, 27835.0, 27989.06, 8983.24018];
const LAST_1H: Ohlcv = [utc('2025-12-02T05:00:00'), 86970.28, 87125.36, 86818.14, 87003.84, 140.17356];

describe('candle helpers', () => {
  it('knows the length of every timeframe', () => {
    expect(TIMEFRAMES.map(timeframeMs)).toEqual([
      60_000,
      300_000,
      900_000,
      1_800_000,
      HOUR,
      4 * HOUR,
      24 * HOUR,
    ]);
  });

  it('validateCandles keeps good rows and reports every bad one with its index and reason', () => {
    const t = utc('2024-01-01T00:00:00');
    const rows: unknown[] = [
      [t, 100, 110, 90, 105, 5],
      [t + HOUR, 100, 90, 95, 92, 5], // high < low
      [t + 2 * HOUR, 100, 104, 90, 105, 5], // high < close
      [t + 3 * HOUR, 100, 110, 101, 105, 5], // low > open
      [t + 4 * HOUR, 100, 110, 90, 105, -1], // negative volume
      [t + 5 * HOUR, 100, 110, 90, Number.NaN, 5],
      [t + 6 * HOUR, '100', 110, 90, 105, 5], // a string is not a number
      [t + 7 * HOUR, 100, 110, 90, 105], // 5 fields
      { ts: t + 8 * HOUR },
      [t + 9 * HOUR, 0, 110, 0, 105, 5], // zero price
      [t + 10 * HOUR, 100, 110, 90, 105, 5],
      [t + 10 * HOUR, 100, 110, 90, 105, 5], // duplicate
      [t + 9 * HOUR, 100, 110, 90, 105, 5], // out of order
      [t + 11 * HOUR, 100, 100, 100, 100, 0], // flat zero volume: valid, flagged elsewhere
    ];
    const result = validateCandles(rows);
    expect(result.candles).toEqual([
      [t, 100, 110, 90, 105, 5],
      [t + 10 * HOUR, 100, 110, 90, 105, 5],
      [t + 11 * HOUR, 100, 100, 100, 100, 0],
    ]);
    expect(result.dropped.map((d) => d.row)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]);
    expect(result.dropped.map((d) => d.reason)).toEqual([
      'high 90 < low 95',
      'high 104 < max(open 100, close 105)',
      'low 101 > min(open 100, close 105)',
      'volume -1 < 0',
      'close is not a finite number (NaN)',
      'open is not a finite number (100)',
      expect.stringContaining('has 5 fields'),
      'not an array of 6 numbers',
      'prices must be greater than 0',
      expect.stringContaining('duplicate timestamp 2024-01-01T10:00:00.000Z'),
      expect.stringContaining('is before the previous row'),
    ]);
    expect(result.problems[0]).toBe('row 1: high 90 < low 95');
  });

  it('validateCandles refuses something that is not a list', () => {
    expect(validateCandles({ candles: [] })).toEqual({
      candles: [],
      problems: ['candles must be an array of rows'],
      dropped: [],
    });
  });

  it('findGaps names the first and last missing bar', () => {
    const t = utc('2024-01-01T00:00:00');
    const candles: Ohlcv[] = [t, t + HOUR, t + 4 * HOUR, t + 5 * HOUR].map((ts) => [ts, 1, 1, 1, 1, 1]);
    expect(findGaps(candles, '1h')).toEqual([{ from: t + 2 * HOUR, to: t + 3 * HOUR, missing: 2 }]);
    expect(findGaps(candles, '4h')).toEqual([]);
  });

  it('a bar is forming until one timeframe after its open', () => {
    const candles: Ohlcv[] = [[utc('2024-01-01T00:00:00'), 1, 1, 1, 1, 1]];
    expect(isLastCandleForming(candles, '1h', utc('2024-01-01T00:59:59'))).toBe(true);
    expect(isLastCandleForming(candles, '1h', utc('2024-01-01T01:00:00'))).toBe(false);
    expect(isLastCandleForming([], '1h', 0)).toBe(false);
  });

  it('parses UTC timestamps strictly', () => {
    expect(parseUtcTimestamp('2023-03-24 13:00:00')).toBe(utc('2023-03-24T13:00:00'));
    expect(parseUtcTimestamp('2023-03-24')).toBe(utc('2023-03-24T00:00:00'));
    expect(parseUtcTimestamp('2023-02-30 00:00:00')).toBeNull();
    expect(parseUtcTimestamp('2023-03-24T13:00:00Z')).toBeNull();
    expect(parseUtcTimestamp('1679662800000')).toBeNull();
  });
});

describe('CsvCandleSource', () => {
  const clock = new ManualClock(utc('2026-01-01T00:00:00'));
  const source = new CsvCandleSource(FIXTURES, clock);

  it('reads the 1h fixture oldest first, numbers as numbers, dropping nothing', async () => {
    const series = await source.fetch('BTC/USDT', '1h');
    expect(series.symbol).toBe('BTC/USDT');
    expect(series.timeframe).toBe('1h');
    expect(series.source).toBe('csv:BTCUSDT_1h.csv');
    expect(series.candles).toHaveLength(2261);
    expect(series.candles[0]).toEqual([
      utc('2022-06-01T00:00:00'),
      31801.05,
      31982.97,
      31688.01,
      31936.54,
      2237.33599,
    ]);
    expect(series.candles.at(-1)).toEqual(LAST_1H);
    for (const candle of series.candles) {
      expect(candle.every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
    }
    for (let i = 1; i < series.candles.length; i++) {
      expect(series.candles[i][0]).toBeGreaterThan(series.candles[i - 1][0]);
    }
    expect(series.dropped).toEqual([]);
  });

  it('reports the 2023-03-24 outage: the missing 13:00 bar as a gap, the flat 12:00 bar kept but flagged', async () => {
    const series = await source.fetch('BTCUSDT', '1h', {
      since: utc('2023-03-20T00:00:00'),
      limit: 215 + 174,
    });
    const at = (ts: number) => series.candles.findIndex((c) => c[0] === ts);
    expect(series.candles[0][0]).toBe(utc('2023-03-20T00:00:00'));
    expect(series.candles.slice(at(OUTAGE_11H[0]), at(OUTAGE_11H[0]) + 3)).toEqual([
      OUTAGE_11H,
      OUTAGE_12H,
      OUTAGE_14H,
    ]);
    // The outage, then the seam between two fixture ranges (see test/fixtures/candles/README.md).
    expect(series.gaps).toEqual([
      { from: utc('2023-03-24T13:00:00'), to: utc('2023-03-24T13:00:00'), missing: 1 },
      { from: utc('2023-03-29T00:00:00'), to: utc('2025-11-24T23:00:00'), missing: expect.any(Number) },
    ]);
    expect(series.suspectBars).toEqual([
      {
        index: at(OUTAGE_12H[0]),
        timestamp: OUTAGE_12H[0],
        reason: 'zero-volume flat bar (exchange outage or no trading)',
      },
    ]);
  });

  it('returns the last `limit` candles at or after `since`', async () => {
    const last3 = await source.fetch('BTC/USDT', '1h', { limit: 3 });
    expect(last3.candles.map((c) => c[0])).toEqual([
      utc('2025-12-02T03:00:00'),
      utc('2025-12-02T04:00:00'),
      utc('2025-12-02T05:00:00'),
    ]);
    // `limit` counts back from the end of the file, not forward from `since`.
    const june = await source.fetch('BTC/USDT', '1h', { since: utc('2022-06-30T21:30:00'), limit: 2 });
    expect(june.candles.map((c) => c[0])).toEqual([utc('2025-12-02T04:00:00'), utc('2025-12-02T05:00:00')]);
    const after = await source.fetch('BTC/USDT', '1h', { since: utc('2025-12-02T04:30:00') });
    expect(after.candles).toEqual([LAST_1H]);
    const none = await source.fetch('BTC/USDT', '1h', { since: utc('2030-01-01T00:00:00') });
    expect(none.candles).toEqual([]);
    expect(none.lastCandleForming).toBe(false);
  });

  it('marks the last candle forming while the clock is inside it, and closed after it', async () => {
    const inside = new CsvCandleSource(FIXTURES, new ManualClock(utc('2025-12-02T05:30:00')));
    expect((await inside.fetch('BTC/USDT', '1h', { limit: 2 })).lastCandleForming).toBe(true);
    const atClose = new CsvCandleSource(FIXTURES, new ManualClock(utc('2025-12-02T06:00:00')));
    expect((await atClose.fetch('BTC/USDT', '1h', { limit: 2 })).lastCandleForming).toBe(false);
    // The same file seen from the 4h timeframe: the 04:00 bar runs until 08:00.
    expect((await inside.fetch('BTC/USDT', '4h')).lastCandleForming).toBe(false);
  });

  it('reads the 4h and 1d fixtures, date-only timestamps included', async () => {
    const h4 = await source.fetch('BTC/USDT', '4h');
    expect(h4.candles[0]).toEqual([
      utc('2022-04-01T00:00:00'),
      45510.35,
      45644.86,
      44200.0,
      44599.98,
      14410.94822,
    ]);
    expect(h4.gaps).toHaveLength(1); // the seam between its two ranges
    const d1 = await source.fetch('BTC/USDT', '1d');
    expect(d1.candles).toHaveLength(546);
    expect(d1.candles[0]).toEqual([
      utc('2022-01-01T00:00:00'),
      46216.93,
      47954.63,
      46208.37,
      47722.65,
      19604.46325,
    ]);
    expect(d1.candles.at(-1)?.[0]).toBe(utc('2023-06-30T00:00:00'));
    expect(d1.gaps).toEqual([]);
    expect(d1.dropped).toEqual([]);
  });

  it('reads the replay data: the last 365 days of 1h and the 30 days that warm it up, 9,480 full bars and the partial last one', async () => {
    const bench = new CsvCandleSource(BENCH_DATA, new ManualClock(utc('2025-12-02T05:30:00')), {
      fileName: (pair, tf) => `${pair}_${tf}_last365.csv`,
    });
    const series = await bench.fetch('BTC/USDT', '1h');
    expect(series.candles).toHaveLength(9481);
    expect(series.candles[0][0]).toBe(utc('2024-11-02T05:00:00'));
    expect(series.candles.at(-1)).toEqual(LAST_1H);
    expect(series.gaps).toEqual([]);
    expect(series.dropped).toEqual([]);
    expect(series.lastCandleForming).toBe(true);
  });

  describe('with a malformed file', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'bastion-candles-'));
      const lines = [
        'timestamp,open,high,low,close,volume',
        '2024-01-01 00:00:00,100,110,90,105,5', // line 2: good
        '2024-01-01 01:00:00,100,110,90,105', // 3: missing a field
        '2024-02-30 02:00:00,100,110,90,105,5', // 4: no such day
        '2024-01-01 03:00:00,abc,110,90,105,5', // 5: not a number
        '2024-01-01 04:00:00,100,90,95,92,5', // 6: high < low
        '', // 7: blank, not a row
        '2024-01-01 05:00:00,100,110,90,105,-2', // 8: negative volume
        '2024-01-01 06:00:00,100,110,90,,5', // 9: empty close
        '2024-01-01 07:00:00,100,110,90,105,5', // 10: good
        '2024-01-01 07:00:00,100,110,90,105,5', // 11: duplicate
        '2024-01-01 06:00:00,100,110,90,105,5', // 12: out of order
        '2024-01-01 08:00:00,100,110,90,105,5', // 13: good
      ];
      await writeFile(join(dir, 'ETHUSDT_1h.csv'), `${lines.join('\r\n')}\r\n`);
      await writeFile(join(dir, 'ETHUSDT_4h.csv'), 'time,o,h,l,c,v\n2024-01-01 00:00:00,1,1,1,1,1\n');
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('keeps the good rows and reports each bad row with its line number and reason', async () => {
      const series = await new CsvCandleSource(dir, clock).fetch('ETH/USDT', '1h');
      expect(series.candles.map((c) => new Date(c[0]).toISOString().slice(11, 16))).toEqual([
        '00:00',
        '07:00',
        '08:00',
      ]);
      expect(series.dropped).toEqual([
        { row: 3, reason: 'has 5 fields, expected 6' },
        { row: 4, reason: 'timestamp "2024-02-30 02:00:00" is not UTC YYYY-MM-DD[ HH:MM:SS]' },
        { row: 5, reason: 'open is not a finite number (NaN)' },
        { row: 6, reason: 'high 90 < low 95' },
        { row: 8, reason: 'volume -2 < 0' },
        { row: 9, reason: 'close is not a finite number (NaN)' },
        { row: 11, reason: 'duplicate timestamp 2024-01-01T07:00:00.000Z' },
        {
          row: 12,
          reason: "timestamp 2024-01-01T06:00:00.000Z is before the previous row's 2024-01-01T07:00:00.000Z",
        },
      ]);
      // The rows dropped for a bad value are gone, so 01:00–06:00 is a gap the caller sees too.
      expect(series.gaps).toEqual([
        { from: utc('2024-01-01T01:00:00'), to: utc('2024-01-01T06:00:00'), missing: 6 },
      ]);
    });

    it('reports only the dropped rows inside the range it returns (and those without a readable time)', async () => {
      const series = await new CsvCandleSource(dir, clock).fetch('ETH/USDT', '1h', {
        since: utc('2024-01-01T07:00:00'),
      });
      expect(series.dropped.map((d) => d.row)).toEqual([3, 4, 11]);
    });

    it('refuses a file with the wrong header, and a missing file, with a clear error', async () => {
      const csv = new CsvCandleSource(dir, clock);
      await expect(csv.fetch('ETH/USDT', '4h')).rejects.toMatchObject({
        code: 'candles_malformed',
        message: expect.stringContaining('first line must be "timestamp,open,high,low,close,volume"'),
      });
      const missing = csv.fetch('SOL/USDT', '1h');
      await expect(missing).rejects.toBeInstanceOf(CandleSourceError);
      await expect(missing).rejects.toMatchObject({ code: 'candles_unknown_symbol', status: 404 });
    });
  });

  it('parses a file once and hands out copies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bastion-candles-'));
    try {
      await writeFile(
        join(dir, 'BTCUSDT_1h.csv'),
        'timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,2,1,2,3\n',
      );
      const csv = new CsvCandleSource(dir, clock);
      const first = await csv.fetch('BTC/USDT', '1h');
      first.candles[0][4] = 999;
      await rm(join(dir, 'BTCUSDT_1h.csv'));
      const second = await csv.fetch('BTC/USDT', '1h'); // from memory: the file is gone
      expect(second.candles).toEqual([[utc('2024-01-01T00:00:00'), 1, 2, 1, 2, 3]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never lets a symbol reach the file system unvalidated', async () => {
    await expect(source.fetch('../../etc/passwd', '1h')).rejects.toBeInstanceOf(BadRequestException);
    await expect(source.fetch('BTC/USDT', '2h' as never)).rejects.toMatchObject({
      code: 'candles_unsupported_timeframe',
    });
  });
});

describe('CcxtCandleSource against a fake Binance', () => {
  let fake: FakeBinance;
  let fixture1h: Ohlcv[];
  const clock = new ManualClock(utc('2025-12-02T05:30:00'));
  const sourceFor = (timeoutMs = 10_000) =>
    new CcxtCandleSource(
      { exchangeId: 'binance', timeoutMs, urls: { api: { public: fake.apiBase } } },
      clock,
    );

  beforeAll(async () => {
    fixture1h = (await new CsvCandleSource(FIXTURES, clock).fetch('BTC/USDT', '1h')).candles;
    fake = await startFakeBinance({ klines: { BTCUSDT: { '1h': fixture1h } } });
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  it('fetches spot klines through ccxt: numbers, gaps, flagged bars, forming last bar', async () => {
    const source = sourceFor();
    expect(source.name).toBe('ccxt:binance');
    const outage = await source.fetch('BTC/USDT', '1h', { since: utc('2023-03-24T00:00:00'), limit: 24 });
    expect(outage.source).toBe('ccxt:binance');
    expect(outage.candles).toHaveLength(24);
    expect(outage.candles[0][0]).toBe(utc('2023-03-24T00:00:00'));
    expect(outage.candles).toContainEqual(OUTAGE_12H);
    expect(outage.candles).toContainEqual(OUTAGE_14H);
    expect(outage.gaps).toEqual([
      { from: utc('2023-03-24T13:00:00'), to: utc('2023-03-24T13:00:00'), missing: 1 },
    ]);
    expect(outage.suspectBars.map((s) => s.timestamp)).toEqual([OUTAGE_12H[0]]);
    expect(outage.lastCandleForming).toBe(false);
    expect(outage.dropped).toEqual([]);

    const latest = await source.fetch('BTC/USDT', '1h', { limit: 5 });
    expect(latest.candles.at(-1)).toEqual(LAST_1H);
    expect(latest.lastCandleForming).toBe(true);

    // Markets loaded once, spot only (no futures exchangeInfo), then the two klines calls.
    expect(fake.calls.map((c) => c.path)).toEqual([
      '/api/v3/exchangeInfo',
      '/api/v3/klines',
      '/api/v3/klines',
    ]);
    expect(fake.calls[1].query).toMatchObject({
      symbol: 'BTCUSDT',
      interval: '1h',
      startTime: String(utc('2023-03-24T00:00:00')),
      limit: '24',
    });
  });

  it('maps a symbol the exchange does not list to unknown_symbol (404)', async () => {
    await expect(sourceFor().fetch('DOGE/USDT', '1h')).rejects.toMatchObject({
      code: 'candles_unknown_symbol',
      status: 404,
    });
  });

  it('gives up at the deadline of a hanging call', async () => {
    const source = sourceFor(300);
    fake.inject({ kind: 'hang', times: 1 });
    const started = Date.now();
    await expect(source.fetch('BTC/USDT', '1h', { limit: 2 })).rejects.toMatchObject({
      code: 'candles_timeout',
      status: 504,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await source.fetch('BTC/USDT', '1h', { limit: 2 })).candles).toHaveLength(2);
  });

  it('reports rate limiting as the exchange being unavailable', async () => {
    fake.inject({ kind: 'status', status: 429, retryAfterSeconds: 1, times: 1 });
    await expect(sourceFor().fetch('BTC/USDT', '1h', { limit: 2 })).rejects.toMatchObject({
      code: 'candles_unavailable',
      status: 502,
      message: expect.stringContaining('binance'),
    });
  });

  it('retries loading the markets after a failed first load', async () => {
    const source = sourceFor();
    fake.inject({ kind: 'status', status: 503, times: 1 }, '/api/v3/exchangeInfo');
    await expect(source.fetch('BTC/USDT', '1h', { limit: 2 })).rejects.toMatchObject({
      code: 'candles_unavailable',
    });
    expect((await source.fetch('BTC/USDT', '1h', { limit: 2 })).candles).toHaveLength(2);
  });

  it('refuses an exchange id ccxt does not know, naming the variable', async () => {
    const source = new CcxtCandleSource({ exchangeId: 'nosuchexchange' }, clock);
    await expect(source.fetch('BTC/USDT', '1h')).rejects.toMatchObject({
      code: 'candles_misconfigured',
      status: 503,
      message: expect.stringContaining('EXCHANGE_ID "nosuchexchange"'),
    });
  });
});

describe('CcxtCandleSource with a stubbed exchange', () => {
  class RequestTimeout extends Error {} // ccxt's class name is what the mapping reads
  const t = utc('2024-06-01T00:00:00');

  /** An exchange answering `rows`, or the queued answers first; it records its calls. */
  function stub(rows: unknown): OhlcvExchange & { calls: unknown[][]; queue: (() => Promise<unknown>)[] } {
    const calls: unknown[][] = [];
    const queue: (() => Promise<unknown>)[] = [];
    return {
      id: 'stub',
      has: { fetchOHLCV: true },
      timeframes: { '1m': '1m', '1h': '1h' },
      loadMarkets: () => Promise.resolve({}),
      fetchOHLCV: (...args: unknown[]) => {
        calls.push(args);
        return (queue.shift() ?? (() => Promise.resolve(rows)))();
      },
      calls,
      queue,
    };
  }

  it('drops and reports bad rows from the exchange, flags zero volume, marks the forming bar', async () => {
    const exchange = stub([
      [t, 10, 12, 9, 11, 100],
      [t + HOUR, 11, 10, 12, 11, 100], // high < low
      [t + 2 * HOUR, 11, 11, 11, 11, 0],
      [t + 3 * HOUR, 11, 13, 10, 12, null], // ccxt leaves volume null when an exchange omits it
    ]);
    const source = new CcxtCandleSource(
      { exchangeId: 'stub', createExchange: () => exchange },
      new ManualClock(t + 2 * HOUR + 1),
    );
    const series = await source.fetch('BTCUSDT', '1h', { since: t, limit: 10 });
    expect(exchange.calls).toEqual([['BTC/USDT', '1h', t, 10]]);
    expect(series.candles.map((c) => c[0])).toEqual([t, t + 2 * HOUR]);
    expect(series.dropped).toEqual([
      { row: 1, reason: 'high 10 < low 12' },
      { row: 3, reason: 'volume is not a finite number (null)' },
    ]);
    expect(series.gaps).toEqual([{ from: t + HOUR, to: t + HOUR, missing: 1 }]);
    expect(series.suspectBars).toHaveLength(1);
    expect(series.lastCandleForming).toBe(true);
  });

  it('maps errors by ccxt class name and refuses timeframes the exchange lacks', async () => {
    const exchange = stub([]);
    exchange.queue.push(() =>
      Promise.reject(new RequestTimeout('stub GET /klines request timed out (10000 ms)')),
    );
    const source = new CcxtCandleSource(
      { exchangeId: 'stub', createExchange: () => exchange },
      new ManualClock(),
    );
    await expect(source.fetch('BTC/USDT', '1h')).rejects.toMatchObject({
      code: 'candles_timeout',
      status: 504,
    });
    await expect(source.fetch('BTC/USDT', '4h')).rejects.toMatchObject({
      code: 'candles_unsupported_timeframe',
    });
    exchange.queue.push(() => Promise.resolve({ error: 'not a list' }));
    await expect(source.fetch('BTC/USDT', '1h')).rejects.toMatchObject({ code: 'candles_malformed' });
  });

  it('finds the stale-data and outage bars on a zero-volume series without a network', () => {
    expect(findSuspectBars([[t, 1, 2, 1, 2, 0]])[0].reason).toBe('zero volume');
  });
});

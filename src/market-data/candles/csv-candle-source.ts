import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { parseSymbol } from '../symbols.js';
import {
  type CandleFetchOptions,
  type CandleSeries,
  type CandleSource,
  CandleSourceError,
  candleProblem,
  findGaps,
  findSuspectBars,
  isLastCandleForming,
  isTimeframe,
  type Ohlcv,
  orderProblem,
  type Timeframe,
} from './candle-source.js';

const HEADER = 'timestamp,open,high,low,close,volume';
// UTC, `YYYY-MM-DD HH:MM:SS`, or `YYYY-MM-DD` alone (the 1d files).
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$/;

interface DroppedCsvRow {
  row: number;
  reason: string;
  /** Known when the timestamp parsed, so a fetch reports only the drops inside the range it returns. */
  timestamp?: number;
}

export interface ParsedCandleFile {
  candles: Ohlcv[];
  dropped: DroppedCsvRow[];
}

export interface CsvCandleSourceOptions {
  /** File name inside `dir`; default `${pair}_${timeframe}.csv`, e.g. `BTCUSDT_1h.csv`. */
  fileName?: (pair: string, timeframe: Timeframe) => string;
}

/**
 * Candles from `{dir}/{PAIR}_{timeframe}.csv` files (`BTCUSDT_1h.csv`), for tests and replays.
 * Each file is parsed once and kept in memory: a replay asks for the same 34k-row file thousands of times.
 */
export class CsvCandleSource implements CandleSource {
  readonly name = 'csv';
  private readonly files = new Map<string, Promise<ParsedCandleFile>>();

  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    private readonly options: CsvCandleSourceOptions = {},
  ) {}

  /**
   * The candles opening at or after `since`; with `limit`, only the last `limit` of those (the newest, as a
   * replay wants them). Unlike ccxt, which counts `limit` forward from `since`.
   */
  async fetch(symbol: string, timeframe: Timeframe, opts: CandleFetchOptions = {}): Promise<CandleSeries> {
    // parseSymbol also keeps the symbol from reaching the file system as anything but [A-Z0-9].
    const { pair, unified } = parseSymbol(symbol);
    if (!isTimeframe(timeframe)) {
      throw new CandleSourceError(
        this.name,
        'unsupported_timeframe',
        `timeframe ${String(timeframe)} is not supported`,
      );
    }
    const fileName = this.options.fileName?.(pair, timeframe) ?? `${pair}_${timeframe}.csv`;
    const file = await this.load(join(this.dir, fileName), fileName);

    const all = file.candles;
    let start = opts.since === undefined ? 0 : firstAtOrAfter(all, opts.since);
    if (opts.limit !== undefined) start = Math.max(start, all.length - Math.max(0, opts.limit));
    // Copies, so a caller that edits its candles cannot corrupt the cached file.
    const candles = all.slice(start).map((c): Ohlcv => [...c]);
    const from = candles[0]?.[0] ?? opts.since ?? -Infinity;

    return {
      symbol: unified,
      timeframe,
      candles,
      lastCandleForming: isLastCandleForming(candles, timeframe, this.clock.now()),
      gaps: findGaps(candles, timeframe),
      dropped: file.dropped
        .filter((d) => d.timestamp === undefined || d.timestamp >= from)
        .map(({ row, reason }) => ({ row, reason })),
      suspectBars: findSuspectBars(candles),
      source: `${this.name}:${fileName}`,
    };
  }

  private load(path: string, fileName: string): Promise<ParsedCandleFile> {
    let parsed = this.files.get(path);
    if (parsed === undefined) {
      parsed = readCsv(path, fileName);
      // A failed read is not cached: the file may appear later (a replay writing its data first).
      parsed.catch(() => this.files.delete(path));
      this.files.set(path, parsed);
    }
    return parsed;
  }
}

async function readCsv(path: string, fileName: string): Promise<ParsedCandleFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CandleSourceError('csv', 'unknown_symbol', `no candle file ${fileName}`);
    }
    throw new CandleSourceError('csv', 'unavailable', `cannot read ${fileName}: ${code ?? 'error'}`);
  }
  return parseCandleCsv(text, fileName);
}

/** Parses a whole candle CSV; bad rows are dropped with their line number and reason, never skipped silently. */
export function parseCandleCsv(text: string, fileName = 'csv'): ParsedCandleFile {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== HEADER) {
    throw new CandleSourceError('csv', 'malformed', `${fileName}: first line must be "${HEADER}"`);
  }
  const candles: Ohlcv[] = [];
  const dropped: DroppedCsvRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue; // the trailing newline, or blank lines: no data, nothing to report
    const row = i + 1;
    const fields = line.split(',');
    if (fields.length !== 6) {
      dropped.push({ row, reason: `has ${fields.length} fields, expected 6` });
      continue;
    }
    const timestamp = parseUtcTimestamp(fields[0]);
    if (timestamp === null) {
      dropped.push({ row, reason: `timestamp "${fields[0].slice(0, 32)}" is not UTC YYYY-MM-DD[ HH:MM:SS]` });
      continue;
    }
    const values = fields.slice(1).map((f) => (f.trim() === '' ? NaN : Number(f)));
    const candle: Ohlcv = [timestamp, values[0], values[1], values[2], values[3], values[4]];
    const problem = candleProblem(candle);
    if (problem !== null) {
      dropped.push({ row, reason: problem, timestamp });
      continue;
    }
    const previous = candles.at(-1);
    if (previous !== undefined && timestamp <= previous[0]) {
      dropped.push({ row, reason: orderProblem(timestamp, previous[0]), timestamp });
      continue;
    }
    candles.push(candle);
  }
  return { candles, dropped };
}

/** Milliseconds for a UTC `YYYY-MM-DD[ HH:MM:SS]`, or null; calendar overflow (2023-02-30) is rejected. */
export function parseUtcTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text.trim());
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map((part) => Number(part ?? '0'));
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  const valid =
    d.getUTCFullYear() === year &&
    d.getUTCMonth() === month - 1 &&
    d.getUTCDate() === day &&
    d.getUTCHours() === hour &&
    d.getUTCMinutes() === minute &&
    d.getUTCSeconds() === second;
  return valid ? ms : null;
}

/** Index of the first candle opening at or after `since` (binary search: replays call this per step). */
function firstAtOrAfter(candles: readonly Ohlcv[], since: number): number {
  let lo = 0;
  let hi = candles.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (candles[mid][0] < since) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

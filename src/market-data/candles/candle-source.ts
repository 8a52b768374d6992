import { DomainError } from '../../common/errors.js';

/**
 * One OHLCV row as ccxt's fetchOHLCV returns it: `[timestamp_ms, open, high, low, close, volume]`, the
 * timestamp being the bar's open.
 */
export type Ohlcv = [number, number, number, number, number, number];

export const TIMEFRAMES = ['1m', '5m', '15m', '30m', '1h', '4h', '1d'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

const TIMEFRAME_MS: Record<Timeframe, number> = {
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '30m': 1_800_000,
  '1h': 3_600_000,
  '4h': 14_400_000,
  '1d': 86_400_000,
};

export function isTimeframe(value: unknown): value is Timeframe {
  return typeof value === 'string' && (TIMEFRAMES as readonly string[]).includes(value);
}

/** Length of one bar in milliseconds. */
export function timeframeMs(timeframe: Timeframe): number {
  return TIMEFRAME_MS[timeframe];
}

/** Bars missing between two consecutive candles; `from`/`to` are the open times of the first and last missing bar. */
export interface CandleGap {
  from: number;
  to: number;
  missing: number;
}

/**
 * A row that did not become a candle. `row` locates it in its source: the 1-based line number for files
 * (header = line 1), the 0-based array index for in-memory rows.
 */
export interface DroppedRow {
  row: number;
  reason: string;
}

/** A candle that was kept but should not be trusted blindly (e.g. the bar an exchange printed during an outage). */
export interface SuspectBar {
  /** Index into `candles`. */
  index: number;
  timestamp: number;
  reason: string;
}

export interface CandleSeries {
  symbol: string;
  timeframe: Timeframe;
  /** Oldest first, unique ascending timestamps, every row passed `validateCandles`. */
  candles: Ohlcv[];
  /** true when the last candle is still forming (now < its open time + one timeframe). */
  lastCandleForming: boolean;
  gaps: CandleGap[];
  /** Rows dropped and why, never silently. */
  dropped: DroppedRow[];
  /** Rows kept but flagged, e.g. zero-volume bars. */
  suspectBars: SuspectBar[];
  /** Where the candles came from, e.g. `csv:BTCUSDT_1h.csv` or `ccxt:binance`. */
  source: string;
}

export interface CandleFetchOptions {
  /** Only candles opening at or after this time (ms). */
  since?: number;
  /** At most this many candles. */
  limit?: number;
}

/** Where candles come from: exchanges through ccxt in production, CSV files in tests and replays. */
export interface CandleSource {
  readonly name: string;
  /** `symbol` is unified (`BTC/USDT`); `BTCUSDT` and the other spellings `parseSymbol` accepts work too. */
  fetch(symbol: string, timeframe: Timeframe, opts?: CandleFetchOptions): Promise<CandleSeries>;
}

export const CANDLE_SOURCE = Symbol('CANDLE_SOURCE');

export type CandleErrorReason =
  'unknown_symbol' | 'unsupported_timeframe' | 'timeout' | 'unavailable' | 'malformed' | 'misconfigured';

const CANDLE_ERROR_STATUS: Record<CandleErrorReason, number> = {
  unknown_symbol: 404,
  unsupported_timeframe: 400,
  timeout: 504,
  unavailable: 502,
  malformed: 502,
  misconfigured: 503,
};

/** Candles could not be produced; the code and status tell a caller's mistake (4xx) from a source failure (5xx). */
export class CandleSourceError extends DomainError {
  constructor(
    readonly source: string,
    readonly reason: CandleErrorReason,
    message: string,
  ) {
    super(`candles_${reason}`, message, CANDLE_ERROR_STATUS[reason], { source });
    this.name = 'CandleSourceError';
  }
}

/** Missing bars between consecutive candles (assumed ascending); a timestamp off the grid counts as a gap too. */
export function findGaps(candles: readonly Ohlcv[], timeframe: Timeframe): CandleGap[] {
  const step = timeframeMs(timeframe);
  const gaps: CandleGap[] = [];
  for (let i = 1; i < candles.length; i++) {
    const prev = candles[i - 1][0];
    const next = candles[i][0];
    const delta = next - prev;
    if (delta <= step) continue;
    const missing = Math.ceil(delta / step) - 1;
    gaps.push({ from: prev + step, to: prev + missing * step, missing });
  }
  return gaps;
}

/** Why one row cannot be a candle, or null when it can. Order checks need the neighbours: see validateCandles. */
export function candleProblem(row: unknown): string | null {
  if (!Array.isArray(row)) return 'not an array of 6 numbers';
  if (row.length !== 6)
    return `has ${row.length} fields, expected 6 (timestamp, open, high, low, close, volume)`;
  const names = ['timestamp', 'open', 'high', 'low', 'close', 'volume'];
  for (let i = 0; i < 6; i++) {
    const value: unknown = row[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return `${names[i]} is not a finite number (${String(value)})`;
    }
  }
  const [ts, open, high, low, close, volume] = row as Ohlcv;
  if (!Number.isSafeInteger(ts) || ts < 0)
    return `timestamp ${ts} is not a non-negative integer of milliseconds`;
  // A zero or negative price is never a real trade, and it would turn ATR/close into a division by zero.
  if (open <= 0 || high <= 0 || low <= 0 || close <= 0) return 'prices must be greater than 0';
  if (high < low) return `high ${high} < low ${low}`;
  if (high < Math.max(open, close)) return `high ${high} < max(open ${open}, close ${close})`;
  if (low > Math.min(open, close)) return `low ${low} > min(open ${open}, close ${close})`;
  if (volume < 0) return `volume ${volume} < 0`;
  return null;
}

export interface CandleValidation {
  /** The rows that passed, oldest first. */
  candles: Ohlcv[];
  /** One line per dropped row, for messages and logs: `row 3: high 10 < low 12`. */
  problems: string[];
  dropped: DroppedRow[];
}

/**
 * The checks every source and every request's `candles` share: finite numbers, high ≥ max(open, close),
 * low ≤ min(open, close), volume ≥ 0, strictly ascending timestamps. Bad rows are dropped and reported, so
 * the caller decides whether a partly bad series is still usable.
 */
export function validateCandles(rows: unknown): CandleValidation {
  if (!Array.isArray(rows)) {
    return { candles: [], problems: ['candles must be an array of rows'], dropped: [] };
  }
  const candles: Ohlcv[] = [];
  const dropped: DroppedRow[] = [];
  rows.forEach((row: unknown, index) => {
    const problem = candleProblem(row);
    if (problem !== null) {
      dropped.push({ row: index, reason: problem });
      return;
    }
    const candle = row as Ohlcv;
    const previous = candles.at(-1);
    if (previous !== undefined && candle[0] <= previous[0]) {
      dropped.push({ row: index, reason: orderProblem(candle[0], previous[0]) });
      return;
    }
    candles.push([...candle]);
  });
  return { candles, problems: dropped.map((d) => `row ${d.row}: ${d.reason}`), dropped };
}

/** The reason for a row whose timestamp does not move forward. */
export function orderProblem(timestamp: number, previous: number): string {
  const when = new Date(timestamp).toISOString();
  return timestamp === previous
    ? `duplicate timestamp ${when}`
    : `timestamp ${when} is before the previous row's ${new Date(previous).toISOString()}`;
}

/**
 * Bars to distrust. A zero-volume bar means nobody traded: on BTC/USDT that is an exchange outage (the
 * 2023-03-24 12:00 Binance bar is flat at the last price), so it is kept for continuity but flagged, letting
 * a validator refuse to act on it.
 */
export function findSuspectBars(candles: readonly Ohlcv[]): SuspectBar[] {
  const suspects: SuspectBar[] = [];
  candles.forEach(([ts, open, high, low, close, volume], index) => {
    if (volume !== 0) return;
    const flat = open === high && high === low && low === close;
    suspects.push({
      index,
      timestamp: ts,
      reason: flat ? 'zero-volume flat bar (exchange outage or no trading)' : 'zero volume',
    });
  });
  return suspects;
}

/** The last bar is still forming while now is before its close (open time + one timeframe). */
export function isLastCandleForming(candles: readonly Ohlcv[], timeframe: Timeframe, now: number): boolean {
  const last = candles.at(-1);
  return last !== undefined && now < last[0] + timeframeMs(timeframe);
}

import { Inject, Injectable, Optional } from '@nestjs/common';
import { DomainError } from '../../common/errors.js';
import type { ConfigType } from '@nestjs/config';
import { marketConfig } from '../../config/namespaces.js';
import { MarketCache } from '../market-cache.js';
import type { MarketSource } from '../market-source.js';
import type { MarketSymbol } from '../symbols.js';
import {
  abandonable,
  abandonedError,
  fetchVendorJson,
  isRecord,
  toNumber,
  VendorError,
} from '../vendor-http.js';

/** One daily reading of the alternative.me index, with the vendor's strings turned into types. */
export interface FearGreedReading {
  /** 0 (extreme fear) … 100 (extreme greed). */
  value: number;
  /** The vendor's own label (`Extreme Fear|Fear|Neutral|Greed|Extreme Greed`); never derived here. */
  classification: string;
  /** Start of the reading's UTC day, ISO 8601. */
  timestamp: string;
  /** Seconds until the next reading as of the vendor answer (up to the cache TTL old); latest entry only. */
  time_until_update_seconds: number | null;
}

export interface FearGreedSourceOptions {
  /** Deadline of one vendor call; tests shorten it, production keeps 3000 ms. */
  deadlineMs?: number;
}
export const FEAR_GREED_SOURCE_OPTIONS = Symbol('FEAR_GREED_SOURCE_OPTIONS');

export const FEAR_GREED_MAX_LIMIT = 365;
/** The index moves once a day and the vendor allows about 60 requests a minute; five minutes is plenty. */
const TTL_SECONDS = 300;

@Injectable()
export class FearGreedSource implements MarketSource {
  readonly name = 'fear_greed';
  /** FEAR_GREED_URL has a default and needs no key, so the source is always on. */
  readonly enabled = true;
  readonly deadlineMs: number;
  private readonly baseUrl: string;

  constructor(
    @Inject(marketConfig.KEY) config: ConfigType<typeof marketConfig>,
    private readonly cache: MarketCache,
    @Optional() @Inject(FEAR_GREED_SOURCE_OPTIONS) options: FearGreedSourceOptions = {},
  ) {
    this.baseUrl = config.fearGreedUrl;
    this.deadlineMs = options.deadlineMs ?? 3000;
  }

  /** The last `limit` daily readings, newest first. */
  async index(limit = 1, signal?: AbortSignal): Promise<FearGreedReading[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > FEAR_GREED_MAX_LIMIT) {
      // limit=0 means "the whole history" to the vendor: never ask for that by accident.
      throw new DomainError(
        'invalid_limit',
        `limit must be an integer from 1 to ${FEAR_GREED_MAX_LIMIT}`,
        400,
      );
    }
    const url = this.url(limit);
    const where = `${this.name} ${url.pathname}`;
    if (signal?.aborted) throw abandonedError(signal, this.name, where);
    const fetched = this.cache.getOrFetch(`fear_greed:index:${limit}`, TTL_SECONDS, async () =>
      parseIndex(await fetchVendorJson({ source: this.name, url, deadlineMs: this.deadlineMs }), where),
    );
    return (await abandonable(fetched, signal, this.name, where)).value;
  }

  async context(
    _symbol: MarketSymbol,
    signal: AbortSignal,
  ): Promise<{ value: number; classification: string; timestamp: string }> {
    // The index is market-wide: every symbol shares the same reading (and the same cache entry).
    const [latest] = await this.index(1, signal);
    return { value: latest.value, classification: latest.classification, timestamp: latest.timestamp };
  }

  /** Served from the 5-minute cache when possible, so frequent readiness probes do not eat the rate limit. */
  async healthy(): Promise<boolean> {
    try {
      return (await this.index(1)).length > 0;
    } catch {
      return false;
    }
  }

  private url(limit: number): URL {
    const url = new URL(this.baseUrl);
    // The configured URL loses its trailing slash in config validation; the vendor's path is `/fng/`.
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    url.searchParams.set('limit', String(limit));
    return url;
  }
}

/** alternative.me answers HTTP 200 even on failure, with the reason in `metadata.error`. */
function parseIndex(body: unknown, where: string): FearGreedReading[] {
  if (!isRecord(body))
    throw new VendorError('fear_greed', 'malformed', `${where} answered JSON that is not an object`);
  const error = isRecord(body.metadata) ? body.metadata.error : undefined;
  if (error !== null && error !== undefined && error !== '') {
    const text = typeof error === 'string' ? error.slice(0, 200) : 'unspecified error';
    throw new VendorError('fear_greed', 'business_error', `${where} reported an error: ${text}`);
  }
  if (!Array.isArray(body.data)) {
    throw new VendorError('fear_greed', 'malformed', `${where} answered without a data array`);
  }
  const readings = body.data.map(parseReading).filter((r): r is FearGreedReading => r !== null);
  if (readings.length === 0) {
    throw new VendorError('fear_greed', 'malformed', `${where} answered without a usable reading`);
  }
  // Newest first is the vendor's order today; sorting keeps the contract if that ever changes.
  return readings.sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp));
}

function parseReading(entry: unknown): FearGreedReading | null {
  if (!isRecord(entry)) return null;
  const value = toNumber(entry.value);
  const timestamp = parseTimestamp(entry.timestamp);
  if (value === null || value < 0 || value > 100 || timestamp === null) return null;
  const classification =
    typeof entry.value_classification === 'string' && entry.value_classification.trim() !== ''
      ? entry.value_classification.trim()
      : 'Unknown';
  return { value, classification, timestamp, time_until_update_seconds: toNumber(entry.time_until_update) };
}

/** Unix seconds as a string normally; a formatted date if someone configured `date_format`. */
function parseTimestamp(raw: unknown): string | null {
  const seconds = toNumber(raw);
  const ms = seconds !== null ? seconds * 1000 : typeof raw === 'string' ? Date.parse(raw) : NaN;
  // Beyond ±8.64e15 ms toISOString() throws; such a value is garbage anyway.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}

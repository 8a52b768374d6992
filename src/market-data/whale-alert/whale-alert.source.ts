import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { marketConfig } from '../../config/namespaces.js';
import { DomainError } from '../../common/errors.js';
import { WhaleAlertRepository } from '../../redis/repositories/whale-alert.repository.js';
import { MarketCache } from '../market-cache.js';
import type { MarketSource } from '../market-source.js';
import type { MarketSymbol } from '../symbols.js';
import { fetchVendorJson, isRecord, text, toNumber, VendorError } from '../vendor-http.js';
import type { WhaleStreamAlert } from './whale-alert.stream.js';

export interface WhaleParty {
  address: string;
  /** Entity name (`binance`); null when Whale Alert does not know it (the vendor omits the field). */
  owner: string | null;
  /** `exchange`, `unknown`, … — `unknown` when absent. */
  owner_type: string;
}

/** One REST v1 transaction, normalised: lower-case symbol, ISO timestamp, numbers as numbers. */
export interface WhaleTransfer {
  id: string;
  blockchain: string;
  symbol: string;
  hash: string;
  from: WhaleParty;
  to: WhaleParty;
  timestamp: string;
  amount: number;
  amount_usd: number;
  transaction_type: string;
  /** > 1 when Whale Alert grouped small transfers of one owner pair into one row. */
  transaction_count: number;
}

export interface WhaleTransactionsQuery {
  /** Unix seconds, exclusive (the vendor's semantics). */
  start: number;
  /** USD; the free plan's minimum is 500k. */
  minValue?: number;
  /** A symbol such as `btc`; all symbols when absent. */
  currency?: string;
  /** Resume from a cursor an earlier answer returned. */
  cursor?: string;
  /** Rows per page, 1–100 (the vendor's maximum). */
  limit?: number;
}

export interface WhaleStatus {
  blockchain_count: number | null;
  blockchains: { name: string; symbols: string[]; status: string }[];
}

export interface WhaleContext {
  transactions_1h: number;
  volume_usd_1h: number;
  /** USD moved to addresses Whale Alert attributes to an exchange (potential selling). */
  exchange_inflow_usd: number;
  /** USD moved out of exchange addresses (potential accumulation). */
  exchange_outflow_usd: number;
  largest_usd: number;
  recent_alerts: WhaleStreamAlert[];
  [key: string]: unknown;
}

const SOURCE = 'whale_alert';
/**
 * Pages followed per query. Legacy plans allow 10 requests a minute, so one uncached query must not eat the
 * whole allowance; 5 × 100 rows covers an hour of ≥ $500k transfers on a normal day.
 */
export const WHALE_MAX_PAGES = 5;
export const WHALE_DEFAULT_MIN_VALUE = 500_000;
/** Recent stream alerts kept in Redis (the stream trims the list to this length). */
export const WHALE_ALERTS_KEPT = 200;
const TX_TTL_SECONDS = 60;
const STATUS_TTL_SECONDS = 60;
const CONTEXT_ALERTS = 5;

/**
 * Start (unix s) of a window of `minutes` ending now, rounded up to the minute so repeated calls within a
 * minute share one cache entry, and never further back than `minutes` — the free plan only serves about
 * an hour of history and rejects an older start.
 */
export function windowStart(minutes: number, nowMs = Date.now()): number {
  return Math.ceil(nowMs / 60_000) * 60 - minutes * 60 + 1;
}

function party(v: unknown): WhaleParty {
  const r = isRecord(v) ? v : {};
  return {
    address: text(r.address),
    owner: typeof r.owner === 'string' && r.owner !== '' ? r.owner : null,
    owner_type: typeof r.owner_type === 'string' && r.owner_type !== '' ? r.owner_type : 'unknown',
  };
}

/** One v1 row, or null when it lacks what every consumer relies on (id, time, USD value). */
function transfer(t: Record<string, unknown>): WhaleTransfer | null {
  const id = text(t.id);
  const seconds = toNumber(t.timestamp);
  const amountUsd = toNumber(t.amount_usd);
  if (id === '' || seconds === null || amountUsd === null) return null;
  return {
    id,
    blockchain: text(t.blockchain),
    symbol: text(t.symbol).toLowerCase(), // the vendor's case varies (BTC, btc)
    hash: text(t.hash),
    from: party(t.from),
    to: party(t.to),
    timestamp: new Date(seconds * 1000).toISOString(),
    amount: toNumber(t.amount) ?? 0,
    amount_usd: amountUsd,
    transaction_type: text(t.transaction_type),
    transaction_count: toNumber(t.transaction_count) ?? 1,
  };
}

const sumUsd = (rows: WhaleTransfer[]): number => rows.reduce((s, t) => s + t.amount_usd, 0);

/**
 * Whale Alert legacy REST v1, plus the stream alerts the WhaleAlertStream keeps in Redis. The key travels in
 * the X-WA-API-KEY header, never in the query string, because URLs end up in access logs and error text.
 */
@Injectable()
export class WhaleAlertSource implements MarketSource {
  private readonly logger = new Logger(WhaleAlertSource.name);
  readonly name = SOURCE;
  readonly enabled: boolean;
  readonly deadlineMs = 4000;

  constructor(
    @Inject(marketConfig.KEY) private readonly config: ConfigType<typeof marketConfig>,
    private readonly cache: MarketCache,
    private readonly alerts: WhaleAlertRepository,
  ) {
    this.enabled = Boolean(config.whaleAlert?.apiKey);
  }

  /**
   * The configured key and base URL. Every public read asks for them first, so an unconfigured source
   * refuses before touching the cache or the vendor (503 source_disabled on the routes).
   */
  private endpoint(): { apiKey: string; baseUrl: string } {
    const wa = this.config.whaleAlert;
    if (!wa?.apiKey)
      throw new VendorError(SOURCE, 'disabled', 'whale_alert is not configured (set WHALE_ALERT_API_KEY)');
    return { apiKey: wa.apiKey, baseUrl: wa.baseUrl };
  }

  /** GET a v1 endpoint; any answer other than `result: success` becomes a VendorError without the key. */
  private async get(
    path: string,
    params: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const wa = this.endpoint();
    const key = wa.apiKey;
    const url = new URL(`${wa.baseUrl.replace(/\/+$/, '')}${path}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    let body: unknown;
    try {
      body = await fetchVendorJson({
        source: SOURCE,
        url,
        headers: { 'X-WA-API-KEY': key },
        deadlineMs: this.deadlineMs,
        signal,
      });
    } catch (err) {
      // fetchVendorJson drops the error body; name the two statuses an operator can act on.
      if (err instanceof VendorError && (err.status === 401 || err.status === 403))
        throw new VendorError(SOURCE, 'http_error', `whale_alert ${path} rejected the API key`, err.status);
      if (err instanceof VendorError && err.status === 429)
        throw new VendorError(SOURCE, 'http_error', `whale_alert ${path} rate limit reached`, 429);
      throw err;
    }
    if (!isRecord(body))
      throw new VendorError(
        SOURCE,
        'malformed',
        `whale_alert ${path} answered something other than an object`,
      );
    if (body.result !== 'success') {
      // The vendor's message is shown to callers: make sure it cannot carry the key back.
      const message = (text(body.message) || 'error').replaceAll(key, '[REDACTED]').slice(0, 200);
      throw new VendorError(SOURCE, 'business_error', `whale_alert ${path}: ${message}`);
    }
    return body;
  }

  /** GET /status: the chains Whale Alert follows and whether each is connected (cached 60 s). */
  async status(signal?: AbortSignal): Promise<WhaleStatus> {
    this.endpoint();
    const { value } = await this.cache.getOrFetch('whale_alert:status', STATUS_TTL_SECONDS, async () => {
      const body = await this.get('/status', {}, signal);
      const chains = Array.isArray(body.blockchains) ? body.blockchains.filter(isRecord) : [];
      return {
        blockchain_count: toNumber(body.blockchain_count),
        blockchains: chains.map((c) => ({
          name: text(c.name),
          symbols: Array.isArray(c.symbols) ? c.symbols.map((s) => text(s).toLowerCase()) : [],
          status: text(c.status),
        })),
      };
    });
    return value;
  }

  /**
   * GET /transactions since `start`, following the cursor until a page comes back empty (an empty page has
   * no `transactions` key at all) or WHALE_MAX_PAGES pages were read. Cached 60 s per query.
   */
  async transactions(query: WhaleTransactionsQuery, signal?: AbortSignal): Promise<WhaleTransfer[]> {
    this.endpoint();
    const minValue = query.minValue ?? WHALE_DEFAULT_MIN_VALUE;
    const limit = query.limit ?? 100;
    if (!Number.isInteger(query.start) || query.start < 0)
      throw new DomainError('invalid_query', 'start must be unix seconds', 400);
    if (!Number.isFinite(minValue) || minValue < 0)
      throw new DomainError('invalid_query', 'min_value must be a non-negative USD amount', 400);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new DomainError('invalid_query', 'limit must be an integer between 1 and 100', 400);
    const currency = query.currency?.toLowerCase();
    const cacheKey = [
      'whale_alert:tx',
      query.start,
      minValue,
      currency ?? '*',
      limit,
      query.cursor ?? '-',
    ].join(':');
    const { value } = await this.cache.getOrFetch(cacheKey, TX_TTL_SECONDS, async () => {
      const out: WhaleTransfer[] = [];
      let cursor = query.cursor;
      let skipped = 0;
      for (let page = 0; page < WHALE_MAX_PAGES; page++) {
        const params: Record<string, string> = {
          start: String(query.start),
          min_value: String(minValue),
          limit: String(limit),
        };
        if (currency) params.currency = currency;
        if (cursor) params.cursor = cursor;
        const body = await this.get('/transactions', params, signal);
        const rows = Array.isArray(body.transactions) ? body.transactions.filter(isRecord) : [];
        for (const row of rows) {
          const t = transfer(row);
          if (t) out.push(t);
          else skipped++;
        }
        const next = typeof body.cursor === 'string' && body.cursor !== '' ? body.cursor : undefined;
        // A repeated cursor would loop over the same page until the page limit.
        if (rows.length === 0 || !next || next === cursor) break;
        cursor = next;
      }
      if (skipped > 0) this.logger.debug(`Skipped ${skipped} Whale Alert rows without id, time or USD value`);
      return out;
    });
    return value;
  }

  /**
   * The newest alerts of the live stream, newest first (at most WHALE_ALERTS_KEPT are kept). Without Redis
   * this throws StoreUnavailableError (503 store_unavailable): an empty list would claim no whale moved.
   */
  async recentAlerts(limit = 50): Promise<WhaleStreamAlert[]> {
    this.endpoint();
    const n = Math.max(1, Math.min(Math.floor(limit), WHALE_ALERTS_KEPT));
    const rows = await this.alerts.recent(n);
    const out: WhaleStreamAlert[] = [];
    for (const row of rows) {
      try {
        const parsed = JSON.parse(row) as unknown;
        if (isRecord(parsed)) out.push(parsed as unknown as WhaleStreamAlert);
      } catch {
        // A corrupt entry must not hide the others.
      }
    }
    return out;
  }

  /**
   * Large transfers of the symbol over the last hour, from one all-symbol REST query that every symbol's
   * context shares (one vendor request a minute instead of one per symbol), plus the stream's recent alerts.
   */
  async context(symbol: MarketSymbol, signal: AbortSignal): Promise<WhaleContext> {
    const now = Date.now();
    const asset = symbol.base.toLowerCase();
    const txs = (await this.transactions({ start: windowStart(60, now) }, signal)).filter(
      (t) => t.symbol === asset,
    );
    let alerts: WhaleStreamAlert[] = [];
    try {
      alerts = await this.recentAlerts(WHALE_ALERTS_KEPT);
    } catch (err) {
      // The REST figures are still worth answering with while Redis is away.
      this.logger.debug(`Whale stream alerts not read: ${(err as Error).message}`);
    }
    const since = now - 3_600_000;
    const recent = alerts
      .filter(
        (a) =>
          Array.isArray(a.amounts) &&
          a.amounts.some((x) => x.symbol === asset) &&
          Date.parse(a.timestamp) >= since,
      )
      .slice(0, CONTEXT_ALERTS);
    return {
      transactions_1h: txs.length,
      volume_usd_1h: sumUsd(txs),
      exchange_inflow_usd: sumUsd(
        txs.filter((t) => t.to.owner_type === 'exchange' && t.from.owner_type !== 'exchange'),
      ),
      exchange_outflow_usd: sumUsd(
        txs.filter((t) => t.from.owner_type === 'exchange' && t.to.owner_type !== 'exchange'),
      ),
      largest_usd: txs.reduce((m, t) => Math.max(m, t.amount_usd), 0),
      recent_alerts: recent,
    };
  }

  async healthy(): Promise<boolean> {
    if (!this.enabled) return false;
    try {
      await this.status(AbortSignal.timeout(this.deadlineMs));
      return true;
    } catch {
      return false;
    }
  }
}

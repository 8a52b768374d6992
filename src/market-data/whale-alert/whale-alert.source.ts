import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { RedisService } from '../../redis/redis.service.js';
import { MarketCache } from '../market-cache.js';
import type { MarketSource } from '../market-source.js';
import type { MarketSymbol } from '../symbols.js';
import { fetchVendorJson, isRecord, text, toNumber, VendorError } from '../vendor-http.js';
import type { WhaleStreamAlert } from './whale-alert.stream.js';

export interface WhaleTransfer {
  id: string;
  blockchain: string;
  symbol: string;
  hash: string;
  transaction_type: string;
  from: { address: string; owner: string | null; owner_type: string | null };
  to: { address: string; owner: string | null; owner_type: string | null };
  timestamp: string;
  amount: number | null;
  amount_usd: number | null;
}

const SOURCE = 'whale_alert';
const MAX_PAGES = 5;

const party = (v: unknown): WhaleTransfer['from'] => {
  const r = isRecord(v) ? v : {};
  return {
    address: text(r.address),
    owner: typeof r.owner === 'string' && r.owner !== '' ? r.owner : null, // omitted when unknown
    owner_type: typeof r.owner_type === 'string' ? r.owner_type : null,
  };
};

/**
 * Whale Alert REST v1. The key goes in the X-WA-API-KEY header (never the query string, which ends up in
 * logs). Paging follows the cursor until a page comes back empty — an empty page has no `transactions` key.
 */
@Injectable()
export class WhaleAlertSource implements MarketSource {
  readonly name = SOURCE;
  readonly enabled: boolean;
  readonly deadlineMs = 4000;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly cache: MarketCache,
    private readonly redis: RedisService,
  ) {
    this.enabled = Boolean(config.whaleAlert?.apiKey);
  }

  private async get(
    path: string,
    params: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const wa = this.config.whaleAlert;
    if (!wa?.apiKey)
      throw new VendorError(SOURCE, 'disabled', 'whale_alert is not configured (set WHALE_ALERT_API_KEY)');
    const url = new URL(`${wa.baseUrl}${path}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const body = await fetchVendorJson({
      source: SOURCE,
      url,
      headers: { 'X-WA-API-KEY': wa.apiKey },
      deadlineMs: this.deadlineMs,
      signal,
    });
    if (!isRecord(body)) throw new VendorError(SOURCE, 'malformed', `whale_alert ${path}: not an object`);
    if (body.result !== 'success') {
      throw new VendorError(
        SOURCE,
        'business_error',
        `whale_alert ${path}: ${text(body.message) || 'error'}`,
      );
    }
    return body;
  }

  async status(
    signal?: AbortSignal,
  ): Promise<{ blockchain_count: number | null; blockchains: { name: string; status: string }[] }> {
    const { value } = await this.cache.getOrFetch('whale_alert:status', 300, async () => {
      const body = await this.get('/status', {}, signal);
      const chains = Array.isArray(body.blockchains) ? body.blockchains.filter(isRecord) : [];
      return {
        blockchain_count: toNumber(body.blockchain_count),
        blockchains: chains.map((c) => ({ name: text(c.name), status: text(c.status) })),
      };
    });
    return value;
  }

  async transactions(
    opts: { start: number; minValue: number; currency?: string },
    signal?: AbortSignal,
  ): Promise<WhaleTransfer[]> {
    const key = `whale_alert:tx:${opts.start}:${opts.minValue}:${opts.currency ?? '*'}`;
    const { value } = await this.cache.getOrFetch(key, 60, async () => {
      const out: WhaleTransfer[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const params: Record<string, string> = {
          start: String(opts.start),
          min_value: String(opts.minValue),
          limit: '100',
        };
        if (opts.currency) params.currency = opts.currency;
        if (cursor) params.cursor = cursor;
        const body = await this.get('/transactions', params, signal);
        const rows = Array.isArray(body.transactions) ? body.transactions.filter(isRecord) : [];
        for (const t of rows) {
          out.push({
            id: text(t.id),
            blockchain: text(t.blockchain),
            symbol: text(t.symbol).toLowerCase(),
            hash: text(t.hash),
            transaction_type: text(t.transaction_type),
            from: party(t.from),
            to: party(t.to),
            timestamp: new Date((toNumber(t.timestamp) ?? 0) * 1000).toISOString(),
            amount: toNumber(t.amount),
            amount_usd: toNumber(t.amount_usd),
          });
        }
        cursor = typeof body.cursor === 'string' ? body.cursor : undefined;
        if (rows.length === 0 || !cursor) break;
      }
      return out;
    });
    return value;
  }

  async recentAlerts(limit = 50): Promise<WhaleStreamAlert[]> {
    const rows = await this.redis.client.lrange(this.redis.keys.whaleAlerts(), 0, limit - 1);
    return rows.map((r) => JSON.parse(r) as WhaleStreamAlert);
  }

  async context(symbol: MarketSymbol, signal: AbortSignal): Promise<Record<string, unknown>> {
    const start = Math.floor(Date.now() / 1000 / 60) * 60 - 3600; // minute-aligned so the cache key repeats
    const txs = (await this.transactions({ start, minValue: 500_000 }, signal)).filter(
      (t) => t.symbol.toUpperCase() === symbol.base,
    );
    const usd = (t: WhaleTransfer): number => t.amount_usd ?? 0;
    const alerts = (await this.recentAlerts(20).catch(() => [])).filter((a) =>
      a.amounts.some((x) => x.symbol.toUpperCase() === symbol.base),
    );
    return {
      transactions_1h: txs.length,
      volume_usd_1h: txs.reduce((s, t) => s + usd(t), 0),
      exchange_inflow_usd: txs.filter((t) => t.to.owner_type === 'exchange').reduce((s, t) => s + usd(t), 0),
      exchange_outflow_usd: txs
        .filter((t) => t.from.owner_type === 'exchange')
        .reduce((s, t) => s + usd(t), 0),
      largest_usd: txs.reduce((m, t) => Math.max(m, usd(t)), 0),
      recent_alerts: alerts.slice(0, 5),
    };
  }

  async healthy(): Promise<boolean> {
    try {
      await this.status();
      return true;
    } catch {
      return false;
    }
  }
}

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

/**
 * Per-symbol endpoints of the Helsinki quant server, by the last segment of their path
 * (`cvd` → `/quant/cvd/{BASE}`). The server publishes no schema (it is a private service), so this list is
 * the contract: URLs are only ever built from it, never from caller input.
 */
export const HELSINKI_SYMBOL_ENDPOINTS = [
  'cvd',
  'orderbook',
  'large-trades',
  'smart-money',
  'whale-flow',
  'basis',
  'open-interest',
  'greeks',
  'liquidation-map',
  'liquidation-estimate',
  'options-iv',
  'iv-rv-spread',
  'volatility',
  'vwap',
  'momentum',
  'mean-reversion',
  'drawdown',
  'full',
] as const;
export type HelsinkiSymbolEndpoint = (typeof HELSINKI_SYMBOL_ENDPOINTS)[number];

/**
 * Market-wide endpoints, named by their path with `/` turned into `-` and the `quant/` prefix dropped, so
 * one flat name fits in a single URL segment of Bastion's own route.
 */
export const HELSINKI_STATIC_PATHS = {
  'derivatives-funding': '/derivatives/funding',
  'derivatives-oi': '/derivatives/oi',
  'derivatives-long-short': '/derivatives/long-short',
  'funding-arb': '/quant/funding-arb',
  dominance: '/quant/dominance',
  'defi-tvl': '/quant/defi-tvl',
  gas: '/quant/gas',
  'stablecoin-supply': '/quant/stablecoin-supply',
  'sentiment-fear-greed': '/sentiment/fear-greed',
  'options-skew': '/options/skew',
} as const;
export type HelsinkiStaticEndpoint = keyof typeof HELSINKI_STATIC_PATHS;
export const HELSINKI_STATIC_ENDPOINTS = Object.keys(HELSINKI_STATIC_PATHS) as HelsinkiStaticEndpoint[];

export const isHelsinkiSymbolEndpoint = (name: unknown): name is HelsinkiSymbolEndpoint =>
  typeof name === 'string' && (HELSINKI_SYMBOL_ENDPOINTS as readonly string[]).includes(name);
export const isHelsinkiStaticEndpoint = (name: unknown): name is HelsinkiStaticEndpoint =>
  typeof name === 'string' && Object.hasOwn(HELSINKI_STATIC_PATHS, name);

/** What the agents read from Helsinki: numbers as numbers, absent values as null or []. */
export interface HelsinkiNormalized {
  price: number | null;
  smart_money_bias: string | null;
  funding_rate: number | null;
  liquidation_levels: { long: number[]; short: number[] };
  volatility_regime: string | null;
  fear_greed: number | null;
}

/** One endpoint's answer as Bastion serves it: the vendor payload untouched, plus where it came from. */
export interface HelsinkiAnswer {
  source: 'helsinki';
  endpoint: string;
  cached: boolean;
  data: unknown;
}

export interface HelsinkiSourceOptions {
  /** Deadline of one vendor call; tests shorten it, production keeps 3000 ms. */
  deadlineMs?: number;
}
export const HELSINKI_SOURCE_OPTIONS = Symbol('HELSINKI_SOURCE_OPTIONS');

const SYMBOL_TTL_SECONDS = 30;
const STATIC_TTL_SECONDS = 60;
/** Used by context() when `/quant/full` is broken but the server still answers. */
const FALLBACK_ENDPOINTS = ['smart-money', 'liquidation-map', 'volatility', 'basis'] as const;

@Injectable()
export class HelsinkiSource implements MarketSource {
  readonly name = 'helsinki';
  readonly enabled: boolean;
  readonly deadlineMs: number;
  private readonly base: string | undefined;

  constructor(
    @Inject(marketConfig.KEY) config: ConfigType<typeof marketConfig>,
    private readonly cache: MarketCache,
    @Optional() @Inject(HELSINKI_SOURCE_OPTIONS) options: HelsinkiSourceOptions = {},
  ) {
    this.base = config.helsinkiVmUrl;
    this.enabled = this.base !== undefined;
    this.deadlineMs = options.deadlineMs ?? 3000;
  }

  /** `GET /quant/{name}/{BASE}`, cached 30 s. */
  async symbolEndpoint(
    name: HelsinkiSymbolEndpoint,
    symbol: MarketSymbol,
    signal?: AbortSignal,
  ): Promise<HelsinkiAnswer> {
    // The type already forbids other names; this guards callers that cast user input.
    if (!isHelsinkiSymbolEndpoint(name)) {
      throw new DomainError(
        'unknown_endpoint',
        `unknown helsinki endpoint; allowed: ${HELSINKI_SYMBOL_ENDPOINTS.join(', ')}`,
        400,
      );
    }
    const path = `/quant/${name}/${encodeURIComponent(symbol.base)}`;
    return this.get(`helsinki:${name}:${symbol.base}`, path, SYMBOL_TTL_SECONDS, signal);
  }

  /** One of the market-wide endpoints, cached 60 s. */
  async staticEndpoint(name: HelsinkiStaticEndpoint, signal?: AbortSignal): Promise<HelsinkiAnswer> {
    if (!isHelsinkiStaticEndpoint(name)) {
      throw new DomainError(
        'unknown_endpoint',
        `unknown helsinki static endpoint; allowed: ${HELSINKI_STATIC_ENDPOINTS.join(', ')}`,
        400,
      );
    }
    return this.get(`helsinki:static:${name}`, HELSINKI_STATIC_PATHS[name], STATIC_TTL_SECONDS, signal);
  }

  async healthy(): Promise<boolean> {
    if (!this.enabled) return false;
    try {
      const body = await fetchVendorJson({
        source: this.name,
        url: this.url('/health'),
        deadlineMs: this.deadlineMs,
      });
      return !(
        isRecord(body) &&
        typeof body.status === 'string' &&
        /^(error|down|unhealthy)$/i.test(body.status)
      );
    } catch (err) {
      // A 2xx answer with a plain-text body ("ok") still proves the server is up.
      return err instanceof VendorError && err.reason === 'malformed';
    }
  }

  async context(
    symbol: MarketSymbol,
    signal: AbortSignal,
  ): Promise<{ raw: unknown; normalized: HelsinkiNormalized }> {
    let raw: unknown;
    try {
      raw = (await this.symbolEndpoint('full', symbol, signal)).data;
    } catch (err) {
      // Only when the server answered (a broken `/quant/full`) are the smaller endpoints worth a try: after a
      // timeout or a refused connection they would fail the same way and only spend the caller's deadline.
      if (
        !(err instanceof VendorError) ||
        !['http_error', 'malformed', 'business_error'].includes(err.reason)
      ) {
        throw err;
      }
      raw = await this.fallbackContext(symbol, signal, err);
    }
    return { raw, normalized: normalizeHelsinki(raw) };
  }

  private async fallbackContext(
    symbol: MarketSymbol,
    signal: AbortSignal,
    original: VendorError,
  ): Promise<Record<string, unknown>> {
    const parts = await Promise.allSettled(
      FALLBACK_ENDPOINTS.map((name) => this.symbolEndpoint(name, symbol, signal)),
    );
    const raw: Record<string, unknown> = { partial: true };
    parts.forEach((part, i) => {
      if (part.status === 'fulfilled') raw[FALLBACK_ENDPOINTS[i].replaceAll('-', '_')] = part.value.data;
    });
    if (Object.keys(raw).length === 1) throw original;
    return raw;
  }

  private async get(
    cacheKey: string,
    path: string,
    ttlSeconds: number,
    signal?: AbortSignal,
  ): Promise<HelsinkiAnswer> {
    if (!this.enabled) {
      throw new VendorError(this.name, 'disabled', 'helsinki is not configured (set HELSINKI_VM_URL)');
    }
    if (signal?.aborted) throw abandonedError(signal, this.name, `${this.name} ${path}`);
    const url = this.url(path);
    // The vendor call is shared by every caller coalesced on this key, so it runs under the source's own
    // deadline only; one caller giving up must not fail the others (see abandonable()).
    const fetched = this.cache.getOrFetch(cacheKey, ttlSeconds, async () => {
      const data = await fetchVendorJson({ source: this.name, url, deadlineMs: this.deadlineMs });
      return checkPayload(data, path);
    });
    const { value, cached } = await abandonable(fetched, signal, this.name, `${this.name} ${path}`);
    return { source: 'helsinki', endpoint: path, cached, data: value };
  }

  private url(path: string): URL {
    // `new URL('/x', base)` would drop a path prefix of the configured base (e.g. a reverse proxy at /vm/).
    const base = (this.base ?? '').replace(/\/+$/, '') + '/';
    return new URL(path.replace(/^\/+/, ''), base);
  }
}

/** A payload worth caching: any JSON object or array; an `{"error": "..."}` body is the server saying no. */
function checkPayload(data: unknown, path: string): unknown {
  if (isRecord(data)) {
    if (typeof data.error === 'string' && data.error.trim() !== '') {
      throw new VendorError('helsinki', 'business_error', `helsinki ${path} reported an error`);
    }
    return data;
  }
  if (Array.isArray(data)) return data;
  throw new VendorError('helsinki', 'malformed', `helsinki ${path} answered JSON that is not an object`);
}

// ---------------------------------------------------------------------------------------------------------
// Normalisation. The schema is private and has drifted between server versions, so every value is looked
// up under each spelling seen so far, at the top level and under a `data` envelope; the first hit wins.

function at(root: unknown, path: string): unknown {
  let node = root;
  for (const key of path.split('.')) {
    if (!isRecord(node)) return undefined;
    node = node[key];
  }
  return node;
}

/** The first spelling whose value converts; a value of the wrong type does not hide a later spelling. */
function firstOf<T>(root: unknown, paths: readonly string[], convert: (v: unknown) => T | null): T | null {
  const roots = isRecord(root) && isRecord(root.data) ? [root, root.data] : [root];
  for (const r of roots) {
    for (const p of paths) {
      const v = convert(at(r, p));
      if (v !== null) return v;
    }
  }
  return null;
}

/** `{"fear_greed": {"value": "47"}}`, `{"funding": {"rate": 0.0001}}` and bare values are all seen. */
const asNumber = (v: unknown): number | null => toNumber(isRecord(v) ? (v.value ?? v.rate ?? v.price) : v);

const asLabel = (v: unknown): string | null =>
  typeof v === 'string' && v.trim() !== '' ? v.trim().toLowerCase() : null;

/** Levels come as numbers, numeric strings or `{price, size}` objects; anything else is dropped. */
const asLevels = (v: unknown): number[] | null =>
  Array.isArray(v)
    ? v
        .map((level) => toNumber(isRecord(level) ? (level.price ?? level.level ?? level.p) : level))
        .filter((n): n is number => n !== null)
    : null;

const SPELLINGS = {
  price: [
    'price',
    'last_price',
    'mark_price',
    'lastPrice',
    'markPrice',
    'spot_price',
    'market.price',
    'ticker.last',
    'basis.spot_price',
  ],
  smartMoneyBias: [
    'smart_money.bias',
    'smart_money_bias',
    'smartMoney.bias',
    'smart_money.direction',
    'smart_money.signal',
    'smart_money',
  ],
  fundingRate: [
    'funding.rate',
    'funding_rate',
    'fundingRate',
    'funding.funding_rate',
    'derivatives.funding_rate',
    'basis.funding_rate',
    'funding',
  ],
  longLevels: [
    'liquidation_map.long_levels',
    'liquidation_map.longs',
    'liquidation_map.long',
    'liquidation_levels.long',
    'liquidations.long_levels',
  ],
  shortLevels: [
    'liquidation_map.short_levels',
    'liquidation_map.shorts',
    'liquidation_map.short',
    'liquidation_levels.short',
    'liquidations.short_levels',
  ],
  volatilityRegime: [
    'volatility.regime',
    'volatility_regime',
    'volatility.volatility_regime',
    'regime.volatility',
  ],
  fearGreed: ['fear_greed', 'fear_greed_index', 'fearGreed', 'sentiment.fear_greed'],
} as const;

export function normalizeHelsinki(raw: unknown): HelsinkiNormalized {
  return {
    price: firstOf(raw, SPELLINGS.price, asNumber),
    smart_money_bias: firstOf(raw, SPELLINGS.smartMoneyBias, asLabel),
    funding_rate: firstOf(raw, SPELLINGS.fundingRate, asNumber),
    liquidation_levels: {
      long: firstOf(raw, SPELLINGS.longLevels, asLevels) ?? [],
      short: firstOf(raw, SPELLINGS.shortLevels, asLevels) ?? [],
    },
    volatility_regime: firstOf(raw, SPELLINGS.volatilityRegime, asLabel),
    fear_greed: firstOf(raw, SPELLINGS.fearGreed, asNumber),
  };
}

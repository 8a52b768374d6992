/**
 * Medium test: WhaleAlertSource (REST v1) and WhaleAlertStream (custom-alert WebSocket) against the fake
 * Whale Alert servers and a real Redis. The event gate is a recording stand-in: the point here is the
 * stream client; the full-app path to /ai-cost/event-stats lives in the e2e test.
 */
import { randomUUID } from 'node:crypto';
import { Logger, type LoggerService, ValidationPipe } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { EventGate } from '../src/ai-optimization/events/event-gate.service.js';
import { EventGateSink } from '../src/ai-optimization/events/market-event-sink.js';
import type { MarketEvent } from '../src/ai-optimization/events/event.types.js';
import type { GatewayRequest } from '../src/ai-optimization/gateway.types.js';
import { Clock } from '../src/common/clock.js';
import { DomainError } from '../src/common/errors.js';
import { AllExceptionsFilter } from '../src/common/exception.filter.js';
import { Scrubber } from '../src/common/secrets.js';
import { loadAppConfig, type AppConfig } from '../src/config/app-config.js';
import { MarketCache } from '../src/market-data/market-cache.js';
import { MarketCacheRepository } from '../src/redis/repositories/market-cache.repository.js';
import { parseSymbol } from '../src/market-data/symbols.js';
import { VendorError } from '../src/market-data/vendor-http.js';
import { WhaleAlertController } from '../src/market-data/whale-alert/whale-alert.controller.js';
import { WhaleAlertSource, windowStart } from '../src/market-data/whale-alert/whale-alert.source.js';
import {
  DEFAULT_WHALE_FILTERS,
  parseAlert,
  WhaleAlertStream,
  type WhaleStreamAlert,
} from '../src/market-data/whale-alert/whale-alert.stream.js';
import { RedisService } from '../src/redis/redis.service.js';
import { WhaleAlertRepository } from '../src/redis/repositories/whale-alert.repository.js';
import { WhaleLeaseRepository } from '../src/redis/repositories/whale-lease.repository.js';
import { FAKE_WHALE_KEY, startFakeWhaleAlert, type FakeWhaleAlert } from './fakes/whale-alert.js';
import { TEST_REDIS_URL } from './support/app.js';

const WRONG_KEY = 'wa-wrong-key-9';

/** Every log line, so a test can prove the key never reaches a log. */
class LogSink implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
  debug(message: unknown): void {
    this.lines.push(String(message));
  }
  verbose(message: unknown): void {
    this.lines.push(String(message));
  }
}

/** Records what the stream hands to the event gate. */
class RecordingGate {
  readonly calls: { request: GatewayRequest; event: MarketEvent }[] = [];
  handle(request: GatewayRequest, event: MarketEvent): Promise<unknown> {
    this.calls.push({ request, event });
    return Promise.resolve({ response: null, metadata: {} });
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function alert(valueUsd: number, symbol = 'btc', hash: string = randomUUID()): Record<string, unknown> {
  return {
    type: 'alert',
    channel_id: 'bastion',
    timestamp: nowSeconds(),
    blockchain: symbol === 'btc' ? 'bitcoin' : 'ethereum',
    transaction_type: 'transfer',
    from: 'unknown wallet',
    to: 'Binance',
    amounts: [{ symbol, amount: 100, value_usd: valueUsd }],
    text: `100 #${symbol.toUpperCase()} (${valueUsd} USD) transferred from unknown wallet to #Binance`,
    transaction: { height: 1, index_in_block: 3, timestamp: nowSeconds(), hash, fee: '0.0004' },
  };
}

let fake: FakeWhaleAlert;
let config: AppConfig;
let redis: RedisService;
let cache: MarketCache;
let whales: WhaleAlertRepository;
let source: WhaleAlertSource;
const logs = new LogSink();

beforeAll(async () => {
  Logger.overrideLogger(logs);
  fake = await startFakeWhaleAlert();
  config = loadAppConfig({
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
    WHALE_ALERT_API_KEY: FAKE_WHALE_KEY,
    WHALE_ALERT_BASE_URL: fake.restUrl,
    WHALE_ALERT_WS_URL: fake.wsUrl,
  });
  redis = new RedisService(config);
  await redis.connect();
  cache = new MarketCache(new MarketCacheRepository(redis));
  whales = new WhaleAlertRepository(redis);
  source = new WhaleAlertSource(config, cache, whales);
});

afterAll(async () => {
  await redis.deleteAllWithPrefix();
  await redis.onApplicationShutdown();
  await fake.close();
  Logger.overrideLogger(false);
  expect(logs.lines.join('\n')).not.toContain(FAKE_WHALE_KEY);
});

describe('WhaleAlertSource (REST v1)', () => {
  beforeEach(async () => {
    await redis.deleteAllWithPrefix();
    fake.restCalls.length = 0;
  });

  it('is enabled by the key and keeps a 4000 ms deadline', () => {
    expect(source).toMatchObject({ name: 'whale_alert', enabled: true, deadlineMs: 4000 });
    expect(new WhaleAlertSource(loadAppConfig({}), cache, whales).enabled).toBe(false);
  });

  it('follows the cursor to the empty page, which has no `transactions` key', async () => {
    const start = windowStart(60);
    const rows = await source.transactions({ start });
    expect(rows.map((t) => t.id)).toEqual(['655552612', '655552613', '655552614']);
    expect(fake.restCalls.map((c) => new URLSearchParams(c.query).get('cursor'))).toEqual([null, 'c2', 'c3']);
    const first = new URLSearchParams(fake.restCalls[0].query);
    expect(first.get('start')).toBe(String(start));
    expect(first.get('min_value')).toBe('500000');
    expect(first.get('limit')).toBe('100');
  });

  it('normalises rows: lower-case symbol, ISO time, numbers, a missing owner as null', async () => {
    const [btc, usdt] = await source.transactions({ start: windowStart(60) });
    expect(btc).toEqual({
      id: '655552612',
      blockchain: 'bitcoin',
      symbol: 'btc',
      hash: 'aa11',
      from: { address: 'bc1qxyz', owner: null, owner_type: 'unknown' },
      to: { address: '3f5ce5fb', owner: 'binance', owner_type: 'exchange' },
      timestamp: new Date(1795380000 * 1000).toISOString(),
      amount: 120,
      amount_usd: 11650000.5,
      transaction_type: 'transfer',
      transaction_count: 1,
    });
    expect(usdt.to).toEqual({ address: '28c6c062', owner: null, owner_type: 'unknown' });
  });

  it('sends the key only in the X-WA-API-KEY header', async () => {
    await source.transactions({ start: windowStart(60), currency: 'BTC', minValue: 1_000_000 });
    await source.status();
    expect(fake.restCalls.length).toBeGreaterThanOrEqual(2);
    for (const call of fake.restCalls) {
      expect(call.key).toBe(FAKE_WHALE_KEY);
      expect(call.query).not.toContain(FAKE_WHALE_KEY);
      expect(call.query).not.toContain('api_key');
    }
    expect(new URLSearchParams(fake.restCalls[0].query).get('currency')).toBe('btc');
  });

  it('filters by currency and serves a repeated query from the 60 s cache', async () => {
    const start = windowStart(60);
    const btc = await source.transactions({ start, currency: 'btc' });
    expect(btc.map((t) => t.id)).toEqual(['655552612', '655552614']);
    const calls = fake.restCalls.length;
    await expect(source.transactions({ start, currency: 'btc' })).resolves.toEqual(btc);
    expect(fake.restCalls.length).toBe(calls);
    const ttl = await redis.client.ttl(redis.keys.market(`whale_alert:tx:${start}:500000:btc:100:-`));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('turns a rejected key into a VendorError that carries neither the key nor the URL', async () => {
    const wrong = new WhaleAlertSource(
      loadAppConfig({
        ...{ WHALE_ALERT_API_KEY: WRONG_KEY, WHALE_ALERT_BASE_URL: fake.restUrl },
        REDIS_URL: TEST_REDIS_URL,
      }),
      cache,
      whales,
    );
    const err = await wrong.transactions({ start: windowStart(60) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VendorError);
    expect(err).toMatchObject({ source: 'whale_alert', reason: 'http_error', status: 401 });
    const message = (err as Error).message;
    expect(message).toMatch(/rejected the API key/);
    expect(message).not.toContain(WRONG_KEY);
    expect(message).not.toContain(fake.restUrl);
    expect(fake.restCalls.at(-1)).toMatchObject({ key: WRONG_KEY, path: '/v1/transactions' });
    await expect(wrong.healthy()).resolves.toBe(false);
  });

  it('a disabled source never calls the vendor', async () => {
    const off = new WhaleAlertSource(loadAppConfig({ REDIS_URL: TEST_REDIS_URL }), cache, whales);
    await expect(off.transactions({ start: windowStart(60) })).rejects.toMatchObject({ reason: 'disabled' });
    await expect(off.healthy()).resolves.toBe(false);
    expect(fake.restCalls).toEqual([]);
  });

  it('reports the followed chains and health', async () => {
    await expect(source.status()).resolves.toEqual({
      blockchain_count: 2,
      blockchains: [
        { name: 'bitcoin', symbols: ['btc'], status: 'connected' },
        { name: 'ethereum', symbols: ['eth', 'usdt', 'usdc'], status: 'connected' },
      ],
    });
    await expect(source.healthy()).resolves.toBe(true);
  });

  it('builds the symbol context from the last hour of transfers and the stored stream alerts', async () => {
    const recent = parseAlert(alert(9_000_000, 'btc'));
    const old = parseAlert({ ...alert(7_000_000, 'btc'), timestamp: nowSeconds() - 7200 });
    const eth = parseAlert(alert(6_000_000, 'eth'));
    for (const a of [old, eth, recent]) await redis.client.lpush(redis.keys.whaleAlerts(), JSON.stringify(a));
    await redis.client.lpush(redis.keys.whaleAlerts(), 'not json'); // must not hide the others

    const context = await source.context(parseSymbol('BTC/USDT'), AbortSignal.timeout(4000));
    expect(context).toEqual({
      transactions_1h: 2,
      volume_usd_1h: 11650000.5 + 2912000,
      exchange_inflow_usd: 11650000.5,
      exchange_outflow_usd: 2912000,
      largest_usd: 11650000.5,
      recent_alerts: [recent],
    });
    // One all-symbol query (three pages) serves every symbol's context for a minute.
    const calls = fake.restCalls.length;
    await source.context(parseSymbol('USDT'), AbortSignal.timeout(4000));
    expect(fake.restCalls.length).toBe(calls);
    await expect(source.recentAlerts(2)).resolves.toEqual([recent]);
  });
});

describe('WhaleAlertStream', () => {
  let gate: RecordingGate;
  let stream: WhaleAlertStream;

  beforeAll(async () => {
    await redis.deleteAllWithPrefix();
    gate = new RecordingGate();
    stream = new WhaleAlertStream(
      config,
      whales,
      new EventGateSink(gate as unknown as EventGate),
      new Clock(),
      new WhaleLeaseRepository(redis),
    );
    stream.setBackoff(20, 200);
    stream.setFilters({ symbols: ['btc', 'eth'], min_value_usd: 2_000_000 });
    stream.onApplicationBootstrap();
    await until(() => stream.status().subscribed, 'the subscription');
  });

  afterAll(async () => {
    await stream.onApplicationShutdown();
  });

  it('starts with the default filters and the configured event threshold', () => {
    const fresh = new WhaleAlertStream(
      config,
      whales,
      new EventGateSink(gate as unknown as EventGate),
      new Clock(),
      new WhaleLeaseRepository(redis),
    );
    expect(fresh.getFilters()).toEqual(DEFAULT_WHALE_FILTERS);
    expect(fresh.getFilters()).toEqual({
      blockchains: ['bitcoin', 'ethereum'],
      symbols: ['btc', 'eth', 'usdt', 'usdc'],
      tx_types: ['transfer'],
      min_value_usd: 1_000_000,
    });
    expect(fresh.status()).toMatchObject({ enabled: true, connected: false, subscribed: false });
    const off = new WhaleAlertStream(
      loadAppConfig({}),
      whales,
      new EventGateSink(gate as unknown as EventGate),
      new Clock(),
      new WhaleLeaseRepository(redis),
    );
    expect(off.enabled).toBe(false);
  });

  it('connects with the key and subscribes with the configured filters', () => {
    expect(fake.streamKeys[0]).toBe(FAKE_WHALE_KEY);
    expect(fake.subscriptions).toEqual([
      {
        type: 'subscribe_alerts',
        id: 'bastion',
        blockchains: ['bitcoin', 'ethereum'],
        symbols: ['btc', 'eth'],
        tx_types: ['transfer'],
        min_value_usd: 2_000_000,
      },
    ]);
    expect(stream.status()).toMatchObject({ connected: true, subscribed: true, reconnects: 0 });
    expect(fake.connections()).toBe(1);
  });

  it('parses alerts, stores them newest first, and sends the big ones to the event gate', async () => {
    const seen: WhaleStreamAlert[] = [];
    const off = stream.onAlert((a) => seen.push(a));
    const before = stream.status().alerts_received;
    fake.pushAlert(alert(2_000_000, 'btc', '0xsmall')); // stored only: below the 5M threshold
    fake.pushAlert(alert(30_000_000, 'btc', '0xhigh')); // ≥ 4 × threshold: HIGH
    fake.pushAlert(alert(8_000_000, 'eth', '0xmedium')); // MEDIUM
    await until(() => stream.status().alerts_received === before + 3 && gate.calls.length === 2, 'alerts');
    off();

    expect(seen[1]).toEqual({
      channel_id: 'bastion',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      blockchain: 'bitcoin',
      transaction_type: 'transfer',
      from: 'unknown wallet',
      to: 'Binance',
      amounts: [{ symbol: 'btc', amount: 100, value_usd: 30_000_000 }],
      text: '100 #BTC (30000000 USD) transferred from unknown wallet to #Binance',
      hash: '0xhigh',
      total_value_usd: 30_000_000,
    });
    const stored = await source.recentAlerts(10);
    expect(stored.map((a) => a.hash)).toEqual(['0xmedium', '0xhigh', '0xsmall']);

    const high = gate.calls.find((c) => c.event.symbol === 'BTC');
    const medium = gate.calls.find((c) => c.event.symbol === 'ETH');
    expect(high?.request).toEqual({
      agentType: 'whale_watcher',
      prompt:
        'Whale transfer: 100 #BTC (30000000 USD) transferred from unknown wallet to #Binance. What does it mean for BTC?',
      responseType: 'whale_alert',
      symbol: 'BTC',
      maxTokens: 256,
      temperature: 0,
      json: false,
      cache: true,
    });
    expect(high?.event).toEqual({
      symbol: 'BTC',
      eventType: 'WHALE_TRANSACTION',
      priority: 'HIGH',
      data: { value_usd: 30_000_000, from: 'unknown wallet', to: 'Binance', blockchain: 'bitcoin' },
      timestamp: expect.any(Number),
    });
    expect(medium?.event).toMatchObject({ priority: 'MEDIUM', data: { value_usd: 8_000_000 } });
    expect(stream.status().events_sent).toBe(2);
  });

  it('follows a changed event threshold', async () => {
    stream.setEventThreshold(1_000_000);
    const calls = gate.calls.length;
    fake.pushAlert(alert(1_500_000, 'eth', '0xlowered'));
    await until(() => gate.calls.length === calls + 1, 'the event');
    expect(gate.calls.at(-1)?.event).toMatchObject({ symbol: 'ETH', priority: 'MEDIUM' });
    stream.setEventThreshold(5_000_000);
    expect(() => stream.setEventThreshold(0)).toThrow(RangeError);
  });

  it('handles an alert replayed twice once, and keeps only the newest 200', async () => {
    const duplicates = stream.status().duplicates;
    const twice = alert(3_000_000, 'btc', '0xtwice');
    fake.pushAlert(twice);
    fake.pushAlert(twice);
    await until(() => stream.status().duplicates === duplicates + 1, 'the duplicate');
    const before = stream.status().alerts_received;
    for (let i = 0; i < 205; i++) fake.pushAlert(alert(1_000_000 + i, 'btc', `0xbulk${i}`));
    await until(() => stream.status().alerts_received === before + 205, 'the bulk alerts');
    await until(
      async () => (await redis.client.lindex(redis.keys.whaleAlerts(), 0))?.includes('0xbulk204') ?? false,
      'the last store',
    );
    expect(await redis.client.llen(redis.keys.whaleAlerts())).toBe(200);
    expect((await source.recentAlerts(500)).length).toBe(200);
  });

  it('records a server error message without dropping the connection', async () => {
    fake.pushAlert({ error: 'rate limit exceeded' });
    await until(() => stream.status().last_error === 'rate limit exceeded', 'the error');
    expect(stream.status()).toMatchObject({ connected: true, subscribed: true });
  });

  it('reconnects with backoff after the server drops it, and subscribes again', async () => {
    const reconnects = stream.status().reconnects;
    fake.dropAll();
    await until(() => fake.subscriptions.length === 2 && stream.status().subscribed, 'the re-subscription');
    expect(stream.status().reconnects).toBe(reconnects + 1);
    expect(fake.subscriptions[1]).toEqual(fake.subscriptions[0]);
    expect(fake.connections()).toBe(1);

    const calls = gate.calls.length;
    fake.pushAlert(alert(6_000_000, 'eth', '0xafter'));
    await until(() => gate.calls.length === calls + 1, 'the event after the reconnect');
  });

  it('keeps retrying while the server refuses the key, never logging it', async () => {
    const lines = logs.lines.length;
    // Another deployment (its own key prefix): in this one, `stream` holds the one stream lease.
    const wrongConfig = loadAppConfig({
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `bastion-test:${randomUUID().slice(0, 8)}:`,
      WHALE_ALERT_API_KEY: WRONG_KEY,
      WHALE_ALERT_WS_URL: fake.wsUrl,
    });
    const wrongRedis = new RedisService(wrongConfig);
    await wrongRedis.connect();
    const wrong = new WhaleAlertStream(
      wrongConfig,
      new WhaleAlertRepository(wrongRedis),
      new EventGateSink(gate as unknown as EventGate),
      new Clock(),
      new WhaleLeaseRepository(wrongRedis),
    );
    wrong.setBackoff(20, 40);
    wrong.onApplicationBootstrap();
    await until(() => wrong.status().reconnects >= 3, 'the retries');
    await wrong.onApplicationShutdown();
    await wrongRedis.deleteAllWithPrefix();
    await wrongRedis.onApplicationShutdown();
    expect(wrong.status()).toMatchObject({ connected: false, subscribed: false });
    expect(wrong.status().last_error).toMatch(/401/);
    expect(fake.streamKeys.filter((k) => k === WRONG_KEY).length).toBeGreaterThanOrEqual(3);
    const logged = logs.lines.slice(lines).join('\n');
    expect(logged).toContain(fake.wsUrl); // the URL without its query
    expect(logged).not.toContain(WRONG_KEY);
    expect(logged).not.toContain('api_key');
  });

  it('closes on shutdown and does not reconnect afterwards', async () => {
    const subscriptions = fake.subscriptions.length;
    await stream.onApplicationShutdown();
    await until(() => fake.connections() === 0, 'the close');
    expect(stream.status()).toMatchObject({ connected: false, subscribed: false });
    await new Promise((r) => setTimeout(r, 300)); // longer than the longest backoff
    expect(fake.connections()).toBe(0);
    expect(fake.subscriptions.length).toBe(subscriptions);
  });
});

describe('WhaleAlertController', () => {
  let app: NestFastifyApplication;
  let base: string;
  let stream: WhaleAlertStream;

  beforeAll(async () => {
    await redis.deleteAllWithPrefix();
    // Nest bootstraps every provider, useValue ones too: without a WS URL this one stays idle, as these
    // routes only read its status.
    stream = new WhaleAlertStream(
      { ...config, whaleAlert: config.whaleAlert && { ...config.whaleAlert, wsUrl: undefined } },
      whales,
      new EventGateSink(new RecordingGate() as unknown as EventGate),
      new Clock(),
      new WhaleLeaseRepository(redis),
    );
    const moduleRef = await Test.createTestingModule({
      controllers: [WhaleAlertController],
      providers: [
        { provide: WhaleAlertSource, useValue: source },
        { provide: WhaleAlertStream, useValue: stream },
      ],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    app.useGlobalFilters(new AllExceptionsFilter(new Scrubber([])));
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
    // Over a real socket: fastify.inject() needs an ESM-only dependency that Jest's ESM mode cannot require.
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app.close();
  });

  /** The fields these routes answer with; absent ones stay undefined. */
  interface RouteBody {
    source?: string;
    message?: string;
    data?: { id?: string }[];
    stream?: Record<string, unknown>;
    rest?: { blockchain_count?: number };
  }

  async function get(path: string): Promise<{ status: number; body: RouteBody }> {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as RouteBody };
  }

  it('answers the transfers of the window', async () => {
    const res = await get('/market/whale-alert/transactions?min_value=1000000&currency=BTC&minutes=30');
    expect(res.status).toBe(200);
    expect(res.body.source).toBe('whale_alert');
    expect(res.body.data?.map((t) => t.id)).toEqual(['655552612', '655552614']);
    const query = new URLSearchParams(fake.restCalls.at(-1)?.query);
    expect(query.get('currency')).toBe('btc');
    expect(query.get('min_value')).toBe('1000000');
    expect(Number(query.get('start'))).toBe(windowStart(30));
  });

  it('answers 400 naming the field for values out of range', async () => {
    const cases: [string, string][] = [
      ['min_value=5', 'min_value'],
      ['min_value=abc', 'min_value'],
      ['minutes=0', 'minutes'],
      ['minutes=61', 'minutes'],
      ['minutes=1.5', 'minutes'],
      ['currency=../x', 'currency'],
    ];
    for (const [query, field] of cases) {
      const res = await get(`/market/whale-alert/transactions?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(new RegExp(`^${field} must`));
    }
    const limit = await get('/market/whale-alert/alerts?limit=201');
    expect(limit.status).toBe(400);
    expect(limit.body.message).toMatch(/^limit must be an integer between 1 and 200/);
  });

  it('answers the stored alerts and the status of REST and stream', async () => {
    await redis.client.lpush(redis.keys.whaleAlerts(), JSON.stringify(parseAlert(alert(9_000_000))));
    const alerts = await get('/market/whale-alert/alerts?limit=5');
    expect(alerts.status).toBe(200);
    expect(alerts.body.data).toHaveLength(1);
    expect(alerts.body.stream).toMatchObject({ enabled: false, connected: false });
    const status = await get('/market/whale-alert/status');
    expect(status.status).toBe(200);
    expect(status.body.rest?.blockchain_count).toBe(2);
    expect(status.body.stream).toMatchObject({ subscribed: false, reconnects: 0 });
  });

  it('maps a disabled source to 503 and a vendor failure to 502', async () => {
    const off = new WhaleAlertController(
      new WhaleAlertSource(loadAppConfig({ REDIS_URL: TEST_REDIS_URL }), cache, whales),
      stream,
    );
    for (const work of [off.transactions(), off.alerts(), off.status()]) {
      await expect(work).rejects.toMatchObject({ code: 'source_disabled', status: 503 });
    }
    const wrong = new WhaleAlertController(
      new WhaleAlertSource(
        loadAppConfig({ WHALE_ALERT_API_KEY: WRONG_KEY, WHALE_ALERT_BASE_URL: fake.restUrl }),
        cache,
        whales,
      ),
      stream,
    );
    const err = await wrong.transactions('600000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ code: 'vendor_error', status: 502, details: { reason: 'http_error' } });
    expect((err as Error).message).not.toContain(WRONG_KEY);
  });
});

import { WhaleAlertStream } from '../src/market-data/whale-alert/whale-alert.stream.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startFakeWhaleAlert, streamAlert, type FakeWhaleAlert } from './fakes/whale-alert.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { waitFor } from './support/redis-server.js';

const WA_KEY = 'wa-test-key-0123456789';

const alert = (valueUsd: number, symbol = 'btc') => streamAlert({ amount: 100, valueUsd, symbol });

describe('Whale Alert: REST and the live alert stream', () => {
  let fake: FakeWhaleAlert;
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    fake = await startFakeWhaleAlert({ apiKey: WA_KEY });
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        WHALE_ALERT_API_KEY: WA_KEY,
        WHALE_ALERT_BASE_URL: fake.restUrl,
        WHALE_ALERT_WS_URL: fake.wsUrl,
        WHALE_ALERT_EVENT_MIN_USD: '5000000',
      },
    });
    bastion.app.get(WhaleAlertStream).setBackoff(50, 400);
  });
  afterAll(async () => {
    await bastion.close();
    await fake.close();
    await deepseek.close();
  });

  it('pages REST transactions by cursor, tolerates a missing owner and the empty last page, key only in the header', async () => {
    const res = await bastion.request('GET', '/market/whale-alert/transactions?min_value=500000');
    expect(res.status).toBe(200);
    expect(res.body.data.map((t: { id: string }) => t.id)).toEqual(['655552612', '655552613', '655552614']);
    expect(res.body.data[0]).toMatchObject({
      symbol: 'btc',
      amount_usd: 11650000.5,
      from: { owner: null },
      to: { owner: 'binance', owner_type: 'exchange' },
    });
    const txCalls = fake.restCalls.filter((c) => c.path === '/v1/transactions');
    expect(txCalls).toHaveLength(3); // the third page is empty and ends the paging
    expect(txCalls.every((c) => c.key === WA_KEY && !c.query.includes(WA_KEY))).toBe(true);
    const context = (await bastion.request('GET', '/market/BTC/context')).body;
    expect(context.data_sources).toContain('whale_alert');
    expect(context.data.whale_alert).toMatchObject({
      transactions_1h: 2,
      exchange_inflow_usd: 11650000.5,
      exchange_outflow_usd: 2912000,
    });
    const bad = await bastion.request('GET', '/market/whale-alert/transactions?min_value=5');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/min_value must be an integer between/);
  });

  it('subscribes with the filters, stores alerts, reconnects after a drop, and feeds big alerts to the event gate', async () => {
    await waitFor(() => Promise.resolve(fake.subscriptions.length === 1), 5000, 'no subscription');
    expect(fake.subscriptions[0]).toMatchObject({
      type: 'subscribe_alerts',
      blockchains: ['bitcoin', 'ethereum'],
      symbols: ['btc', 'eth', 'usdt', 'usdc'],
      min_value_usd: 1000000,
    });
    expect(fake.streamKeys[0]).toBe(WA_KEY);
    const stream = bastion.app.get(WhaleAlertStream);
    await waitFor(() => Promise.resolve(stream.status().subscribed), 5000, 'not subscribed');

    fake.pushAlert(alert(2_000_000)); // stored, below the event threshold
    fake.pushAlert(alert(30_000_000)); // a HIGH whale event
    await waitFor(
      () => Promise.resolve(stream.status().alerts_received === 2 && stream.status().events_sent === 1),
      5000,
      'alerts not processed',
    );
    const stored = (await bastion.request('GET', '/market/whale-alert/alerts')).body.data;
    expect(stored[0]).toMatchObject({
      blockchain: 'bitcoin',
      total_value_usd: 30_000_000,
      amounts: [{ symbol: 'btc', value_usd: 30_000_000 }],
    });
    expect(stored).toHaveLength(2);

    fake.dropAll();
    await waitFor(
      () => Promise.resolve(fake.subscriptions.length === 2 && stream.status().subscribed),
      5000,
      'did not reconnect and re-subscribe',
    );
    expect(stream.status().reconnects).toBeGreaterThanOrEqual(1);
    fake.pushAlert(alert(8_000_000, 'eth')); // MEDIUM event after the reconnect
    await waitFor(
      () => Promise.resolve(stream.status().events_sent === 2),
      5000,
      'event after reconnect not sent',
    );

    const stats = (await bastion.request('GET', '/ai-cost/event-stats')).body;
    expect(stats.by_type.WHALE_TRANSACTION).toBe(2);
    expect(stats.by_priority).toMatchObject({ HIGH: 1, MEDIUM: 1 });
    expect(bastion.logs.text).not.toContain(WA_KEY);
  });
});

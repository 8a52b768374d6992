import { AnomalyScanService } from '../src/agents/anomaly-detector/anomaly-scan.service.js';
import { AgentSettingsService } from '../src/agents/settings/agent-settings.service.js';
import { botKeyOf, botRefOf } from '../src/common/tenant.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/app.js';

/**
 * Bots belong to the tenant of the key that reports them: two tenants may both run a `grid-eth-07`, and neither
 * reads, feeds or is alerted about the other's. Alpha's bot loses six trades in a row (a loss-streak anomaly);
 * beta's bot of the same id wins twice. Before bots had tenants, beta's detection saw alpha's losses.
 */

const A = 'tenant-alpha-bot-key-01';
const B = 'tenant-beta-bot-key-001';
const D = 'default-tenant-bot-key-1';
const BOT = 'grid-eth-07';
const iso = (ms: number) => new Date(ms).toISOString();

describe('Two tenants’ bots of the same id never mix', () => {
  let bastion: TestApp;
  const detect = (key: string) =>
    bastion.request(
      'POST',
      '/agents/anomaly-detector/detect',
      { user_id: 7, bot_id: BOT, timeframe_minutes: 60, include_ai: false },
      key,
    );
  const get = (path: string, key: string) =>
    bastion.request('GET', `/agents/anomaly-detector/${path}`, undefined, key);

  beforeAll(async () => {
    bastion = await startTestApp({
      env: { API_KEYS: `alpha:${A},beta:${B},${D}`, ADMIN_API_KEYS: ADMIN_KEY },
    });
    const now = Date.now();
    const trades = (pnls: number[]) =>
      pnls.map((pnl, i) => ({ type: 'trade', timestamp: iso(now - 30 * 60_000 + i * 60_000), pnl }));
    const alpha = await bastion.request(
      'POST',
      `/bots/${BOT}/telemetry`,
      { user_id: 7, events: trades([5, -1, -2, -3, -1, -4, -2]) },
      A,
    );
    const beta = await bastion.request(
      'POST',
      `/bots/${BOT}/telemetry`,
      { user_id: 7, events: trades([3, 4]) },
      B,
    );
    expect([alpha.status, beta.status]).toEqual([200, 200]);
  });
  afterAll(async () => {
    await bastion?.close();
  });

  it('detection reads the caller’s tenant’s bot only', async () => {
    const alpha = await detect(A);
    const beta = await detect(B);
    expect(alpha.status).toBe(200);
    expect(alpha.body.telemetry.trades).toBe(7);
    expect(alpha.body.anomalies).toEqual([
      expect.objectContaining({ anomaly_type: 'loss_streak', value: 6 }),
    ]);
    expect(beta.status).toBe(200);
    expect(beta.body.telemetry.trades).toBe(2);
    expect(beta.body.anomalies).toEqual([]);
    // The admin key's own tenant (default) has no such bot.
    expect((await detect(ADMIN_KEY)).body.telemetry.trades).toBe(0);
  });

  it('a scan scans each tenant’s bot; results and alerts are listed to their tenant and to admin keys', async () => {
    const settings = await bastion.app.get(AgentSettingsService).get('anomaly_detector');
    const results = await bastion.app.get(AnomalyScanService).scan(settings);
    expect(results.map((r) => [r.tenant, r.bot_id, r.telemetry.trades]).sort()).toEqual([
      ['alpha', BOT, 7],
      ['beta', BOT, 2],
    ]);

    const betaRecent = await get('recent', B);
    expect(betaRecent.status).toBe(200);
    expect(betaRecent.body.results).toEqual([expect.objectContaining({ tenant: 'beta', anomalies: [] })]);
    expect((await get(`recent?bot_id=${BOT}`, B)).body.results).toEqual([
      expect.objectContaining({ tenant: 'beta', bot_id: BOT }),
    ]);
    const alphaRecent = (await get(`recent?bot_id=${BOT}`, A)).body.results;
    expect(alphaRecent).toEqual([
      expect.objectContaining({ tenant: 'alpha', telemetry: expect.objectContaining({ trades: 7 }) }),
    ]);
    expect((await get('recent?tenant=alpha', B)).status).toBe(403);
    expect((await get('recent?tenant=Not_A_Tenant', ADMIN_KEY)).status).toBe(400);
    const all = (await get('recent', ADMIN_KEY)).body.results as { tenant: string }[];
    expect(all.map((r) => r.tenant).sort()).toEqual(['alpha', 'beta']);
    expect((await get(`recent?bot_id=${BOT}&tenant=beta`, ADMIN_KEY)).body.results).toEqual([
      expect.objectContaining({ tenant: 'beta' }),
    ]);

    // Only alpha's bot had an anomaly: its alert is alpha's, never shown to beta.
    expect((await get('alerts', B)).body.alerts).toEqual([]);
    const alphaAlerts = (await get('alerts', A)).body.alerts;
    expect(alphaAlerts).toEqual([
      expect.objectContaining({ tenant: 'alpha', bot_id: BOT, anomaly_type: 'loss_streak' }),
    ]);
    expect(alphaAlerts[0].message).toMatch(/^Bot grid-eth-07 of tenant alpha \(user 7\): medium loss streak/);
    expect((await get('alerts?tenant=alpha', B)).status).toBe(403);
    expect((await get('alerts', ADMIN_KEY)).body.alerts).toEqual([
      expect.objectContaining({ tenant: 'alpha' }),
    ]);
  });

  it('shows the default tenant what scans and alerts kept from before bots had tenants, and nobody else', async () => {
    // Written as an earlier version did: in the deployment's lists only, with no tenant.
    const k = bastion.redis.keys;
    await bastion.redis.client.lpush(
      k.anomalyRecentAll(null),
      JSON.stringify({ bot_id: 'old-bot', anomalies: [] }),
    );
    await bastion.redis.client.lpush(
      k.anomalyAlertList(null),
      JSON.stringify({ bot_id: 'old-bot', message: 'old' }),
    );
    expect((await get('recent', D)).body.results).toEqual([
      { bot_id: 'old-bot', anomalies: [], tenant: 'default' },
    ]);
    expect((await get('alerts', D)).body.alerts).toEqual([
      { bot_id: 'old-bot', message: 'old', tenant: 'default' },
    ]);
    expect((await get('recent', B)).body.results.map((r: { bot_id: string }) => r.bot_id)).not.toContain(
      'old-bot',
    );
    expect((await get('alerts', A)).body.alerts.map((r: { bot_id: string }) => r.bot_id)).not.toContain(
      'old-bot',
    );
  });
});

describe('The Redis name of a tenant’s bot', () => {
  it('is the bare bot id for the default tenant (as stored before bots had tenants), tenant:id otherwise', () => {
    expect(botKeyOf({ tenant: 'default', botId: BOT })).toBe(BOT);
    expect(botKeyOf({ tenant: 'alpha', botId: BOT })).toBe(`alpha:${BOT}`);
    expect(botRefOf(BOT)).toEqual({ tenant: 'default', botId: BOT });
    expect(botRefOf(`alpha:${BOT}`)).toEqual({ tenant: 'alpha', botId: BOT });
  });
});

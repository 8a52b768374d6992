import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnomalyScanService } from '../src/agents/anomaly-detector/anomaly-scan.service.js';
import { startTestApp } from './support/app.js';
import { startReceiver } from './support/receiver.js';
import { startSmtpReceiver } from './support/smtp-receiver.js';

const iso = (ms: number) => new Date(ms).toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Scheduled anomaly scans (two instances on one Redis, webhook and email receivers)', () => {
  it('six losing trades give exactly one alert on the webhook and by email within 10 s, from one instance', async () => {
    const webhook = await startReceiver();
    const smtp = await startSmtpReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'bastion-agents-'));
    writeFileSync(join(dir, 'agents.yaml'), 'agents:\n  anomaly_detector:\n    check_interval_seconds: 2\n');
    const env = {
      AGENTS_CONFIG_PATH: join(dir, 'agents.yaml'),
      ALERT_WEBHOOK_URL: `${webhook.url}/hook`,
      SMTP_URL: smtp.url,
      ALERT_EMAIL_FROM: 'bastion@desk.example',
      ALERT_EMAIL_TO: 'ops@desk.example,risk@desk.example',
    };
    const a = await startTestApp({ env });
    const b = await startTestApp({ env, prefix: a.prefix });
    try {
      const now = Date.now();
      const sent = await b.request('POST', '/bots/grid-eth-07/telemetry', {
        user_id: 42,
        events: [5, -1, -2, -3, -1, -4, -2].map((pnl, i) => ({
          type: 'trade',
          timestamp: iso(now - 20 * 60_000 + i * 60_000),
          pnl,
          symbol: 'ETH/USDT',
        })),
      });
      expect(sent.status).toBe(200);
      const scansBefore = a.app.get(AnomalyScanService).scansRun + b.app.get(AnomalyScanService).scansRun;
      const anomalyHooks = () => webhook.received.filter((r) => r.body.type === 'anomaly_alert');
      while ((anomalyHooks().length === 0 || smtp.received.length === 0) && Date.now() - now < 10_000) {
        await sleep(100);
      }
      expect(anomalyHooks()).toHaveLength(1);
      expect(smtp.received).toHaveLength(1);
      expect(anomalyHooks()[0].at - now).toBeLessThan(10_000);
      expect(smtp.received[0].at - now).toBeLessThan(10_000);

      // Two more scans see the same streak: still one alert (once per bot, type and alert window).
      const waitedFrom = Date.now();
      await sleep(4500);
      expect(anomalyHooks()).toHaveLength(1);
      expect(smtp.received).toHaveLength(1);

      expect(anomalyHooks()[0].body).toMatchObject({
        type: 'anomaly_alert',
        bot_id: 'grid-eth-07',
        user_id: 42,
        anomaly_type: 'loss_streak',
        severity: 'medium',
        value: 6,
        threshold: 5,
        recommended_action: 'pause_trading',
      });
      const mail = smtp.received[0];
      expect(mail).toMatchObject({
        from: 'bastion@desk.example',
        to: ['ops@desk.example', 'risk@desk.example'],
        subject: 'Bastion anomaly alert',
      });
      expect(mail.headers.get('x-bastion-alert')).toBe('anomaly_alert');
      expect(mail.text).toMatch(
        /Bot grid-eth-07 \(user 42\): medium loss streak anomaly — 6 losing trades in a row/,
      );
      expect(mail.text).toMatch(/Recommended action: pause_trading/);

      // Each scan ran on one instance: with a 2 s interval on both, scans came at most every 1.8 s (the lease),
      // not twice per interval.
      const elapsed = Date.now() - waitedFrom + (waitedFrom - now);
      const scans =
        a.app.get(AnomalyScanService).scansRun + b.app.get(AnomalyScanService).scansRun - scansBefore;
      expect(scans).toBeGreaterThanOrEqual(3);
      expect(scans).toBeLessThanOrEqual(Math.floor(elapsed / 1800) + 1);
      // Both instances asking for the same tick at once: exactly one runs it.
      let outcome: (unknown[] | null)[] = [null, null];
      for (let i = 0; i < 5 && outcome.every((r) => r === null); i++) {
        await a.redis.client.del(a.redis.keys.lease('anomaly-scan'));
        outcome = await Promise.all([
          a.app.get(AnomalyScanService).runScheduledScan(),
          b.app.get(AnomalyScanService).runScheduledScan(),
        ]);
      }
      expect(outcome.filter((r) => r !== null)).toHaveLength(1);

      const recent = await a.request('GET', '/agents/anomaly-detector/recent?bot_id=grid-eth-07&limit=3');
      expect(recent.status).toBe(200);
      expect(recent.body.results).toHaveLength(3);
      expect(recent.body.results[0]).toMatchObject({
        bot_id: 'grid-eth-07',
        user_id: 42,
        telemetry: { trades: 7 },
        anomalies: [expect.objectContaining({ anomaly_type: 'loss_streak', value: 6 })],
        ai_reason: 'not_requested',
      });
      expect(Date.parse(recent.body.results[0].scanned_at)).toBeGreaterThanOrEqual(
        Date.parse(recent.body.results[1].scanned_at),
      );
      expect(
        (await a.request('GET', '/agents/anomaly-detector/recent?bot_id=other-bot')).body.results,
      ).toEqual([]);
      expect((await a.request('GET', '/agents/anomaly-detector/recent?bot_id=bad!id')).status).toBe(400);
      expect((await a.request('GET', '/agents/anomaly-detector/recent?limit=500')).status).toBe(400);

      const alerts = (await b.request('GET', '/agents/anomaly-detector/alerts')).body.alerts;
      expect(alerts).toHaveLength(1);
      expect(alerts[0].deliveries).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ channel: 'webhook', ok: true, attempts: 1, status: 200 }),
          expect.objectContaining({ channel: 'email', ok: true, attempts: 1, status: 250 }),
        ]),
      );
    } finally {
      await b.close({ keepKeys: true });
      await a.close();
      await Promise.all([webhook.close(), smtp.close()]);
    }
  });

  it('alerts only at or above alert_min_severity, and the interval follows a run-time change', async () => {
    const webhook = await startReceiver();
    const app = await startTestApp({ env: { ALERT_WEBHOOK_URL: `${webhook.url}/hook` } });
    try {
      const scans = app.app.get(AnomalyScanService);
      const patch = (body: object) =>
        app.request('PATCH', '/agents/settings/anomaly_detector', body, 'test-admin-key-0001');
      // The file says every 60 s; one second, set at run time, takes effect without a restart.
      expect((await patch({ check_interval_seconds: 1 })).status).toBe(200);
      const started = Date.now();
      while (scans.scansRun === 0 && Date.now() - started < 3000) await sleep(50);
      expect(scans.scansRun).toBeGreaterThan(0);
      expect((await patch({ alert_min_severity: 'high', check_interval_seconds: 3600 })).status).toBe(200);
      const now = Date.now();
      await app.request('POST', '/bots/quiet-loser/telemetry', {
        user_id: 1,
        events: [-1, -1, -1, -1, -1, -1].map((pnl, i) => ({
          type: 'trade',
          timestamp: iso(now - 60_000 + i),
          pnl,
        })),
      });
      // A six-loss streak is medium: scanned and kept, but below "high", so nothing is sent.
      const results = await scans.scan((await app.request('GET', '/agents/settings/anomaly_detector')).body);
      expect(results.map((r) => [r.bot_id, r.anomalies.map((x) => x.severity)])).toEqual([
        ['quiet-loser', ['medium']],
      ]);
      expect(webhook.received).toHaveLength(0);
      await app.request('POST', '/bots/quiet-loser/telemetry', {
        user_id: 1,
        events: [-1, -1, -1, -1].map((pnl, i) => ({ type: 'trade', timestamp: iso(now - 30_000 + i), pnl })),
      });
      // Ten losses in a row are critical (×2 the limit): sent once.
      await scans.scan((await app.request('GET', '/agents/settings/anomaly_detector')).body);
      await scans.scan((await app.request('GET', '/agents/settings/anomaly_detector')).body);
      expect(webhook.received.map((r) => [r.body.anomaly_type, r.body.severity, r.body.value])).toEqual([
        ['loss_streak', 'critical', 10],
      ]);
    } finally {
      await app.close();
      await webhook.close();
    }
  });
});

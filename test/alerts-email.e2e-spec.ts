import { BudgetAlertsService } from '../src/cost-monitoring/alerts/budget-alerts.service.js';
import { Notifiers } from '../src/cost-monitoring/alerts/notifiers.js';
import { ConfigValidationError, loadAppConfig, secretsOf } from '../src/config/app-config.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { startSmtpReceiver } from './support/smtp-receiver.js';

const SMTP_PASSWORD = 'not-a-real-smtp-password';

const notice = {
  id: 'n-1',
  kind: 'anomaly_alert' as const,
  label: 'anomaly alert',
  message: 'Bot b-1 (user 1): high latency anomaly — slow. Recommended action: reduce_order_rate.',
  payload: { bot_id: 'b-1' },
  emoji: ':rotating_light:',
};

describe('Email alerts (SMTP through nodemailer to a local smtp-server)', () => {
  let deepseek: FakeLlm;
  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterAll(() => deepseek.close());

  it('sends budget alerts by email once SMTP is configured, and never shows the SMTP password', async () => {
    const smtp = await startSmtpReceiver();
    const app = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        SMTP_URL: smtp.url.replace('smtp://', `smtp://alerts:${SMTP_PASSWORD}@`),
        ALERT_EMAIL_FROM: 'bastion@desk.example',
        ALERT_EMAIL_TO: 'ops@desk.example',
      },
    });
    try {
      const cost = (
        await app.request('POST', '/ai/call', { agent_type: 'mail_probe', prompt: 'q', max_tokens: 32 })
      ).body.metadata.cost_usd as number;
      await app.request('PUT', '/ai-cost/budgets', { daily_budget_usd: cost / 0.6 }, ADMIN_KEY);
      const sent = await app.app.get(BudgetAlertsService).check();
      expect(sent).toHaveLength(1);
      expect(smtp.received).toHaveLength(1);
      expect(smtp.received[0]).toMatchObject({
        from: 'bastion@desk.example',
        to: ['ops@desk.example'],
        subject: 'Bastion budget alert',
      });
      expect(smtp.received[0].text).toMatch(/all agents spent \$0\.\d+ of the daily budget .*threshold 50%/);
      expect(smtp.received[0].headers.get('x-bastion-alert')).toBe('budget_alert');
      const listed = (await app.request('GET', '/ai-cost/alerts')).body;
      expect(listed.alerts[0].deliveries).toEqual([
        expect.objectContaining({ channel: 'email', ok: true, attempts: 1, status: 250, error: null }),
      ]);
      expect(JSON.stringify(listed)).not.toContain(SMTP_PASSWORD);
      expect(app.logs.text).not.toContain(SMTP_PASSWORD);
    } finally {
      await app.close();
      await smtp.close();
    }
  });

  it('retries a temporary SMTP refusal, does not retry a permanent one, and records both', async () => {
    const flaky = await startSmtpReceiver((n) => (n === 1 ? 451 : 250));
    const refusing = await startSmtpReceiver(() => 550);
    const env = (url: string) =>
      loadAppConfig({
        SMTP_URL: url,
        ALERT_EMAIL_FROM: 'bastion@desk.example',
        ALERT_EMAIL_TO: 'ops@desk.example',
      });
    const flakyNotifiers = new Notifiers(env(flaky.url));
    const refusingNotifiers = new Notifiers(env(refusing.url));
    // A closed port: nobody answers.
    const downNotifiers = new Notifiers(env('smtp://127.0.0.1:9'));
    for (const n of [flakyNotifiers, refusingNotifiers, downNotifiers]) n.setBackoff(20);
    try {
      const [flakyDelivery] = await flakyNotifiers.send(notice);
      expect(flakyDelivery).toMatchObject({ channel: 'email', ok: true, attempts: 2, status: 250 });
      expect(flaky.received).toHaveLength(1);
      expect(flaky.received[0].subject).toBe('Bastion anomaly alert');

      const [refused] = await refusingNotifiers.send(notice);
      expect(refused).toMatchObject({
        channel: 'email',
        ok: false,
        attempts: 1,
        status: 550,
        error: 'SMTP 550',
      });
      expect(refusing.attempts).toBe(1);

      const [down] = await downNotifiers.send(notice);
      expect(down).toMatchObject({ channel: 'email', ok: false, attempts: 3, status: null });
      expect(down.error).toMatch(/^SMTP /);
    } finally {
      for (const n of [flakyNotifiers, refusingNotifiers, downNotifiers]) n.onApplicationShutdown();
      await Promise.all([flaky.close(), refusing.close()]);
    }
  });

  it('validates the SMTP settings at boot, all together, and treats the password as a secret', () => {
    let problems: string[] = [];
    try {
      loadAppConfig({ SMTP_URL: 'http://mail.example', ALERT_EMAIL_TO: 'ops@desk.example, not-an-address' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigValidationError);
      problems = (err as ConfigValidationError).problems;
    }
    expect(problems).toEqual([
      'SMTP_URL, ALERT_EMAIL_FROM and ALERT_EMAIL_TO must be set together',
      'SMTP_URL must be an smtp:// or smtps:// URL, got protocol http:',
      'ALERT_EMAIL_TO must be comma-separated email addresses, got "not-an-address"',
    ]);
    const config = loadAppConfig({
      SMTP_URL: `smtps://alerts:${SMTP_PASSWORD}@mail.example:465`,
      ALERT_EMAIL_FROM: 'bastion@desk.example',
      ALERT_EMAIL_TO: 'ops@desk.example,risk@desk.example',
    });
    expect(config.email).toEqual({
      smtpUrl: `smtps://alerts:${SMTP_PASSWORD}@mail.example:465`,
      from: 'bastion@desk.example',
      to: ['ops@desk.example', 'risk@desk.example'],
    });
    expect(secretsOf(config)).toContain(SMTP_PASSWORD);
    expect(loadAppConfig({}).email).toBeUndefined();
  });
});

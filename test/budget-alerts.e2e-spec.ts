import { ManualClock } from '../src/common/clock.js';
import { BudgetAlertsService } from '../src/cost-monitoring/alerts/budget-alerts.service.js';
import { Notifiers } from '../src/cost-monitoring/alerts/notifiers.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, startTestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/redis-server.js';

const TELEGRAM_TOKEN = '123456789:test-token-not-real';

describe('Scheduled budget alerts', () => {
  let deepseek: FakeLlm;
  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
  });
  afterAll(() => deepseek.close());

  it('two instances checking repeatedly send one alert per crossing, and the next UTC day starts clean', async () => {
    const webhook = await startReceiver();
    const clock = new ManualClock(Date.parse('2026-11-22T10:00:00Z'));
    const env = { ...providerEnv({ deepseek }), ALERT_WEBHOOK_URL: `${webhook.url}/hook` };
    const a = await startTestApp({ env, clock });
    const b = await startTestApp({ env, clock, prefix: a.prefix });
    try {
      let n = 0;
      const spend = async () =>
        (
          await a.request('POST', '/ai/call', {
            agent_type: 'alert_probe',
            prompt: `question ${++n}`,
            max_tokens: 32,
          })
        ).body.metadata.cost_usd as number;
      const first = await spend();
      await a.request('PUT', '/ai-cost/budgets', { daily_budget_usd: first / 0.85 }, ADMIN_KEY); // 85% used
      const checkBoth = async () => {
        for (let i = 0; i < 3; i++) {
          await Promise.all([
            a.app.get(BudgetAlertsService).runScheduledCheck(),
            b.app.get(BudgetAlertsService).runScheduledCheck(),
          ]);
          await Promise.all([a.app.get(BudgetAlertsService).check(), b.app.get(BudgetAlertsService).check()]);
        }
      };
      await checkBoth();
      expect(webhook.received).toHaveLength(1);
      expect(webhook.received[0].body).toMatchObject({
        type: 'budget_alert',
        scope: 'global',
        period: 'daily',
        threshold_percent: 80,
        period_id: '2026-11-22',
      });
      expect(webhook.received[0].body.message).toMatch(
        /spent \$0\.\d+ of the daily budget .*Enforcement is soft/,
      );

      while ((await a.request('GET', '/ai-cost/budget-alert')).body.daily_usage_percent < 100) await spend();
      await checkBoth();
      expect(webhook.received).toHaveLength(2);
      expect(webhook.received[1].body.threshold_percent).toBe(100);

      const listed = (await b.request('GET', '/ai-cost/alerts')).body;
      expect(listed.alerts.map((x: { threshold_percent: number }) => x.threshold_percent)).toEqual([100, 80]); // newest first
      expect(listed.alerts[0].deliveries).toEqual([
        expect.objectContaining({ channel: 'webhook', ok: true, attempts: 1, status: 200 }),
      ]);

      clock.advance(86_400_000); // next UTC day: nothing spent yet, nothing to send
      await checkBoth();
      expect(webhook.received).toHaveLength(2);
      await spend();
      await checkBoth();
      expect(webhook.received).toHaveLength(3);
      expect(webhook.received[2].body.period_id).toBe('2026-11-23');
    } finally {
      await b.close({ keepKeys: true });
      await a.close();
      await webhook.close();
    }
  });

  it('runs the check on BUDGET_CHECK_CRON by itself once the app is up, and stops when the app stops', async () => {
    const webhook = await startReceiver();
    const app = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        ALERT_WEBHOOK_URL: `${webhook.url}/hook`,
        BUDGET_CHECK_CRON: '* * * * * *', // every second
      },
    });
    let open = true;
    try {
      const service = app.app.get(BudgetAlertsService);
      const scheduled = service.runScheduledCheck.bind(service);
      let ticks = 0;
      service.runScheduledCheck = () => {
        ticks++;
        return scheduled();
      };
      const { body } = await app.request('POST', '/ai/call', {
        agent_type: 'alert_probe',
        prompt: 'one question',
        max_tokens: 32,
      });
      await app.request(
        'PUT',
        '/ai-cost/budgets',
        { daily_budget_usd: body.metadata.cost_usd / 0.85 },
        ADMIN_KEY,
      );
      // Nobody calls check(): the schedule does.
      await waitFor(() => Promise.resolve(webhook.received.length === 1), 5000, 'no scheduled alert');
      expect(webhook.received[0].body).toMatchObject({ scope: 'global', threshold_percent: 80 });
      expect(ticks).toBeGreaterThanOrEqual(1);

      await app.close();
      open = false;
      const afterStop = ticks;
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(ticks).toBe(afterStop);
    } finally {
      if (open) await app.close();
      await webhook.close();
    }
  });

  it('with no channel configured, still records each crossing and lists it once', async () => {
    const app = await startTestApp({ env: providerEnv({ deepseek }) });
    try {
      const { body } = await app.request('POST', '/ai/call', {
        agent_type: 'alert_probe',
        prompt: 'one question',
        max_tokens: 32,
      });
      await app.request(
        'PUT',
        '/ai-cost/budgets',
        { daily_budget_usd: body.metadata.cost_usd / 0.9 },
        ADMIN_KEY,
      );
      await app.app.get(BudgetAlertsService).check();
      await app.app.get(BudgetAlertsService).check();
      const listed = (await app.request('GET', '/ai-cost/alerts')).body;
      expect(listed.alerts).toHaveLength(1);
      expect(listed.alerts[0]).toMatchObject({ threshold_percent: 80, deliveries: [] });
    } finally {
      await app.close();
    }
  });

  it('retries a failing webhook with backoff, records the failure, and still delivers to Slack and Telegram', async () => {
    const webhook = await startReceiver(() => 500);
    const slack = await startReceiver();
    const telegram = await startReceiver();
    const app = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        ALERT_WEBHOOK_URL: `${webhook.url}/hook`,
        SLACK_WEBHOOK_URL: `${slack.url}/services/T000/B000/XXXX`,
        TELEGRAM_BOT_TOKEN: TELEGRAM_TOKEN,
        TELEGRAM_CHAT_ID: '-1001234567890',
        TELEGRAM_API_URL: telegram.url,
        BUDGET_ENFORCEMENT: 'hard',
      },
    });
    try {
      app.app.get(Notifiers).setBackoff(50);
      const cost = (
        await app.request('POST', '/ai/call', { agent_type: 'alert_probe', prompt: 'q', max_tokens: 32 })
      ).body.metadata.cost_usd;
      await app.request(
        'PUT',
        '/ai-cost/budgets',
        { agents: { alert_probe: { daily_budget_usd: cost / 0.6 } } },
        ADMIN_KEY,
      );
      const sent = await app.app.get(BudgetAlertsService).check();
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ scope: 'agent:alert_probe', threshold_percent: 50 });
      expect(webhook.received).toHaveLength(3);
      expect(webhook.received[1].at - webhook.received[0].at).toBeGreaterThanOrEqual(45);
      expect(webhook.received[2].at - webhook.received[1].at).toBeGreaterThanOrEqual(95);
      expect(slack.received).toHaveLength(1);
      expect(Object.keys(slack.received[0].body)).toEqual(['text']);
      expect(slack.received[0].body.text).toMatch(/agent alert_probe spent .* Enforcement is hard/);
      expect(telegram.received).toHaveLength(1);
      expect(telegram.received[0].path).toBe(`/bot${TELEGRAM_TOKEN}/sendMessage`);
      expect(telegram.received[0].body).toMatchObject({
        chat_id: '-1001234567890',
        text: expect.stringMatching(/budget alert/),
      });

      const listed = (await app.request('GET', '/ai-cost/alerts')).body;
      const deliveries = listed.alerts[0].deliveries;
      expect(deliveries).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            channel: 'webhook',
            ok: false,
            attempts: 3,
            status: 500,
            error: 'HTTP 500',
          }),
          expect.objectContaining({ channel: 'slack', ok: true }),
          expect.objectContaining({ channel: 'telegram', ok: true }),
        ]),
      );
      expect(JSON.stringify(listed)).not.toContain(TELEGRAM_TOKEN);
      expect(app.logs.text).not.toContain(TELEGRAM_TOKEN);
    } finally {
      await app.close();
      await Promise.all([webhook.close(), slack.close(), telegram.close()]);
    }
  });
});

describe('Prometheus metrics', () => {
  it('serves Prometheus text whose cost and call counters match /ai-cost/stats', async () => {
    const deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    const app = await startTestApp({ env: providerEnv({ deepseek }) });
    try {
      for (let i = 0; i < 3; i++)
        await app.request('POST', '/ai/call', {
          agent_type: 'metrics_probe',
          symbol: 'BTC',
          prompt: `m${i}`,
        });
      await app.request('POST', '/ai/call', { agent_type: 'metrics_probe', symbol: 'BTC', prompt: 'm0' }); // a cache hit
      const res = await fetch(`${app.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const samples = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
        expect(m).not.toBeNull(); // every sample line is valid exposition format
        samples.set(`${m?.[1]}${m?.[2] ?? ''}`, Number(m?.[3]));
      }
      const sum = (name: string) =>
        [...samples].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((s, [, v]) => s + v, 0);
      const stats = (await app.request('GET', '/ai-cost/stats')).body;
      expect(sum('bastion_upstream_calls_total')).toBe(stats.overall.total_calls);
      expect(sum('bastion_requests_total')).toBe(stats.overall.total_requests);
      expect(Math.abs(sum('bastion_cost_usd_total') - stats.overall.total_cost_usd)).toBeLessThan(1e-9);
      expect(samples.get('bastion_response_cache_lookups_total{result="hit"}')).toBe(1);
      expect(text).not.toMatch(/symbol=|BTC/); // no unbounded labels
    } finally {
      await app.close();
      await deepseek.close();
    }
  });
});

import { createApp } from '../src/app.factory.js';
import { ConfigValidationError, loadAppConfig } from '../src/config/app-config.js';
import { budgetsConfig, type BudgetsConfig } from '../src/config/namespaces.js';
import { LogCapture, startTestApp } from './support/app.js';

describe('Bastion boots with no other service running', () => {
  it('runs on the embedded store, is ready and serves the OpenAPI document', async () => {
    const logs = new LogCapture();
    const app = await createApp(
      { NODE_ENV: 'development', FEAR_GREED_URL: 'http://127.0.0.1:9/fng/' },
      { logStream: logs },
    );
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    try {
      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status).toBe(200);
      const readyBody = (await ready.json()) as {
        status: string;
        details: Record<string, { store?: string }>;
      };
      expect(readyBody.status).toBe('ok');
      expect(readyBody.details.redis.store).toBe('embedded');
      const live = await fetch(`${url}/health/live`);
      expect(live.status).toBe(200);
      const doc = (await (await fetch(`${url}/docs/json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/ai/call', '/ai-cost/stats']));
      const ui = await fetch(`${url}/docs`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toContain('swagger');
      expect(logs.text).toMatch(/embedded in-process store/);
      expect(logs.text).toMatch(/API is OPEN/);
    } finally {
      await app.close();
    }
  });

  it('refuses to start in production without REDIS_URL and keys, listing every problem at once', () => {
    let message = '';
    try {
      loadAppConfig({ NODE_ENV: 'production', PORT: 'abc', BUDGET_ENFORCEMENT: 'strict' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/PORT must be an integer/);
    expect(message).toMatch(/REDIS_URL is required when NODE_ENV=production/);
    expect(message).toMatch(/API_KEYS or ADMIN_API_KEYS is required/);
    expect(message).toMatch(/BUDGET_ENFORCEMENT must be off, soft or hard/);
  });

  it('refuses to build the app from a bad environment with one error listing every problem', async () => {
    const env = { NODE_ENV: 'production', PORT: 'abc', BUDGET_ENFORCEMENT: 'strict', SMTP_URL: 'http://x' };
    const failure = await createApp(env, { logStream: new LogCapture() }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(ConfigValidationError);
    const { problems, message } = failure as ConfigValidationError;
    expect(problems).toEqual([
      expect.stringMatching(/^REDIS_URL is required when NODE_ENV=production/),
      expect.stringMatching(/^API_KEYS or ADMIN_API_KEYS is required/),
      expect.stringMatching(/^BUDGET_ENFORCEMENT must be off, soft or hard/),
      expect.stringMatching(/^PORT must be an integer/),
      expect.stringMatching(/^SMTP_URL, ALERT_EMAIL_FROM and ALERT_EMAIL_TO must be set together/),
      expect.stringMatching(/^SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/),
    ]);
    // main.ts prints exactly this message before exiting with 1.
    for (const problem of problems) expect(message).toContain(problem);
  });

  it('builds every app from its own environment: process.env is neither read nor written', async () => {
    const before = { ...process.env };
    // A key in process.env must not open an app whose environment does not name it.
    process.env.API_KEYS = 'key-only-in-process-env';
    const a = await startTestApp({ env: { API_KEYS: 'bot-key-of-app-a', DAILY_BUDGET_USD: '5' } });
    const b = await startTestApp({ env: { API_KEYS: 'bot-key-of-app-b', DAILY_BUDGET_USD: '7' } });
    try {
      const stats = (app: typeof a, key: string): Promise<number> =>
        app.request('GET', '/ai-cost/stats', undefined, key).then((r) => r.status);
      expect(await stats(a, 'bot-key-of-app-a')).toBe(200);
      expect(await stats(a, 'bot-key-of-app-b')).toBe(401);
      expect(await stats(b, 'bot-key-of-app-b')).toBe(200);
      expect(await stats(b, 'bot-key-of-app-a')).toBe(401);
      expect(await stats(a, 'key-only-in-process-env')).toBe(401);
      expect(a.app.get<BudgetsConfig>(budgetsConfig.KEY).dailyBudgetUsd).toBe(5);
      expect(b.app.get<BudgetsConfig>(budgetsConfig.KEY).dailyBudgetUsd).toBe(7);
      expect(process.env).toEqual({ ...before, API_KEYS: 'key-only-in-process-env' });
    } finally {
      process.env = before;
      await a.close();
      await b.close();
    }
  });
});

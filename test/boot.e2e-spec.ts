import { createApp } from '../src/app.factory.js';
import { loadAppConfig } from '../src/config/app-config.js';
import { LogCapture } from './support/app.js';

describe('Bastion boots with no other service running', () => {
  it('runs on the embedded store, is ready and serves the OpenAPI document', async () => {
    const logs = new LogCapture();
    const app = await createApp(
      loadAppConfig({ NODE_ENV: 'development', FEAR_GREED_URL: 'http://127.0.0.1:9/fng/' }),
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
});

/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('Cost dashboard in headless Chromium', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (.ci/run does)`);
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
    for (const [agent, prompt] of [
      ['regime_probe', 'a'],
      ['regime_probe', 'b'],
      ['signal_probe', 'c'],
      ['signal_probe', 'c'], // a cache hit
    ]) {
      await bastion.request('POST', '/ai/call', { agent_type: agent, prompt });
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await bastion?.close();
    await deepseek?.close();
  });

  it('shows the same figures as the API, draws charts with data, keeps the key in session storage, and logs no errors', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const res = await page.goto(`${bastion.url}/dashboard`);
    expect(res?.headers()['content-security-policy']).toMatch(/script-src 'sha256-/);
    await page.fill('#key', BOT_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('#agent-table tbody tr[data-agent="signal_probe"]');

    const daily = (await bastion.request('GET', '/ai-cost/daily?days=30')).body;
    const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
    const agents = (await bastion.request('GET', '/ai-cost/agent-breakdown')).body;
    expect(await page.textContent('#today-spend')).toBe(`$${daily.total_cost_usd.toFixed(6)}`);
    expect(await page.textContent('#cache-hit-rate')).toBe(
      `${(stats.response_cache.hit_rate * 100).toFixed(1)}%`,
    );
    expect(await page.textContent('#today-budget')).toBe('no budget');
    const rows = await page.$$eval('#agent-table tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)),
    );
    expect(rows.map((r) => r[0])).toEqual(Object.keys(agents.agents));
    for (const row of rows) expect(row[3]).toBe(`$${agents.agents[row[0]].cost_usd.toFixed(6)}`);
    expect(await page.getAttribute('#daily-chart', 'data-points')).toBe('30');
    expect(Number(await page.getAttribute('#daily-chart', 'data-nonzero'))).toBeGreaterThanOrEqual(1);
    expect(await page.getAttribute('#agent-chart', 'data-points')).toBe(String(rows.length));

    const storage = await page.evaluate(() => ({
      session: sessionStorage.getItem('bastion.apiKey'),
      local: JSON.stringify(localStorage),
      cookie: document.cookie,
    }));
    expect(storage.session).toBe(BOT_KEY);
    expect(storage.local).not.toContain(BOT_KEY);
    expect(storage.cookie).not.toContain(BOT_KEY);

    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true });
    expect(problems).toEqual([]);
  }, 30_000);

  it('asks again for a key when the key is refused', async () => {
    const page = await browser.newPage();
    await page.goto(`${bastion.url}/dashboard`);
    await page.fill('#key', 'not-a-valid-key');
    await page.click('button[type=submit]');
    await page.waitForSelector('#login:not([hidden])');
    expect(await page.textContent('#login-message')).toMatch(/refused/);
    expect(await page.evaluate(() => sessionStorage.getItem('bastion.apiKey'))).toBeNull();
  }, 30_000);
});

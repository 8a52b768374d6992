/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { BudgetAlertsService } from '../src/cost-monitoring/alerts/budget-alerts.service.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Shared by every call so the fake DeepSeek's prefix cache bills part of the prompt as cached.
const SYSTEM_PROMPT = `You are a crypto market analyst. ${'Answer in the institutional format. '.repeat(40)}`;
const money = (v: number): string => `$${v.toFixed(6)}`;

interface Problems {
  list: string[];
}

/** A fresh page whose console errors and uncaught exceptions are collected, for "no errors" checks. */
async function openPage(browser: Browser): Promise<{ page: Page; problems: Problems }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: Problems = { list: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') problems.list.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.list.push(`pageerror: ${e.message}`));
  return { page, problems };
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.fill('#key', key);
  await page.click('#login button[type=submit]');
}

describe('Cost dashboard in headless Chromium', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let browser: Browser;

  const call = (agent_type: string, prompt: string) =>
    bastion.request('POST', '/ai/call', { agent_type, prompt, system_prompt: SYSTEM_PROMPT });

  beforeAll(async () => {
    // CI installs Debian's chromium: a missing browser is a broken environment, so fail rather than skip.
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install Debian's chromium package (or set CHROMIUM_PATH)`,
      );
    }
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
    for (const [agent, prompt] of [
      ['regime_probe', 'BTC regime?'],
      ['regime_probe', 'ETH regime?'],
      ['signal_probe', 'BTC signal?'],
      ['signal_probe', 'BTC signal?'], // a response-cache hit
      ['regime_probe', 'BTC regime?'], // another one
    ]) {
      const res = await call(agent, prompt);
      expect(res.status).toBe(200);
    }
    // A monthly budget and no daily one, so the page shows both a usage percent and "no budget".
    const put = await bastion.request('PUT', '/ai-cost/budgets', { monthly_budget_usd: 1 }, ADMIN_KEY);
    expect(put.status).toBe(200);
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
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await bastion?.close();
    await deepseek?.close();
  });

  it('is served as a locked-down HTML page that is not in the OpenAPI document', async () => {
    const res = await fetch(`${bastion.url}/dashboard`); // no key: the page itself holds no data
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(await res.text()).not.toMatch(/(src|href)="https?:/);
    const docs = await bastion.request('GET', '/docs/json', undefined, null);
    expect(Object.keys(docs.body.paths)).not.toContain('/dashboard');
  });

  it('shows the API figures, draws charts with data, refreshes itself, keeps the key in session storage, logs no errors', async () => {
    const { page, problems } = await openPage(browser);
    // A fake clock, so the 15 s refresh can be triggered without waiting for it.
    await page.clock.install();
    await page.goto(`${bastion.url}/dashboard`);
    await signIn(page, BOT_KEY);
    await page.waitForSelector('#updated[data-count="1"]');

    const daily = (await bastion.request('GET', '/ai-cost/daily?days=30')).body;
    const stats = (await bastion.request('GET', '/ai-cost/stats')).body;
    const agents = (await bastion.request('GET', '/ai-cost/agent-breakdown')).body;
    const budget = (await bastion.request('GET', '/ai-cost/budget-alert')).body;
    expect(daily.total_cost_usd).toBeGreaterThan(0);

    expect(await page.textContent('#today-spend')).toBe(money(daily.total_cost_usd));
    expect(await page.textContent('#today-budget')).toBe('no budget');
    expect(await page.textContent('#month-spend')).toBe(money(budget.monthly_cost_usd));
    expect(await page.textContent('#month-budget')).toBe(
      `of $1.000000 budget · ${budget.monthly_usage_percent.toFixed(1)}% used`,
    );
    expect(await page.textContent('#status')).toBe('OK');
    expect(await page.textContent('#cache-hit-rate')).toBe(
      `${(stats.response_cache.hit_rate * 100).toFixed(1)}%`,
    );
    expect(stats.response_cache.hit_rate).toBeGreaterThan(0);
    expect(await page.textContent('#prompt-cache-rate')).toBe(
      `${(stats.prompt_cache.hit_rate * 100).toFixed(1)}%`,
    );

    const rows = await page.$$eval('#agent-table tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')),
    );
    expect(rows.map((r) => r[0]).sort()).toEqual(['regime_probe', 'signal_probe']);
    expect(rows.map((r) => r[0]).sort()).toEqual(Object.keys(agents.agents).sort());
    for (const [name, calls, , hits, cost] of rows) {
      expect(calls).toBe(String(agents.agents[name].calls));
      expect(hits).toBe(String(agents.agents[name].cache_hits));
      expect(cost).toBe(money(agents.agents[name].cost_usd));
    }

    expect(await page.getAttribute('#daily-chart', 'data-points')).toBe('30');
    const today = await page.$eval(`#daily-chart rect[data-label="${daily.date}"]`, (r) => ({
      value: Number(r.getAttribute('data-value')),
      height: Number(r.getAttribute('height')),
    }));
    expect(today.value).toBe(daily.total_cost_usd);
    expect(today.height).toBeGreaterThan(0);
    expect(await page.getAttribute('#agent-chart', 'data-points')).toBe('2');
    expect(Number(await page.getAttribute('#agent-chart', 'data-nonzero'))).toBe(2);
    expect(await page.textContent('#savings li[data-layer="response_cache"] span.n')).toBe(
      money(stats.overall.savings_by_layer_usd.response_cache),
    );
    expect(await page.textContent('#alerts')).toBe('No alerts');
    expect(await page.innerText('body')).not.toMatch(/NaN|undefined|null/);

    const storage = await page.evaluate(() => ({
      session: sessionStorage.getItem('bastion.apiKey'),
      local: JSON.stringify({ ...localStorage }),
    }));
    expect(storage.session).toBe(BOT_KEY);
    expect(storage.local).not.toContain(BOT_KEY);
    expect(await page.context().cookies()).toEqual([]);

    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true });

    // New traffic shows up at the next 15 s refresh, without a reload.
    expect((await call('news_probe', 'Any news?')).status).toBe(200);
    await page.clock.runFor(15_000);
    await page.waitForSelector('#updated[data-count="2"]');
    expect(await page.$('#agent-table tbody tr[data-agent="news_probe"]')).not.toBeNull();
    const after = (await bastion.request('GET', '/ai-cost/daily?days=30')).body;
    expect(await page.textContent('#today-spend')).toBe(money(after.total_cost_usd));

    expect(problems.list).toEqual([]);
    await page.close();
  }, 20_000);

  it('says so when the key is refused and lets the user enter another one', async () => {
    const { page } = await openPage(browser);
    await page.goto(`${bastion.url}/dashboard`);
    await signIn(page, 'not-a-valid-key');
    await page.waitForSelector('#login-message.refused');
    expect(await page.textContent('#login-message')).toMatch(/refused this key \(HTTP 401\)/);
    expect(await page.isHidden('#board')).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('bastion.apiKey'))).toBeNull();
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/dashboard-refused.png' });

    await signIn(page, BOT_KEY);
    await page.waitForSelector('#board:not([hidden])');
    expect(await page.textContent('#today-spend')).toMatch(/^\$\d+\.\d{6}$/);
    await page.close();
  });

  it('shows "No alerts" without a script error when the server has no /ai-cost/alerts', async () => {
    const { page, problems } = await openPage(browser);
    await page.route('**/ai-cost/alerts*', (route) =>
      route.fulfill({
        status: 404,
        contentType: 'application/json',
        body: '{"statusCode":404,"error":"Not Found","message":"Cannot GET /ai-cost/alerts"}',
      }),
    );
    await page.goto(`${bastion.url}/dashboard`);
    await signIn(page, BOT_KEY);
    await page.waitForSelector('#updated[data-count="1"]');
    expect(await page.textContent('#alerts')).toBe('No alerts');
    expect(await page.isHidden('#error')).toBe(true);
    // Chromium itself reports every 4xx response as "Failed to load resource"; the page logs nothing else.
    expect(problems.list.filter((p) => !/Failed to load resource: .* 404/.test(p))).toEqual([]);
    await page.close();
  });

  // Last: it sets a daily budget that today's spend exceeds.
  it('shows an exceeded budget and the alerts sent for it', async () => {
    const put = await bastion.request('PUT', '/ai-cost/budgets', { daily_budget_usd: 0.00005 }, ADMIN_KEY);
    expect(put.status).toBe(200);
    const sent = await bastion.app.get(BudgetAlertsService).check();
    expect(sent.length).toBeGreaterThanOrEqual(1);
    const budget = (await bastion.request('GET', '/ai-cost/budget-alert')).body;
    expect(budget.status).toBe('exceeded');

    const { page, problems } = await openPage(browser);
    await page.goto(`${bastion.url}/dashboard`);
    await signIn(page, BOT_KEY);
    await page.waitForSelector('#updated[data-count="1"]');
    expect(await page.textContent('#status')).toBe('Exceeded');
    expect(await page.textContent('#today-budget')).toBe(
      `of $0.000050 budget · ${budget.daily_usage_percent.toFixed(1)}% used`,
    );
    const alerts = await page.$$eval('#alerts li', (lis) => lis.map((li) => li.textContent ?? ''));
    // The thresholds crossed now, then each alert sent, once.
    expect(alerts).toHaveLength(budget.alerts.length + sent.length);
    expect(alerts.slice(0, budget.alerts.length)).toEqual(budget.alerts);
    for (const a of sent) expect(alerts.filter((t) => t.endsWith(a.message))).toHaveLength(1);
    await page.screenshot({ path: 'test-output/dashboard-alerts.png', fullPage: true });
    expect(problems.list).toEqual([]);
    await page.close();
  });
});

describe('Cost dashboard: the tenant selector', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  let browser: Browser;
  let alphaKey: string;
  let alertMessage: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install Debian's chromium package (or set CHROMIUM_PATH)`,
      );
    }
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({ env: providerEnv({ deepseek }) });
    const key = async (tenant: string) => {
      const res = await bastion.request('POST', '/admin/keys', { name: `${tenant} bot`, tenant }, ADMIN_KEY);
      expect(res.status).toBe(201);
      return res.body.key as string;
    };
    alphaKey = await key('alpha');
    const betaKey = await key('beta');
    for (const [k, agent, prompt] of [
      [alphaKey, 'alpha_agent', 'Alpha asks about BTC'],
      [alphaKey, 'alpha_agent', 'Alpha asks about ETH'],
      [alphaKey, 'alpha_agent', 'Alpha asks about BTC'], // a response-cache hit
      [betaKey, 'beta_agent', 'Beta asks about SOL'],
      [BOT_KEY, 'default_agent', 'The environment key asks'],
    ]) {
      const res = await bastion.request(
        'POST',
        '/ai/call',
        { agent_type: agent, prompt, system_prompt: SYSTEM_PROMPT },
        k,
      );
      expect(res.status).toBe(200);
    }
    // Alpha has spent past a daily budget of its own (and was alerted); beta has no budget.
    const alphaToday = (
      await bastion.request('GET', '/ai-cost/daily?days=1&tenant=alpha', undefined, ADMIN_KEY)
    ).body.total_cost_usd as number;
    const put = await bastion.request(
      'PUT',
      '/ai-cost/budgets',
      { tenants: { alpha: { daily_budget_usd: alphaToday / 2, monthly_budget_usd: 1 } } },
      ADMIN_KEY,
    );
    expect(put.status).toBe(200);
    const sent = await bastion.app.get(BudgetAlertsService).check();
    expect(sent.map((a) => `${a.scope} ${a.period} ${a.threshold_percent}`)).toEqual([
      'tenant:alpha daily 100',
    ]);
    alertMessage = sent[0].message;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await bastion?.close();
    await deepseek?.close();
  });

  /** What the board shows, as the API says it should be for `tenant` ('' = all tenants). */
  async function expected(tenant: string) {
    const q = tenant ? `tenant=${tenant}` : '';
    const get = async (path: string) => (await bastion.request('GET', path, undefined, ADMIN_KEY)).body;
    const daily = await get(`/ai-cost/daily?days=31&${q}`);
    const stats = await get(`/ai-cost/stats?${q}`);
    const agents = await get(`/ai-cost/agent-breakdown?${q}`);
    const month = daily.date.slice(0, 7);
    const monthly = (daily.history as { date: string; total_cost_usd: number }[])
      .filter((d) => d.date.startsWith(month))
      .reduce((s, d) => s + d.total_cost_usd, 0);
    return {
      today: money(daily.total_cost_usd),
      month: tenant ? money(monthly) : money((await get('/ai-cost/budget-alert')).monthly_cost_usd),
      cacheHitRate: `${(stats.response_cache.hit_rate * 100).toFixed(1)}%`,
      agents: Object.keys(agents.agents).sort(),
      agentCosts: Object.fromEntries(
        Object.entries(agents.agents).map(([n, a]) => [n, money((a as { cost_usd: number }).cost_usd)]),
      ),
      dailyTotal: daily.total_cost_usd as number,
    };
  }

  async function shown(page: Page) {
    const rows = await page.$$eval('#agent-table tbody tr[data-agent]', (trs) =>
      trs.map((tr) => [tr.getAttribute('data-agent') ?? '', tr.children[4]?.textContent ?? '']),
    );
    return {
      today: await page.textContent('#today-spend'),
      month: await page.textContent('#month-spend'),
      cacheHitRate: await page.textContent('#cache-hit-rate'),
      agents: rows.map((r) => r[0]).sort(),
      agentCosts: Object.fromEntries(rows),
    };
  }

  it('lists "All tenants" then every tenant, and re-reads the figures of the tenant picked', async () => {
    const { page, problems } = await openPage(browser);
    const asked: string[] = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith('/ai-cost/')) asked.push(url.pathname + url.search);
    });
    await page.goto(`${bastion.url}/dashboard`);
    await signIn(page, ADMIN_KEY);
    await page.waitForSelector('#updated[data-count="1"]');
    const options = await page.$$eval('#tenant option', (os) =>
      os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? '']),
    );
    expect(options).toEqual([
      ['', 'All tenants'],
      ['alpha', 'alpha'],
      ['beta', 'beta'],
      ['default', 'default'],
    ]);
    const all = await expected('');
    const { dailyTotal: _all, ...allView } = all;
    expect(await shown(page)).toEqual(allView);
    expect(allView.agents).toEqual(['alpha_agent', 'beta_agent', 'default_agent']);

    asked.length = 0;
    await page.selectOption('#tenant', 'alpha');
    await page.waitForSelector('#board[data-tenant="alpha"]');
    const alpha = await expected('alpha');
    const { dailyTotal: alphaToday, ...alphaView } = alpha;
    expect(await shown(page)).toEqual(alphaView);
    expect(alphaView.agents).toEqual(['alpha_agent']);
    expect(await page.inputValue('#tenant')).toBe('alpha');
    // The figures were read for alpha alone.
    for (const path of ['/ai-cost/stats', '/ai-cost/daily', '/ai-cost/agent-breakdown']) {
      expect(asked.filter((u) => u.startsWith(path))).toEqual([expect.stringContaining('tenant=alpha')]);
    }
    // Alpha's own budgets: spent twice its daily budget, alerted once.
    expect(await page.textContent('#today-budget')).toBe(
      `of ${money(alphaToday / 2)} budget · ${(200).toFixed(1)}% used`,
    );
    expect(await page.textContent('#status')).toBe('Exceeded');
    expect(await page.textContent('#month-budget')).toMatch(/^of \$1\.000000 budget · \d+\.\d% used$/);
    const alerts = await page.$$eval('#alerts li', (lis) => lis.map((li) => li.textContent ?? ''));
    expect(alerts).toHaveLength(1);
    expect(alerts[0].endsWith(alertMessage)).toBe(true);
    expect(await page.isHidden('#tco')).toBe(true);
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/dashboard-tenant.png', fullPage: true });

    await page.selectOption('#tenant', 'beta');
    await page.waitForSelector('#board[data-tenant="beta"]');
    const { dailyTotal: _beta, ...betaView } = await expected('beta');
    expect(await shown(page)).toEqual(betaView);
    expect(betaView.agents).toEqual(['beta_agent']);
    expect(await page.textContent('#status')).toBe('No budget');
    expect(await page.textContent('#alerts')).toBe('No alerts');

    await page.selectOption('#tenant', '');
    await page.waitForSelector('#board[data-tenant=""]');
    expect(await shown(page)).toEqual(allView);
    expect(await page.innerText('body')).not.toMatch(/NaN|undefined|null/);
    expect(problems.list).toEqual([]);
    await page.close();
  }, 20_000);

  it('offers a bot key its own tenant only, and shows its figures', async () => {
    const { page, problems } = await openPage(browser);
    await page.goto(`${bastion.url}/dashboard`);
    await signIn(page, alphaKey);
    await page.waitForSelector('#updated[data-count="1"]');
    const options = await page.$$eval('#tenant option', (os) =>
      os.map((o) => (o as HTMLOptionElement).value),
    );
    expect(options).toEqual(['', 'alpha']);
    await page.selectOption('#tenant', 'alpha');
    await page.waitForSelector('#board[data-tenant="alpha"]');
    const { dailyTotal: _alpha, ...alphaView } = await expected('alpha');
    expect(await shown(page)).toEqual(alphaView);
    expect(await page.isVisible('#board')).toBe(true);
    expect(problems.list).toEqual([]);
    await page.close();
  });
});

/// <reference lib="dom" />
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { toPico } from '../src/common/money.js';
import { BudgetAlertsService } from '../src/cost-monitoring/alerts/budget-alerts.service.js';
import { ManualClock } from '../src/common/clock.js';
import { loadCostsConfig } from '../src/config/yaml-config.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { ADMIN_KEY, BOT_KEY, startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('GET /ai-cost/tco: the whole bill (fake DeepSeek, real Redis)', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  const clock = new ManualClock(Date.parse('2026-12-15T10:00:00Z')); // December: 31 days, 744 hours

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({
      env: { ...providerEnv({ deepseek }), COSTS_CONFIG_PATH: 'test/fixtures/costs.test.yaml' },
      clock,
    });
    for (let i = 0; i < 3; i++) {
      const res = await bastion.request('POST', '/ai/call', {
        agent_type: 'tco_probe',
        prompt: `question ${i}`,
      });
      expect(res.status).toBe(200);
    }
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });

  it('adds the configured fixed costs to the month’s LLM cost exactly', async () => {
    const res = await bastion.request('GET', '/ai-cost/tco?month=2026-12');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual([
      'fixed_cost_usd',
      'fixed_costs',
      'llm_cost_usd',
      'total_usd',
    ]);
    // The LLM part is the ledger's month, the same figure the budget endpoint reports.
    const budget = (await bastion.request('GET', '/ai-cost/budget-alert')).body;
    expect(res.body.llm_cost_usd).toBeGreaterThan(0);
    expect(res.body.llm_cost_usd).toBe(budget.monthly_cost_usd);
    // 0.038 $/h × 744 h = 28.272; the disabled line and the one whose source (Helsinki) is unset do not count.
    expect(res.body.fixed_costs).toEqual([
      { name: 'gpu_server', category: 'compute', monthly_usd: 28.272 },
      { name: 'coinglass', category: 'data', monthly_usd: 299 },
    ]);
    expect(res.body.fixed_cost_usd).toBe(327.272);
    // Exact to the picodollar: total = llm + fixed, no floating-point drift.
    expect(toPico(res.body.total_usd)).toBe(toPico(res.body.llm_cost_usd) + toPico(res.body.fixed_cost_usd));
    expect(res.body.total_usd).toBeCloseTo(res.body.llm_cost_usd + 327.272, 9);
  });

  it('converts hourly costs with the month’s real hours, defaults to the current month, refuses a bad month', async () => {
    const february = (await bastion.request('GET', '/ai-cost/tco?month=2027-02')).body;
    expect(february.llm_cost_usd).toBe(0);
    expect(february.fixed_costs[0]).toEqual({ name: 'gpu_server', category: 'compute', monthly_usd: 25.536 }); // 672 h
    expect(february.total_usd).toBe(324.536);
    expect((await bastion.request('GET', '/ai-cost/tco')).body).toEqual(
      (await bastion.request('GET', '/ai-cost/tco?month=2026-12')).body,
    );
    for (const month of ['2026-13', '26-12', 'december']) {
      const bad = await bastion.request('GET', `/ai-cost/tco?month=${month}`);
      expect(bad.status).toBe(400);
      expect(bad.body.message).toBe(`month must be YYYY-MM, got "${month}"`);
    }
  });

  it('the shipped costs.yaml lists the guide’s lines and counts each only while its source is configured', async () => {
    const plain = await startTestApp();
    const withSources = await startTestApp({
      env: { COINGLASS_API_KEY: 'cg-test-key', BASTION_MODEL_URL: 'http://127.0.0.1:9/v1' },
    });
    try {
      expect((await plain.request('GET', '/ai-cost/tco?month=2026-11')).body).toEqual({
        llm_cost_usd: 0,
        fixed_costs: [],
        fixed_cost_usd: 0,
        total_usd: 0,
      });
      expect((await withSources.request('GET', '/ai-cost/tco?month=2026-11')).body).toEqual({
        llm_cost_usd: 0,
        fixed_costs: [
          { name: 'gpu_server', category: 'compute', monthly_usd: 27.36 }, // 720 h
          { name: 'coinglass', category: 'data', monthly_usd: 299 },
        ],
        fixed_cost_usd: 326.36,
        total_usd: 326.36,
      });
      expect(
        loadCostsConfig('config/costs.yaml').fixedCosts.map((c) => [c.name, c.hourlyUsd ?? c.monthlyUsd]),
      ).toEqual([
        ['gpu_server', 0.038],
        ['coinglass', 299],
        ['whale_alert', 29.95],
      ]);
    } finally {
      await Promise.all([plain.close(), withSources.close()]);
    }
  });

  it('validates costs.yaml at boot with one line per problem', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'bastion-costs-')), 'costs.yaml');
    writeFileSync(
      path,
      [
        'fixed_costs:',
        '  - { name: gpu, category: hardware, hourly_usd: 0.04, monthly_usd: 20 }',
        '  - { name: feed, category: data, monthly_usd: -1, enabled: maybe }',
        '  - { name: feed, category: data, monthly_usd: 5, owner: ops }',
      ].join('\n'),
    );
    expect(() => loadCostsConfig(path)).toThrow(
      [
        `Invalid ${path}:`,
        '  - fixed_costs.0.category must be one of compute, data, other',
        '  - fixed_costs.0 needs exactly one of monthly_usd and hourly_usd',
        '  - fixed_costs.1.monthly_usd must be a non-negative number of USD',
        '  - fixed_costs.1.enabled must be true or false',
        '  - fixed_costs.2.owner is not a field (known: name, category, monthly_usd, hourly_usd, enabled, source)',
        '  - fixed_costs.2.name feed appears twice',
      ].join('\n'),
    );
  });

  it('the dashboard shows the month’s bill split into LLM and fixed costs', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH)`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${bastion.url}/dashboard`);
      await page.fill('#key', BOT_KEY);
      await page.click('#login button[type=submit]');
      await page.waitForSelector('#updated[data-count="1"]');
      const tco = (await bastion.request('GET', '/ai-cost/tco')).body;
      const text = (id: string) => page.textContent(`#${id}`);
      expect(await page.isVisible('#tco')).toBe(true);
      expect(await text('tco-total')).toBe(`$${tco.total_usd.toFixed(6)}`);
      expect(await text('tco-llm')).toBe(`$${tco.llm_cost_usd.toFixed(6)}`);
      expect(await text('tco-fixed')).toBe('$327.272000');
      expect(await page.$$eval('#tco-lines li', (lis) => lis.map((li) => li.textContent))).toEqual([
        'gpu_server (compute)$28.272000',
        'coinglass (data)$299.000000',
      ]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('Budgets that count the fixed costs (BUDGET_INCLUDE_FIXED_COSTS)', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;
  // December: 31 days. Fixed costs of the test file: GPU 0.038 $/h × 744 h + Coinglass 299 = 327.272 $/month.
  const clock = new ManualClock(Date.parse('2026-12-15T10:00:00Z'));
  const monthPico = toPico(327.272);
  const dayPico = monthPico / 31n;

  beforeAll(async () => {
    deepseek = await startFakeLlm({ personality: 'deepseek', apiKey: DEEPSEEK_TEST_KEY });
    bastion = await startTestApp({
      env: {
        ...providerEnv({ deepseek }),
        COSTS_CONFIG_PATH: 'test/fixtures/costs.test.yaml',
        BUDGET_INCLUDE_FIXED_COSTS: 'true',
        BUDGET_ENFORCEMENT: 'hard',
        DAILY_BUDGET_USD: '20',
        MONTHLY_BUDGET_USD: '400',
      },
      clock,
    });
  });
  afterAll(async () => {
    await bastion?.close();
    await deepseek?.close();
  });

  const ask = (prompt: string) => bastion.request('POST', '/ai/call', { agent_type: 'fixed_probe', prompt });
  const setBudgets = async (change: Record<string, unknown>) =>
    expect((await bastion.request('PUT', '/ai-cost/budgets', change, ADMIN_KEY)).status).toBe(200);

  it('shows the day’s share and the month’s fixed costs beside the budgets they count in', async () => {
    const budgets = (await bastion.request('GET', '/ai-cost/budgets')).body;
    expect(budgets).toMatchObject({
      include_fixed_costs: true,
      daily_budget_usd: 20,
      monthly_budget_usd: 400,
    });
    expect(toPico(budgets.daily_fixed_cost_usd)).toBe(dayPico);
    expect(budgets.monthly_fixed_cost_usd).toBe(327.272);
  });

  it('a hard budget leaves for calls only what the fixed costs do not take, and counts them in its alerts', async () => {
    expect((await ask('room left')).body.metadata.reason).toBe('called'); // $72.7 of the month left for calls
    await setBudgets({ monthly_budget_usd: 300 }); // the fixed costs alone exceed it
    const calls = deepseek.calls.length;
    const refused = await ask('no room');
    expect(refused.body.metadata.reason).toBe('budget_exceeded');
    expect(deepseek.calls).toHaveLength(calls); // refused before the upstream

    const status = (await bastion.request('GET', '/ai-cost/budget-alert')).body;
    expect(status.status).toBe('exceeded');
    expect(status.monthly_fixed_cost_usd).toBe(327.272);
    expect(status.monthly_usage_percent).toBeGreaterThan(109); // (327.272 + the LLM cost) / 300
    const alerts = await bastion.app.get(BudgetAlertsService).check();
    const monthly = alerts.find((a) => a.scope === 'global' && a.period === 'monthly');
    expect(monthly).toMatchObject({ threshold_percent: 100, budget_usd: 300, fixed_cost_usd: 327.272 });
    expect(toPico(monthly?.spent_usd ?? 0)).toBe(monthPico + toPico(status.monthly_cost_usd));
    expect(monthly?.message).toMatch(/fixed costs \$327\.272000 included/);

    await setBudgets({ include_fixed_costs: false }); // LLM spend alone is far below $300
    expect((await ask('fixed costs not counted')).body.metadata.reason).toBe('called');
    const plain = (await bastion.request('GET', '/ai-cost/budgets')).body;
    expect(plain.include_fixed_costs).toBe(false);
    expect(plain).not.toHaveProperty('monthly_fixed_cost_usd');
  });

  it('refuses a non-boolean include_fixed_costs with a 400 naming it', async () => {
    const res = await bastion.request('PUT', '/ai-cost/budgets', { include_fixed_costs: 'yes' }, ADMIN_KEY);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.message)).toMatch(/include_fixed_costs must be true or false/);
  });
});

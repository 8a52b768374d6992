/**
 * The cost dashboard: one self-contained page. It is a TypeScript constant rather than a .html file because
 * `tsc` does not copy assets to dist/, and a constant is found the same way from src/ (tests) and dist/.
 *
 * No framework and no external URL (deployments may have no internet, and the CSP forbids it): the charts are
 * SVG drawn by a few lines of script. The page holds no data; it asks for an API key, keeps it in this tab's
 * sessionStorage only (never localStorage or a cookie, so it goes when the tab closes and is never sent
 * implicitly), and reads the /ai-cost API with it every 15 seconds. A selector narrows the figures to one tenant
 * (the tenants of GET /ai-cost/tenants: every one for an admin key, its own for a bot key).
 *
 * The script is plain browser JavaScript in a string: it must not contain a backtick or "${" (this is a
 * template literal), nor "</script". Any change to it changes its CSP hash, which the controller computes.
 */
export const DASHBOARD_SCRIPT = String.raw`
(() => {
  'use strict';
  const KEY = 'bastion.apiKey';
  const REFRESH_MS = 15000;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const num = (v) => typeof v === 'number' && Number.isFinite(v);
  // Money keeps 6 decimals, like the API's own alert texts; anything missing reads "unknown", never NaN.
  const money = (v) => (num(v) ? '$' + v.toFixed(6) : 'unknown');
  const percent = (v) => (num(v) ? v.toFixed(1) + '%' : 'n/a');
  const ratio = (v) => (num(v) ? (v * 100).toFixed(1) + '%' : 'n/a');
  const count = (v) => (num(v) ? String(v) : '0');
  const setText = (id, value) => { $(id).textContent = value; };
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  const STATUS = { ok: 'OK', warning: 'Warning', exceeded: 'Exceeded', no_budget: 'No budget' };
  const LAYERS = {
    prompt_cache: 'Prompt cache', response_cache: 'Response cache', coalescing: 'Coalescing',
    sampling: 'Sampling', event_filter: 'Event filter', batching: 'Batching',
  };

  let timer = null;
  let busy = false;
  let again = false; // the tenant changed during a refresh: refresh once more when it ends
  let refreshes = 0;
  let last = null; // the last figures, to redraw the charts at a new width
  let tenant = ''; // '' = all tenants

  class Refused extends Error {}

  async function api(path, optional) {
    const res = await fetch(path, {
      headers: { authorization: 'Bearer ' + (sessionStorage.getItem(KEY) || '') },
      cache: 'no-store',
      credentials: 'omit',
    });
    if (res.status === 401 || res.status === 403) throw new Refused(String(res.status));
    // An optional endpoint this server does not have yet is simply empty: not an error worth showing.
    if (optional && res.status === 404) return null;
    if (!res.ok) throw new Error(path.split('?')[0] + ' answered HTTP ' + res.status);
    return res.json();
  }

  function svgEl(svg, tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  }

  // Vertical bars with a y axis (0, half, max) and a few x labels; each bar carries its label and value.
  function columnChart(svg, items, xLabel) {
    const W = Math.max(svg.clientWidth, 320), H = 200, L = 76, B = 22, T = 10, R = 6;
    const max = Math.max(0, ...items.map((d) => d.value));
    const scale = max > 0 ? (H - T - B) / max : 0;
    const bw = (W - L - R) / Math.max(items.length, 1);
    svg.replaceChildren();
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    for (const f of [0, 0.5, 1]) {
      const y = H - B - f * (H - T - B);
      svgEl(svg, 'line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' });
      svgEl(svg, 'text', { x: L - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, money(max * f));
    }
    const step = Math.max(1, Math.ceil(items.length / 6));
    items.forEach((d, i) => {
      const h = d.value > 0 ? Math.max(2, d.value * scale) : 0; // a tiny cost still shows as a sliver
      const bar = svgEl(svg, 'rect', {
        x: L + i * bw + 1, y: H - B - h, width: Math.max(bw - 2, 1), height: h,
        class: d.highlight ? 'bar now' : 'bar', 'data-label': d.label, 'data-value': d.value,
      });
      svgEl(bar, 'title', {}, d.label + ': ' + money(d.value) + (d.extra ? ' · ' + d.extra : ''));
      if ((items.length - 1 - i) % step === 0) {
        svgEl(svg, 'text', { x: L + i * bw + bw / 2, y: H - 6, class: 'axis', 'text-anchor': 'middle' }, xLabel(d));
      }
    });
    svg.dataset.points = String(items.length);
    svg.dataset.nonzero = String(items.filter((d) => d.value > 0).length);
  }

  // Horizontal bars, one labelled row per item, largest first.
  function rowChart(svg, items) {
    const W = Math.max(svg.clientWidth, 320), row = 26, L = 150, R = 90;
    const H = Math.max(items.length, 1) * row + 4;
    const max = Math.max(0, ...items.map((d) => d.value));
    svg.replaceChildren();
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('height', String(H));
    items.forEach((d, i) => {
      const y = 2 + i * row, w = max > 0 && d.value > 0 ? Math.max(2, (d.value / max) * (W - L - R)) : 0;
      svgEl(svg, 'text', { x: L - 8, y: y + 16, class: 'label', 'text-anchor': 'end' }, d.label);
      svgEl(svg, 'rect', { x: L, y: y + 4, width: w, height: row - 8, rx: 3, class: 'bar', 'data-label': d.label, 'data-value': d.value });
      svgEl(svg, 'text', { x: L + w + 6, y: y + 16, class: 'axis' }, money(d.value));
    });
    if (items.length === 0) svgEl(svg, 'text', { x: 8, y: 18, class: 'axis' }, 'No data yet');
    svg.dataset.points = String(items.length);
    svg.dataset.nonzero = String(items.filter((d) => d.value > 0).length);
  }

  function budgetLine(prefix, budget, usage) {
    const bar = $(prefix + '-usage');
    if (budget === null || budget === undefined) {
      setText(prefix + '-budget', 'no budget');
      bar.hidden = true;
      return;
    }
    setText(prefix + '-budget', 'of ' + money(budget) + ' budget · ' + percent(usage) + ' used');
    bar.hidden = false;
    const fill = bar.firstElementChild;
    fill.style.width = Math.min(num(usage) ? usage : 0, 100) + '%'; // CSSOM is allowed by the CSP
    fill.className = usage >= 100 ? 'fill exceeded' : usage >= 80 ? 'fill warning' : 'fill';
  }

  function draw() {
    if (!last) return;
    const { daily, agents } = last;
    columnChart($('daily-chart'), daily.history.map((d) => ({
      label: d.date, value: num(d.total_cost_usd) ? d.total_cost_usd : 0,
      highlight: d.date === daily.date, extra: count(d.total_calls) + ' calls',
    })), (d) => d.label.slice(5));
    const names = Object.keys(agents.agents).sort((a, b) => agents.agents[b].cost_usd - agents.agents[a].cost_usd);
    rowChart($('agent-chart'), names.map((n) => ({ label: n, value: num(agents.agents[n].cost_usd) ? agents.agents[n].cost_usd : 0 })));
  }

  // The tenants to choose from: "All tenants" first, then each one (the chosen one kept even if not listed).
  function renderTenants(list) {
    const names = Array.isArray(list && list.tenants) ? list.tenants.map(String) : [];
    if (tenant && !names.includes(tenant)) names.unshift(tenant);
    const select = $('tenant');
    const options = [el('option', 'All tenants')];
    options[0].value = '';
    for (const name of names) {
      const o = el('option', name);
      o.value = name;
      options.push(o);
    }
    select.replaceChildren(...options);
    select.value = tenant;
    $('tenant-box').hidden = false;
  }

  // One tenant's budget figures in the shape of /ai-cost/budget-alert (which knows only the global budgets):
  // its budgets from /ai-cost/budgets, its spend from its own daily figures, the same 80 and 100% thresholds.
  function tenantBudget(budgets, daily) {
    const own = (budgets && budgets.tenants && budgets.tenants[tenant]) || {};
    const month = daily.date.slice(0, 7);
    const monthly = daily.history.filter((d) => d.date.slice(0, 7) === month)
      .reduce((s, d) => s + (num(d.total_cost_usd) ? d.total_cost_usd : 0), 0);
    const usage = (spent, budget) => (num(budget) && budget > 0 ? (spent / budget) * 100 : null);
    const dailyBudget = num(own.daily_budget_usd) ? own.daily_budget_usd : null;
    const monthlyBudget = num(own.monthly_budget_usd) ? own.monthly_budget_usd : null;
    const dailyUsage = usage(daily.total_cost_usd, dailyBudget), monthlyUsage = usage(monthly, monthlyBudget);
    const worst = Math.max(dailyUsage || 0, monthlyUsage || 0);
    return {
      daily_budget: dailyBudget, daily_usage_percent: dailyUsage,
      monthly_budget: monthlyBudget, monthly_usage_percent: monthlyUsage, monthly_cost_usd: monthly,
      status: dailyBudget === null && monthlyBudget === null ? 'no_budget' : worst >= 100 ? 'exceeded' : worst >= 80 ? 'warning' : 'ok',
      enforcement: budgets && budgets.enforcement, alerts: [],
    };
  }

  // The month's whole bill: the LLM spend beside the fixed costs (GPU server, data feeds) of costs.yaml.
  function renderTco(tco) {
    $('tco').hidden = !tco;
    if (!tco) return;
    setText('tco-total', money(tco.total_usd));
    setText('tco-llm', money(tco.llm_cost_usd));
    setText('tco-fixed', money(tco.fixed_cost_usd));
    const lines = Array.isArray(tco.fixed_costs) ? tco.fixed_costs : [];
    $('tco-lines').replaceChildren(...(lines.length ? lines.map((l) => {
      const li = el('li');
      li.dataset.name = String(l.name);
      li.append(el('span', String(l.name) + ' (' + String(l.category) + ')'), el('span', money(l.monthly_usd), 'n'));
      return li;
    }) : [el('li', 'No fixed costs configured', 'muted')]));
    const total = num(tco.total_usd) ? tco.total_usd : 0;
    const share = total > 0 && num(tco.llm_cost_usd) ? (tco.llm_cost_usd / total) * 100 : 0;
    $('tco-split').firstElementChild.style.width = share + '%';
    setText('tco-share', 'LLM ' + percent(share) + ' of the bill');
  }

  function render(budget, daily, stats, agents, stored, tco) {
    setText('today-spend', money(daily.total_cost_usd));
    budgetLine('today', budget.daily_budget, budget.daily_usage_percent);
    setText('today-calls', count(daily.total_calls) + ' upstream calls · ' + count(daily.total_requests) + ' requests today');
    setText('month-spend', money(budget.monthly_cost_usd));
    budgetLine('month', budget.monthly_budget, budget.monthly_usage_percent);
    setText('status', STATUS[budget.status] || String(budget.status || 'unknown'));
    $('status').dataset.status = String(budget.status || '');
    setText('enforcement', budget.enforcement ? 'Enforcement: ' + budget.enforcement : '');
    const o = stats.overall;
    setText('total-calls', count(o.total_calls) + ' upstream calls · ' + count(o.total_requests) + ' requests · ' + money(o.total_cost_usd) + ' all time');
    setText('total-savings', 'Saved ' + money(o.estimated_savings_usd) + ' (' + percent(o.savings_percent) + ')');
    const rc = stats.response_cache, pc = stats.prompt_cache;
    setText('cache-hit-rate', ratio(rc.hit_rate));
    setText('cache-detail', count(rc.hits) + ' hits · ' + count(rc.misses) + ' misses');
    setText('prompt-cache-rate', ratio(pc.hit_rate));
    setText('prompt-cache-detail', count(pc.cached_tokens) + ' cached prompt tokens · saved ' + money(pc.savings_usd));

    const names = Object.keys(agents.agents).sort((a, b) => agents.agents[b].cost_usd - agents.agents[a].cost_usd);
    const rows = names.map((n) => {
      const a = agents.agents[n];
      const tr = el('tr');
      tr.dataset.agent = n;
      tr.append(el('td', n), el('td', count(a.calls), 'n'), el('td', count(a.requests), 'n'), el('td', count(a.cache_hits), 'n'),
        el('td', money(a.cost_usd), 'n'), el('td', money(a.savings_usd), 'n'), el('td', percent(a.share_of_cost_percent), 'n'));
      return tr;
    });
    if (rows.length === 0) {
      const td = el('td', 'No calls yet', 'muted');
      td.colSpan = 7;
      rows.push(el('tr'));
      rows[0].append(td);
    }
    $('agent-table').tBodies[0].replaceChildren(...rows);

    const layers = o.savings_by_layer_usd || {};
    const most = Math.max(0, ...Object.values(layers).filter(num));
    $('savings').replaceChildren(...Object.keys(layers).map((l) => {
      const li = el('li');
      li.dataset.layer = l;
      const meter = el('div', undefined, 'meter');
      const fill = el('div', undefined, 'fill');
      fill.style.width = (most > 0 && num(layers[l]) ? (layers[l] / most) * 100 : 0) + '%';
      meter.append(fill);
      li.append(el('span', LAYERS[l] || l), meter, el('span', money(layers[l]), 'n'));
      return li;
    }));

    // Thresholds crossed right now (from budget-alert), then the alerts sent (from /alerts), newest first.
    const items = (Array.isArray(budget.alerts) ? budget.alerts : []).map((a) => el('li', String(a), 'alert now'));
    // One tenant's view lists the alerts sent for that tenant only.
    const sent = (stored && Array.isArray(stored.alerts) ? stored.alerts : [])
      .filter((a) => !tenant || (a && a.scope === 'tenant:' + tenant));
    const seen = new Set(); // one alert per id, even if the list ever holds an id twice
    for (const a of sent.filter((a) => !(a && a.id) || (!seen.has(a.id) && seen.add(a.id))).slice(0, 10)) {
      const li = el('li', undefined, 'alert');
      if (typeof a === 'string') li.textContent = a;
      else li.append(el('time', a && a.at ? new Date(a.at).toLocaleString() : ''), el('span', a && a.message ? String(a.message) : ''));
      items.push(li);
    }
    $('alerts').replaceChildren(...(items.length ? items : [el('li', 'No alerts', 'muted')]));
    $('alerts').dataset.count = String(items.length);

    renderTco(tco);
    last = { daily, agents };
    draw();
  }

  async function refresh() {
    if (!sessionStorage.getItem(KEY)) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    const asked = tenant;
    const only = asked ? 'tenant=' + encodeURIComponent(asked) : '';
    try {
      // One tenant's month is the sum of its days: 31 of them cover any month; the chart shows the last 30.
      const [tenants, daily, stats, agents, stored, whole] = await Promise.all([
        api('/ai-cost/tenants', true),
        api(asked ? '/ai-cost/daily?days=31&' + only : '/ai-cost/daily?days=30'),
        api('/ai-cost/stats' + (asked ? '?' + only : '')),
        api('/ai-cost/agent-breakdown' + (asked ? '?' + only : '')),
        api('/ai-cost/alerts?limit=' + (asked ? 100 : 10), true),
        // The global budgets and the month's bill (fixed costs are the deployment's, not a tenant's).
        asked ? api('/ai-cost/budgets') : Promise.all([api('/ai-cost/budget-alert'), api('/ai-cost/tco', true)]),
      ]);
      if (asked !== tenant) return; // another tenant was chosen meanwhile: its refresh follows
      const budget = asked ? tenantBudget(whole, daily) : whole[0];
      const tco = asked ? null : whole[1];
      if (asked) daily.history = daily.history.slice(-30);
      renderTenants(tenants);
      // Visible first: the charts are drawn at the width the board actually has.
      $('board').hidden = false;
      render(budget, daily, stats, agents, stored, tco);
      $('board').dataset.tenant = asked;
      refreshes += 1;
      setText('updated', 'Updated ' + new Date().toLocaleTimeString() + ' · every 15 s');
      $('updated').dataset.count = String(refreshes);
      $('error').hidden = true;
    } catch (e) {
      if (e instanceof Refused) {
        signOut('The server refused this key (HTTP ' + e.message + '). Enter a valid API key.');
      } else {
        $('error').hidden = false;
        setText('error', 'Could not refresh: ' + (e && e.message ? e.message : String(e)) + '. Retrying in 15 s.');
      }
    } finally {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  function start() {
    $('login').hidden = true;
    $('forget').hidden = false;
    clearInterval(timer);
    timer = setInterval(refresh, REFRESH_MS);
    refresh();
  }

  function signOut(message) {
    clearInterval(timer);
    timer = null;
    sessionStorage.removeItem(KEY);
    last = null;
    tenant = '';
    $('tenant-box').hidden = true;
    $('board').hidden = true;
    $('error').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-message').className = message ? 'refused' : 'muted';
    setText('login-message', message || "Enter a Bastion API key. It stays in this tab's session storage only.");
    setText('updated', '');
    $('key').focus();
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('key').value.trim();
    $('key').value = '';
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    start();
  });
  $('forget').addEventListener('click', () => signOut(''));
  $('tenant').addEventListener('change', () => {
    tenant = $('tenant').value;
    refresh();
  });
  let resizing = null;
  window.addEventListener('resize', () => { clearTimeout(resizing); resizing = setTimeout(draw, 150); });
  if (sessionStorage.getItem(KEY)) start();
  else $('key').focus();
})();
`;

export const DASHBOARD_STYLE = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#0f172a;color:#e2e8f0}
header{padding:14px 24px;background:#111827;border-bottom:1px solid #1f2937;display:flex;gap:16px;align-items:center}
header h1{font-size:18px;margin:0;flex:1} header .muted{font-size:13px}
h2{font-size:12px;margin:0 0 8px;color:#94a3b8;font-weight:600;text-transform:uppercase;letter-spacing:.04em}
h2.sub{margin-top:14px}
main{padding:20px 24px;display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px;max-width:1400px}
.card{background:#111827;border:1px solid #1f2937;border-radius:10px;padding:16px;min-width:0}
.wide{grid-column:1/-1} .half{grid-column:span 2}
.big{font-size:28px;font-weight:700;font-variant-numeric:tabular-nums;letter-spacing:-.01em}
.mid{font-size:20px;font-weight:700;font-variant-numeric:tabular-nums}
.muted{color:#94a3b8} .small{font-size:12px}
.meter{height:6px;background:#1f2937;border-radius:3px;margin:8px 0 4px;overflow:hidden}
.fill{height:100%;width:0;background:#4ade80} .fill.warning{background:#fbbf24} .fill.exceeded{background:#f87171}
#status[data-status=ok]{color:#4ade80} #status[data-status=warning]{color:#fbbf24}
#status[data-status=exceeded]{color:#f87171} #status[data-status=no_budget]{color:#94a3b8}
svg{display:block;width:100%} #daily-chart{height:200px}
.bar{fill:#38bdf8} .bar.now{fill:#a78bfa} .grid{stroke:#1f2937;stroke-width:1}
.axis{fill:#94a3b8;font-size:11px;font-variant-numeric:tabular-nums} .label{fill:#e2e8f0;font-size:12px}
table{width:100%;border-collapse:collapse;margin-bottom:12px;font-variant-numeric:tabular-nums}
th{font-size:12px;color:#94a3b8;font-weight:600;text-align:left}
td,th{padding:6px 8px;border-bottom:1px solid #1f2937} .n{text-align:right} th.n{text-align:right}
ul{list-style:none;margin:0;padding:0} #savings{margin-bottom:10px}
#savings li{display:grid;grid-template-columns:130px 1fr 96px;gap:12px;align-items:center;padding:5px 0;border-bottom:1px solid #1f2937}
#savings .meter{margin:0} #savings .fill{background:#38bdf8}
#tco-lines li{display:flex;justify-content:space-between;padding:4px 0;border-bottom:1px solid #1f2937}
#tco-split{background:#a78bfa} #tco-split .fill{background:#38bdf8}
.alert{padding:6px 0;border-bottom:1px solid #1f2937} .alert time{display:block;font-size:12px;color:#94a3b8}
.alert.now{color:#fbbf24}
form{margin:48px auto;max-width:440px;background:#111827;border:1px solid #1f2937;border-radius:10px;padding:24px}
form h2{font-size:14px}
input{width:100%;padding:9px 10px;margin:10px 0 14px;background:#0b1220;color:#e2e8f0;border:1px solid #334155;border-radius:6px;font:inherit}
button{padding:8px 14px;background:#38bdf8;color:#0f172a;border:0;border-radius:6px;font:inherit;font-weight:600;cursor:pointer}
button.ghost{background:transparent;color:#94a3b8;border:1px solid #334155}
#tenant-box{color:#94a3b8;font-size:13px}
select{margin-left:6px;padding:6px 8px;background:#0b1220;color:#e2e8f0;border:1px solid #334155;border-radius:6px;font:inherit}
.refused{color:#f87171;font-weight:600}
#error{margin:16px 24px 0;padding:10px 14px;border:1px solid #7f1d1d;background:#1f0f13;color:#fca5a5;border-radius:8px}
[hidden]{display:none!important}
@media (max-width:700px){.half{grid-column:1/-1}}
`;

export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Bastion · cost dashboard</title><link rel="icon" href="data:,"><style>${DASHBOARD_STYLE}</style></head>
<body>
<header><h1>Bastion · cost dashboard</h1><span id="updated" class="muted" data-testid="updated"></span>
<label id="tenant-box" hidden>Tenant<select id="tenant" data-testid="tenant" aria-label="Tenant"><option value="">All tenants</option></select></label>
<button id="forget" class="ghost" type="button" hidden>Change key</button></header>
<form id="login" data-testid="login" autocomplete="off"><h2>API key</h2>
<p id="login-message" class="muted">Enter a Bastion API key. It stays in this tab's session storage only.</p>
<input id="key" data-testid="key" type="password" autocomplete="off" spellcheck="false" aria-label="API key" required>
<button type="submit">Show costs</button></form>
<p id="error" role="alert" hidden></p>
<main id="board" hidden>
<section class="card"><h2>Today (UTC)</h2><div id="today-spend" data-testid="today-spend" class="big">–</div>
<div class="meter" id="today-usage" hidden><div class="fill"></div></div>
<div id="today-budget" data-testid="today-budget" class="muted"></div><div id="today-calls" class="muted small"></div></section>
<section class="card"><h2>This month (UTC)</h2><div id="month-spend" data-testid="month-spend" class="big">–</div>
<div class="meter" id="month-usage" hidden><div class="fill"></div></div>
<div id="month-budget" data-testid="month-budget" class="muted"></div></section>
<section class="card"><h2>Budget status</h2><div id="status" data-testid="status" class="big">–</div>
<div id="enforcement" class="muted"></div><div id="total-calls" class="muted small"></div></section>
<section class="card"><h2>Response cache hit rate</h2><div id="cache-hit-rate" data-testid="cache-hit-rate" class="big">–</div>
<div id="cache-detail" class="muted small"></div>
<h2 class="sub">Prompt cache hit rate</h2><div id="prompt-cache-rate" data-testid="prompt-cache-rate" class="mid">–</div>
<div id="prompt-cache-detail" class="muted small"></div></section>
<section class="card wide"><h2>Cost per day, last 30 days (UTC)</h2>
<svg id="daily-chart" data-testid="daily-chart" role="img" aria-label="Cost per day, last 30 days"></svg></section>
<section class="card wide"><h2>Agents</h2>
<table id="agent-table" data-testid="agent-table"><thead><tr><th>agent</th><th class="n">upstream calls</th><th class="n">requests</th>
<th class="n">cache hits</th><th class="n">cost</th><th class="n">savings</th><th class="n">share of cost</th></tr></thead><tbody></tbody></table>
<svg id="agent-chart" data-testid="agent-chart" role="img" aria-label="Cost per agent"></svg></section>
<section class="card" id="tco" data-testid="tco" hidden><h2>This month's bill (UTC)</h2>
<div id="tco-total" data-testid="tco-total" class="big">–</div>
<div class="meter" id="tco-split"><div class="fill"></div></div>
<div class="muted small"><span id="tco-share"></span></div>
<div class="muted">LLM <span id="tco-llm" data-testid="tco-llm">–</span> · fixed <span id="tco-fixed" data-testid="tco-fixed">–</span></div>
<ul id="tco-lines" data-testid="tco-lines"></ul></section>
<section class="card half"><h2>Savings by layer</h2><ul id="savings" data-testid="savings"></ul>
<div id="total-savings" class="muted"></div></section>
<section class="card half"><h2>Recent alerts</h2><ul id="alerts" data-testid="alerts"></ul></section>
</main>
<script>${DASHBOARD_SCRIPT}</script>
</body></html>`;
}

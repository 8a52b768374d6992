/**
 * The cost dashboard: one self-contained page (no framework, no external URL — the charts are drawn as SVG
 * by a few lines of script). The page holds no data; it asks for an API key, keeps it in sessionStorage only,
 * and reads the /ai-cost API with it.
 */
export const DASHBOARD_SCRIPT = String.raw`
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'bastion.apiKey';
  const money = (v) => (typeof v === 'number' && isFinite(v) ? '$' + v.toFixed(6) : 'unknown');
  const pct = (v) => (typeof v === 'number' && isFinite(v) ? v.toFixed(1) + '%' : 'no budget');
  const rate = (v) => (typeof v === 'number' && isFinite(v) ? (v * 100).toFixed(1) + '%' : '0.0%');
  const text = (id, value) => { $(id).textContent = value; };
  let timer = null;

  async function api(path) {
    const res = await fetch(path, { headers: { authorization: 'Bearer ' + sessionStorage.getItem(KEY) } });
    if (res.status === 401 || res.status === 403) throw Object.assign(new Error('key'), { auth: true });
    if (!res.ok) throw new Error(path + ' answered ' + res.status);
    return res.json();
  }

  function bars(svgId, values, labels) {
    const svg = $(svgId);
    const w = 600, h = 160, max = Math.max(...values, 1e-12);
    const bw = w / Math.max(values.length, 1);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.replaceChildren();
    values.forEach((v, i) => {
      const bh = v > 0 ? Math.max(2, (v / max) * (h - 20)) : 0;
      const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      r.setAttribute('x', String(i * bw + 2)); r.setAttribute('y', String(h - bh));
      r.setAttribute('width', String(Math.max(bw - 4, 1))); r.setAttribute('height', String(bh));
      r.setAttribute('class', 'bar');
      const t = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      t.textContent = labels[i] + ': ' + money(v);
      r.appendChild(t); svg.appendChild(r);
    });
    svg.dataset.points = String(values.length);
    svg.dataset.nonzero = String(values.filter((v) => v > 0).length);
  }

  async function refresh() {
    try {
      const [budget, daily, stats, agents] = await Promise.all([
        api('/ai-cost/budget-alert'), api('/ai-cost/daily?days=30'), api('/ai-cost/stats'), api('/ai-cost/agent-breakdown'),
      ]);
      let alerts = { alerts: [] };
      try { alerts = await api('/ai-cost/alerts?limit=10'); } catch (e) { if (e.auth) throw e; }
      text('today-spend', money(budget.daily_cost_usd));
      text('today-budget', budget.daily_budget === null ? 'no budget' : money(budget.daily_budget) + ' · ' + pct(budget.daily_usage_percent));
      text('month-spend', money(budget.monthly_cost_usd));
      text('month-budget', budget.monthly_budget === null ? 'no budget' : money(budget.monthly_budget) + ' · ' + pct(budget.monthly_usage_percent));
      text('status', budget.status);
      $('status').dataset.status = budget.status;
      text('cache-hit-rate', rate(stats.response_cache.hit_rate));
      text('prompt-cache-rate', rate(stats.prompt_cache.hit_rate));
      text('total-calls', String(stats.overall.total_calls) + ' calls / ' + stats.overall.total_requests + ' requests');
      bars('daily-chart', daily.history.map((d) => d.total_cost_usd), daily.history.map((d) => d.date));
      const names = Object.keys(agents.agents);
      const tbody = $('agent-table').querySelector('tbody');
      tbody.replaceChildren(...names.map((n) => {
        const a = agents.agents[n];
        const tr = document.createElement('tr');
        tr.dataset.agent = n;
        [n, String(a.calls), String(a.requests), money(a.cost_usd), money(a.savings_usd), a.share_of_cost_percent.toFixed(1) + '%']
          .forEach((v) => { const td = document.createElement('td'); td.textContent = v; tr.appendChild(td); });
        return tr;
      }));
      bars('agent-chart', names.map((n) => agents.agents[n].cost_usd), names);
      const layers = stats.overall.savings_by_layer_usd;
      $('savings').replaceChildren(...Object.keys(layers).map((l) => {
        const li = document.createElement('li'); li.textContent = l.replace('_', ' ') + ': ' + money(layers[l]); return li;
      }));
      $('alerts').replaceChildren(...(alerts.alerts.length ? alerts.alerts.map((a) => {
        const li = document.createElement('li'); li.textContent = a.at + ' — ' + a.message; return li;
      }) : [Object.assign(document.createElement('li'), { textContent: 'No alerts' })]));
      text('updated', 'Updated ' + new Date().toLocaleTimeString());
      $('error').hidden = true;
      $('board').hidden = false;
    } catch (e) {
      if (e.auth) { sessionStorage.removeItem(KEY); showLogin('That key was refused. Enter a valid API key.'); return; }
      $('error').hidden = false; text('error', 'Could not refresh: ' + e.message);
    }
  }

  function showLogin(message) {
    clearInterval(timer); $('board').hidden = true; $('login').hidden = false; text('login-message', message || '');
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $('key').value.trim());
    $('key').value = '';
    $('login').hidden = true;
    refresh(); timer = setInterval(refresh, 15000);
  });
  if (sessionStorage.getItem(KEY)) { $('login').hidden = true; refresh(); timer = setInterval(refresh, 15000); }
})();
`;

export const DASHBOARD_STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#0f172a;color:#e2e8f0}
header{padding:16px 24px;background:#111827;border-bottom:1px solid #1f2937;display:flex;justify-content:space-between;align-items:center}
h1{font-size:18px;margin:0} h2{font-size:14px;margin:0 0 8px;color:#94a3b8;font-weight:600}
main{padding:24px;display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:16px}
.card{background:#111827;border:1px solid #1f2937;border-radius:8px;padding:16px}
.wide{grid-column:1/-1} .big{font-size:26px;font-weight:700} .muted{color:#94a3b8}
svg{width:100%;height:160px} .bar{fill:#38bdf8}
table{width:100%;border-collapse:collapse} td,th{padding:4px 6px;text-align:left;border-bottom:1px solid #1f2937}
#status[data-status=warning]{color:#fbbf24} #status[data-status=exceeded]{color:#f87171} #status[data-status=ok]{color:#4ade80}
form{padding:24px;max-width:420px} input{width:100%;padding:8px;margin:8px 0;background:#0b1220;color:#e2e8f0;border:1px solid #334155;border-radius:6px}
button{padding:8px 14px;background:#38bdf8;border:0;border-radius:6px;font-weight:600;cursor:pointer} #error{color:#f87171;padding:0 24px}
`;

export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Bastion — cost dashboard</title><link rel="icon" href="data:,"><style>${DASHBOARD_STYLE}</style></head>
<body>
<header><h1>Bastion · cost dashboard</h1><span id="updated" class="muted"></span></header>
<form id="login"><h2>API key</h2><p id="login-message" class="muted">Enter a Bastion API key. It is kept in this tab's session storage only.</p>
<input id="key" type="password" autocomplete="off" aria-label="API key"><button type="submit">Show costs</button></form>
<p id="error" hidden></p>
<main id="board" hidden>
<section class="card"><h2>Today</h2><div id="today-spend" class="big">–</div><div id="today-budget" class="muted"></div></section>
<section class="card"><h2>This month</h2><div id="month-spend" class="big">–</div><div id="month-budget" class="muted"></div></section>
<section class="card"><h2>Budget status</h2><div id="status" class="big">–</div><div id="total-calls" class="muted"></div></section>
<section class="card"><h2>Response cache hit rate</h2><div id="cache-hit-rate" class="big">–</div><h2>Prompt cache (cached prompt tokens)</h2><div id="prompt-cache-rate">–</div></section>
<section class="card wide"><h2>Cost per day, last 30 days</h2><svg id="daily-chart" role="img" aria-label="cost per day"></svg></section>
<section class="card wide"><h2>Agents</h2><table id="agent-table"><thead><tr><th>agent</th><th>calls</th><th>requests</th><th>cost</th><th>savings</th><th>share</th></tr></thead><tbody></tbody></table>
<svg id="agent-chart" role="img" aria-label="cost per agent"></svg></section>
<section class="card"><h2>Savings by layer</h2><ul id="savings"></ul></section>
<section class="card"><h2>Recent alerts</h2><ul id="alerts"></ul></section>
</main>
<script>${DASHBOARD_SCRIPT}</script>
</body></html>`;
}

/** The replay's Markdown tables. */
import type { Distribution, LayerResult } from './runner.js';

export const DAYS_PER_MONTH = 365 / 12;

const int = (n: number): string => n.toLocaleString('en-US');
const pct = (x: number, digits = 1): string => `${x < 0 ? '−' : ''}${Math.abs(x * 100).toFixed(digits)}%`;
const pts = (x: number): string => `${x < 0 ? '−' : ''}${Math.abs(x * 100).toFixed(1)} pts`;

/** Dollars with enough digits to tell the rows apart (these bills are small). */
export function usd(x: number): string {
  const abs = Math.abs(x);
  const digits = abs >= 100 ? 0 : abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return `${x < 0 ? '−' : ''}$${abs.toFixed(digits)}`;
}

export function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds === 0) return '0 (at once)';
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(0)} min`;
  if (seconds < 86_400 * 2) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

const spread = (d: Distribution): string =>
  d.count === 0 ? '—' : `${duration(d.median)} / ${duration(d.worst)}`;

export interface CostRow {
  id: string;
  label: string;
  method: 'pipeline' | 'analytic';
  upstreamCalls: number;
  costUsd: number;
  costPerDay: number;
  costPerMonth: number;
  /** 1 − cost / baseline cost. */
  cumulativeReduction: number;
  /** What this layer saved against the row above, in $/month and as a share of the row above. */
  ownSavingPerMonth: number | null;
  ownSavingShare: number | null;
  /** The same saving as a share of the baseline (the rows' own savings add up to the cumulative one). */
  ownSavingOfBaseline: number | null;
  callsVsBaseline: number;
}

export function costRows(results: LayerResult[], days: number): CostRow[] {
  const base = results[0];
  return results.map((r, i) => {
    const previous = i > 0 ? results[i - 1] : null;
    const perDay = r.costUsd / days;
    return {
      id: r.id,
      label: r.label,
      method: r.method,
      upstreamCalls: r.upstreamCalls,
      costUsd: r.costUsd,
      costPerDay: perDay,
      costPerMonth: perDay * DAYS_PER_MONTH,
      cumulativeReduction: base.costUsd > 0 ? 1 - r.costUsd / base.costUsd : 0,
      ownSavingPerMonth: previous ? ((previous.costUsd - r.costUsd) / days) * DAYS_PER_MONTH : null,
      ownSavingShare: previous && previous.costUsd > 0 ? 1 - r.costUsd / previous.costUsd : null,
      ownSavingOfBaseline:
        previous && base.costUsd > 0 ? (previous.costUsd - r.costUsd) / base.costUsd : null,
      callsVsBaseline: base.upstreamCalls > 0 ? r.upstreamCalls / base.upstreamCalls : 0,
    };
  });
}

export function costTable(rows: CostRow[]): string {
  const lines = [
    '| layer | upstream calls | calls vs baseline | cost / day | cost / month | own saving (vs row above) | cumulative reduction |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const own =
      r.ownSavingPerMonth === null || r.ownSavingShare === null || r.ownSavingOfBaseline === null
        ? '—'
        : `${usd(r.ownSavingPerMonth)}/mo · ${pct(r.ownSavingShare)} (${pts(r.ownSavingOfBaseline)})`;
    lines.push(
      `| ${r.label}${r.method === 'analytic' ? ' †' : ''} | ${int(r.upstreamCalls)} | ${pct(r.callsVsBaseline)} | ${usd(r.costPerDay)} | ` +
        `${usd(r.costPerMonth)} | ${own} | ${r.id === 'baseline' ? '—' : `**${pct(r.cumulativeReduction)}**`} |`,
    );
  }
  return lines.join('\n');
}

export function fidelityTable(results: LayerResult[]): string {
  const lines = [
    '| layer | market-moving bars answered fresh | longest wait after one | CRITICAL answered fresh | HIGH answered fresh at once | longest HIGH wait for a fresh answer | answers not fresh | staleness median / worst | LOW batch answer wait median / worst |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const f = r.fidelity;
    const m = r.moving;
    const critical =
      f.critical.freshShare === null
        ? '—'
        : `${pct(f.critical.freshShare, f.critical.freshShare === 1 ? 0 : 1)} (${int(f.critical.fresh)}/${int(f.critical.events)})`;
    const high = f.high.events === 0 ? '—' : `${int(f.high.freshAtOnce)}/${int(f.high.events)}`;
    const notFresh = r.requests - (r.reasons.called ?? 0);
    lines.push(
      `| ${r.label} | ${share(m.fresh, m.requests)} | ${duration(m.longestWaitSeconds)} | ${critical} | ${high} | ${duration(f.high.longestWaitSeconds)}` +
        `${f.high.unansweredAtEnd > 0 ? ` (${f.high.unansweredAtEnd} unanswered at the end)` : ''} | ` +
        `${int(notFresh)} (${pct(notFresh / r.requests)}) | ${spread(f.staleness)} | ${spread(f.batchWait)} |`,
    );
  }
  return lines.join('\n');
}

export function reasonsTable(results: LayerResult[]): string {
  const reasons = [...new Set(results.flatMap((r) => Object.keys(r.reasons)))].sort();
  const lines = [
    `| layer | ${reasons.join(' | ')} | batches flushed | prompt tokens billed at the cache rate | staleness by reason (median / worst) |`,
    `|---|${reasons.map(() => '---:').join('|')}|---:|---:|---|`,
  ];
  for (const r of results) {
    const byReason = Object.entries(r.fidelity.stalenessByReason)
      .map(([reason, d]) => `${reason} ${spread(d)}`)
      .join('; ');
    lines.push(
      `| ${r.label} | ${reasons.map((k) => int(r.reasons[k] ?? 0)).join(' | ')} | ${int(r.batchesFlushed)} | ` +
        `${r.promptTokens > 0 ? pct(r.cachedPromptTokens / r.promptTokens) : '—'} | ${byReason || '—'} |`,
    );
  }
  return lines.join('\n');
}

export function agentTable(results: LayerResult[]): string {
  const agents = Object.keys(results[0]?.perAgent ?? {});
  const lines = [
    `| layer | ${agents.map((a) => `${a} calls (cost)`).join(' | ')} |`,
    `|---|${agents.map(() => '---:').join('|')}|`,
  ];
  for (const r of results) {
    lines.push(
      `| ${r.label} | ${agents
        .map((a) => `${int(r.perAgent[a]?.calls ?? 0)} (${usd(r.perAgent[a]?.costUsd ?? 0)})`)
        .join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** `P% (n/m)`: 100% only when every one is, otherwise one decimal. */
function share(n: number, m: number): string {
  if (m === 0) return '— (0/0)';
  return `${n === m ? '100' : ((n / m) * 100).toFixed(1)}% (${int(n)}/${int(m)})`;
}

/** The yardstick line of every row, exactly as the issue asks, with the longest wait after a market-moving bar. */
export function movingLines(results: LayerResult[]): string {
  const lines: string[] = ['```text'];
  for (const r of results) {
    const m = r.moving;
    lines.push(r.label);
    lines.push(`  market-moving bars answered fresh: ${share(m.fresh, m.requests)}`);
    lines.push(
      `  longest wait for a fresh answer after one: ${duration(m.longestWaitSeconds)}` +
        `${m.unansweredAtEnd > 0 ? ` (${int(m.unansweredAtEnd)} still waiting at the end)` : ''}` +
        `${m.shared > 0 ? `; ${int(m.shared)} of the fresh answers shared (a call made for the same bar)` : ''}`,
    );
  }
  lines.push('```');
  return lines.join('\n');
}

/** Per symbol: requests, fresh calls, cost (batches split by events), fresh answers on market-moving bars. */
export function perSymbolTable(results: LayerResult[], days: number): string {
  const symbols = [...new Set(results.flatMap((r) => Object.keys(r.perSymbol)))].sort();
  const lines = [
    `| layer | ${symbols.map((s) => `${s}: cost / month · market-moving answered fresh · longest wait`).join(' | ')} |`,
    `|---|${symbols.map(() => '---:').join('|')}|`,
  ];
  for (const r of results) {
    const cells = symbols.map((s) => {
      const t = r.perSymbol[s];
      if (!t) return '—';
      const month = ((t.freshCostUsd + t.batchCostUsd) / days) * DAYS_PER_MONTH;
      return `${usd(month)} · ${share(t.moving.fresh, t.moving.requests)} · ${duration(t.moving.longestWaitSeconds)}`;
    });
    lines.push(`| ${r.label} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const SPEND_COLUMNS: { title: string; match: (kind: string, priority: string, bar: string) => boolean }[] = [
  { title: 'fresh, market-moving bars', match: (k, _p, b) => k === 'fresh' && b === 'moving' },
  {
    title: 'fresh CRITICAL, other bars',
    match: (k, p, b) => k === 'fresh' && b === 'other' && p === 'CRITICAL',
  },
  { title: 'fresh HIGH, other bars', match: (k, p, b) => k === 'fresh' && b === 'other' && p === 'HIGH' },
  { title: 'fresh MEDIUM, other bars', match: (k, p, b) => k === 'fresh' && b === 'other' && p === 'MEDIUM' },
  { title: 'fresh LOW, other bars', match: (k, p, b) => k === 'fresh' && b === 'other' && p === 'LOW' },
  { title: 'LOW batches', match: (k) => k === 'batch' },
];

function spendCells(
  r: LayerResult,
  filter: (agent: string) => boolean,
): { calls: number; costUsd: number }[] {
  return SPEND_COLUMNS.map((c) => {
    let calls = 0;
    let costUsd = 0;
    for (const [key, v] of Object.entries(r.spend)) {
      const [kind, priority, bar, agent] = key.split('|');
      if (c.match(kind, priority, bar) && filter(agent)) {
        calls += v.calls;
        costUsd += v.costUsd;
      }
    }
    return { calls, costUsd };
  });
}

/**
 * Where each row's spend goes: fresh calls on market-moving bars (the yardstick needs those), fresh calls on
 * other bars by the priority that made them (the gate's decision; outside the gate the static one), batches.
 */
export function spendTable(results: LayerResult[], days: number): string {
  const lines = [
    `| layer | ${SPEND_COLUMNS.map((c) => `${c.title}: calls · $/month (share)`).join(' | ')} |`,
    `|---|${SPEND_COLUMNS.map(() => '---:').join('|')}|`,
  ];
  for (const r of results) {
    const cells = spendCells(r, () => true);
    const total = cells.reduce((s, c) => s + c.costUsd, 0);
    lines.push(
      `| ${r.label} | ${cells
        .map((c) =>
          c.calls === 0
            ? '—'
            : `${int(c.calls)} · ${usd((c.costUsd / days) * DAYS_PER_MONTH)} (${pct(total > 0 ? c.costUsd / total : 0)})`,
        )
        .join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** The same breakdown for one row, per agent. */
export function spendByAgentTable(r: LayerResult, days: number): string {
  const agents = Object.keys(r.perAgent);
  const lines = [
    `| agent | ${SPEND_COLUMNS.map((c) => c.title).join(' | ')} | total $/month |`,
    `|---|${SPEND_COLUMNS.map(() => '---:').join('|')}|---:|`,
  ];
  for (const agent of agents) {
    const cells = spendCells(r, (a) => a === agent);
    const total = cells.reduce((s, c) => s + c.costUsd, 0);
    lines.push(
      `| ${agent} | ${cells
        .map((c) => (c.calls === 0 ? '—' : `${int(c.calls)} · ${usd((c.costUsd / days) * DAYS_PER_MONTH)}`))
        .join(' | ')} | ${usd((total / days) * DAYS_PER_MONTH)} |`,
    );
  }
  return lines.join('\n');
}

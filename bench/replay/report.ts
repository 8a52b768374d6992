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
    '| layer | CRITICAL answered fresh | HIGH answered fresh at once | longest HIGH wait for a fresh answer | answers not fresh | staleness median / worst | LOW batch answer wait median / worst |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const f = r.fidelity;
    const critical =
      f.critical.freshShare === null
        ? '—'
        : `${pct(f.critical.freshShare, f.critical.freshShare === 1 ? 0 : 1)} (${int(f.critical.fresh)}/${int(f.critical.events)})`;
    const high = f.high.events === 0 ? '—' : `${int(f.high.freshAtOnce)}/${int(f.high.events)}`;
    const notFresh = r.requests - (r.reasons.called ?? 0);
    lines.push(
      `| ${r.label} | ${critical} | ${high} | ${duration(f.high.longestWaitSeconds)}` +
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

/**
 * `npm run replay`: replays 1h candle series as a fleet of four agents would use Bastion, layer by layer,
 * and prints what each optimisation saves and what it costs in fidelity — on market-moving bars (the fixed
 * yardstick of bench/replay/market.ts) and the gate's own priorities. See bench/README.md.
 *
 *   --csv <path>[@window]  candles (timestamp,open,high,low,close,volume); repeat it for several series on one
 *                     clock; @2023 or @2023-01-01..2023-06-30 picks the window; default
 *                     bench/data/BTCUSDT_1h_last365.csv
 *   --model <name>    a model of config/models.yaml, priced with its real price data; default deepseek-v4-flash
 *   --days <N>        replay the last N days of each series without a window (default 365; the earlier bars
 *                     warm the indicators and the yardstick up)
 *   --json <path>     raw figures; default bench/results/replay.json
 *   --parallel <N>    layers run at the same time (default 8: every row at once); the figures do not depend on it
 *   --cache-ttl-hours <h>      cache_ttl_seconds the bots ask for (default 4)
 *   --batch-timeout-hours <h>  the gate's batch_timeout for the replay (default 10 = batch_size bars)
 *
 * REDIS_URL (default redis://127.0.0.1:6379) is the Redis to use; every layer works under its own key
 * prefix, deleted at the end.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import {
  DEFAULT_EVENT_THRESHOLDS,
  PRIORITIES,
  type EventThresholds,
} from '../src/ai-optimization/events/event.types.js';
import { effectivePriority } from '../src/ai-optimization/events/priority.js';
import { startFakeDeepSeekWorker } from './fake-deepseek.js';
import { AGENTS, systemPromptTokens } from './replay/agents.js';
import { LAYERS } from './replay/layers.js';
import { BAR_MS, loadSeries, parseSeriesSpec } from './replay/market.js';
import {
  agentTable,
  costRows,
  costTable,
  DAYS_PER_MONTH,
  duration,
  fidelityTable,
  movingLines,
  perSymbolTable,
  reasonsTable,
  spendByAgentTable,
  spendTable,
  usd,
} from './replay/report.js';
import { analyticLayer, newRunId, runLayer, type LayerResult, type RunSettings } from './replay/runner.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist-bench/bench
const SOURCE_BENCH = resolve(here, '../../bench');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Days of the baseline and prompt-caching rows also run through the pipeline to check their computation. */
const VERIFY_DAYS = 7;
/** Days replayed per series unless --days or a window says otherwise; the bars before only warm up. */
const DEFAULT_DAYS = 365;

const out = (line = ''): void => console.log(line);
const err = (line: string): void => console.error(line);

function positive(name: string, raw: string | undefined, fallback: number, integer = false): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

/** A one-line progress bar on stderr, redrawn at most five times a second. */
class Progress {
  private readonly done = new Map<string, number>();
  private lastDraw = 0;
  private lastLine = 0;
  private readonly started = performance.now();
  constructor(private readonly jobs: { name: string; short: string; bars: number }[]) {}

  update(job: string, bars: number): void {
    this.done.set(job, bars);
    const now = performance.now();
    if (now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.draw(false);
  }

  finish(): void {
    this.draw(true);
  }

  private draw(final: boolean): void {
    const total = this.jobs.reduce((sum, j) => sum + j.bars, 0);
    const done = this.jobs.reduce((sum, j) => sum + (this.done.get(j.name) ?? 0), 0);
    const share = total > 0 ? done / total : 1;
    const width = 30;
    const filled = Math.round(share * width);
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = share > 0.02 && share < 1 ? ` · ETA ${Math.round(elapsed / share - elapsed)} s` : '';
    const jobs = this.jobs
      .map((j) => `${j.short} ${Math.floor(((this.done.get(j.name) ?? 0) / j.bars) * 100)}%`)
      .join(' ');
    const line =
      `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(share * 100).toFixed(1)}% ` +
      `${jobs} · ${elapsed.toFixed(0)} s${eta}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else if (final || performance.now() - this.lastLine > 10_000) {
      this.lastLine = performance.now();
      process.stderr.write(`${line}\n`);
    }
  }
}

/** What the rows say, in numbers of this run (where a layer saves little or costs, and why). */
function readingNotes(results: LayerResult[], days: number): string[] {
  const by = (id: string): LayerResult | undefined => results.find((r) => r.id === id);
  const month = (usdTotal: number): string => usd((usdTotal / days) * DAYS_PER_MONTH);
  const share = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
  const notes: string[] = [];
  const sampling = by('sampling');
  const filter = by('event_filter');
  const batching = by('batching');
  if (sampling && filter) {
    const above = (r: LayerResult) =>
      Object.entries(r.byPriority)
        .filter(([p]) => p !== 'LOW')
        .reduce((t, [, v]) => ({ calls: t.calls + v.calls, costUsd: t.costUsd + v.costUsd }), {
          calls: 0,
          costUsd: 0,
        });
    const [before, after] = [above(sampling), above(filter)];
    notes.push(
      `Event filtering: bars above LOW made ${before.calls.toLocaleString('en-US')} upstream calls ` +
        `(${month(before.costUsd)}/month) with sampling alone and ${after.calls.toLocaleString('en-US')} ` +
        `(${month(after.costUsd)}/month) through the gate, which answers CRITICAL and HIGH fresh instead of ` +
        `from the cache or the sampler; CRITICAL answered fresh ${share(sampling.fidelity.critical.freshShare)} → ` +
        `${share(filter.fidelity.critical.freshShare)}, HIGH at once ${sampling.fidelity.high.freshAtOnce}/` +
        `${sampling.fidelity.high.events} → ${filter.fidelity.high.freshAtOnce}/${filter.fidelity.high.events}. ` +
        `With hourly bars the gate's min_ai_interval (60 s) never filters a second event.`,
    );
  }
  if (filter && batching) {
    const low = filter.byPriority.LOW ?? { requests: 0, calls: 0, costUsd: 0 };
    const events = batching.reasons.batched ?? 0;
    const count = (n: number | undefined) => (n ?? 0).toLocaleString('en-US');
    notes.push(
      `Batching: in the row above the ${low.requests.toLocaleString('en-US')} requests of quiet (LOW) bars made ` +
        `${low.calls.toLocaleString('en-US')} upstream calls (${month(low.costUsd)}/month), the rest being ` +
        `answered by the response cache and the sampler. As LOW events they pass the response cache and the ` +
        `sampler first (${count(batching.reasons.response_cache)} cache hits: every event carries its own bar's ` +
        `data and time, so no two LOW requests are identical; ${count(batching.reasons.sampled_out)} sampled out ` +
        `in this row); the ${count(events)} left take ${batching.batchesFlushed.toLocaleString('en-US')} batch ` +
        `calls (${(events / Math.max(1, batching.batchesFlushed)).toFixed(1)} events each) for ` +
        `${month(batching.batchCostUsd)}/month, ${share(batching.costUsd > 0 ? batching.batchCostUsd / batching.costUsd : null)} ` +
        `of the last row's bill.`,
    );
    const placeholder = batching.fidelity.stalenessByReason.batched;
    if (placeholder && placeholder.count > 0) {
      notes.push(
        `Staleness of batched events: each gets its agent's last answer for the symbol at once (median age ` +
          `${duration(placeholder.median)}, worst ${duration(placeholder.worst)}) — a batch's answer becomes that ` +
          `last answer when it arrives — and its batch's answer later (median wait ` +
          `${duration(batching.fidelity.batchWait.median)}).`,
      );
    }
  }
  const fresh = (r: LayerResult, priorities: string[], bar: 'moving' | 'other') => {
    let calls = 0;
    let costUsd = 0;
    for (const [key, v] of Object.entries(r.spend)) {
      const [kind, priority, where] = key.split('|');
      if (kind === 'fresh' && where === bar && priorities.includes(priority)) {
        calls += v.calls;
        costUsd += v.costUsd;
      }
    }
    return { calls, costUsd };
  };
  const movingShare = (r: LayerResult) =>
    `${r.moving.requests > 0 ? ((r.moving.fresh / r.moving.requests) * 100).toFixed(1) : '—'}% (${r.moving.fresh}/${r.moving.requests})`;
  const adaptive = by('adaptive');
  if (batching && adaptive) {
    const [before, after] = [batching, adaptive].map((r) =>
      fresh(r, ['CRITICAL', 'HIGH', 'MEDIUM'], 'other'),
    );
    notes.push(
      `Adaptive priority: market-moving bars answered fresh ${movingShare(batching)} → ${movingShare(adaptive)} ` +
        `(the static thresholds leave some market-moving bars MEDIUM, where the sampler may skip them, or LOW, and call fresh on 2% moves of ` +
        `volatile weeks that are routine there); fresh calls on bars that are not market-moving ` +
        `${before.calls.toLocaleString('en-US')} (${month(before.costUsd)}/month) → ` +
        `${after.calls.toLocaleString('en-US')} (${month(after.costUsd)}/month), the events it lowers going to the ` +
        `LOW batches instead (${batching.batchesFlushed.toLocaleString('en-US')} → ` +
        `${adaptive.batchesFlushed.toLocaleString('en-US')} batch calls).`,
    );
  }
  const noMedium = by('no_medium');
  if (adaptive && noMedium) {
    const [before, after] = [adaptive, noMedium].map((r) => fresh(r, ['MEDIUM'], 'other'));
    notes.push(
      `No MEDIUM price band: fresh MEDIUM calls ${before.calls.toLocaleString('en-US')} ` +
        `(${month(before.costUsd)}/month) → ${after.calls.toLocaleString('en-US')} (${month(after.costUsd)}/month); ` +
        `market-moving bars answered fresh ${movingShare(noMedium)}.`,
    );
  }
  const big = by('big_batches');
  if (noMedium && big) {
    const perBatch = (r: LayerResult) =>
      ((r.reasons.batched ?? 0) / Math.max(1, r.batchesFlushed)).toFixed(1);
    notes.push(
      `Larger LOW batches: ${noMedium.batchesFlushed.toLocaleString('en-US')} batch calls (${perBatch(noMedium)} ` +
        `events each, ${month(noMedium.batchCostUsd)}/month) → ${big.batchesFlushed.toLocaleString('en-US')} ` +
        `(${perBatch(big)} each, ${month(big.batchCostUsd)}/month); the wait for a batch's answer median / worst ` +
        `${duration(noMedium.fidelity.batchWait.median)} / ${duration(noMedium.fidelity.batchWait.worst)} → ` +
        `${duration(big.fidelity.batchWait.median)} / ${duration(big.fidelity.batchWait.worst)}.`,
    );
  }
  return notes;
}

async function leftoverKeys(runId: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `bench:replay:${runId}:*`, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  } finally {
    await redis.quit();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      csv: { type: 'string', multiple: true },
      model: { type: 'string' },
      days: { type: 'string' },
      json: { type: 'string' },
      parallel: { type: 'string' },
      full: { type: 'boolean' },
      'cache-ttl-hours': { type: 'string' },
      'batch-timeout-hours': { type: 'string' },
    },
    strict: true,
  });
  const wallStart = performance.now();
  const specs = (values.csv ?? [resolve(SOURCE_BENCH, 'data/BTCUSDT_1h_last365.csv')]).map((arg) => {
    const spec = parseSeriesSpec(arg);
    return { ...spec, path: resolve(spec.path) };
  });
  const jsonPath = resolve(values.json ?? resolve(SOURCE_BENCH, 'results/replay.json'));
  const model = values.model ?? 'deepseek-v4-flash';
  const full = values.full === true;
  const parallel = positive('parallel', values.parallel, 8, true);
  const cacheTtlSeconds = Math.round(positive('cache-ttl-hours', values['cache-ttl-hours'], 4) * 3600);
  const thresholds: EventThresholds = {
    ...DEFAULT_EVENT_THRESHOLDS,
    batch_timeout: Math.round(
      positive('batch-timeout-hours', values['batch-timeout-hours'], DEFAULT_EVENT_THRESHOLDS.batch_size) *
        3600,
    ),
  };

  const days = positive('days', values.days, DEFAULT_DAYS, true);
  const series = await loadSeries(specs, days, thresholds);
  // One clock: the bars of every series in time order, the bars of one time in series order.
  const bars = series.flatMap((s) => s.bars).sort((a, b) => a.closeTime - b.closeTime || a.series - b.series);
  const first = bars[0];
  const last = bars[bars.length - 1];
  const simulatedDays = (last.closeTime - first.closeTime + BAR_MS) / 86_400_000;
  const movingBars = bars.filter((b) => b.marketMoving === true).length;
  const warmup = series.flatMap((s) => s.warmup);

  const priorities = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<string, number>;
  for (const bar of bars)
    priorities[effectivePriority(bar.event.declared, bar.event.data, thresholds).priority]++;

  // The baseline and prompt-caching rows make one upstream call per request by construction; unless --full,
  // they are computed (analyticLayer) and checked against a real run of their first VERIFY_DAYS days.
  const verifyBars = bars.filter((b) => b.closeTime < first.closeTime + VERIFY_DAYS * 86_400_000);
  type Job = {
    name: string;
    short: string;
    bars: number;
    run: (settings: RunSettings) => Promise<LayerResult>;
  };
  const jobs: Job[] = [];
  // The rows that send every bar through the gate take longest: they start first, so the lanes end together.
  const slowFirst = LAYERS.map((spec, i) => ({ spec, i })).sort(
    (a, b) => Number(b.spec.events === 'all') - Number(a.spec.events === 'all') || a.i - b.i,
  );
  slowFirst.forEach(({ spec, i }) => {
    if (!full && spec.id !== 'baseline' && spec.id !== 'prompt_cache') {
      jobs.push({ name: spec.id, short: `L${i}`, bars: bars.length, run: (s) => runLayer(spec, s) });
    }
  });
  LAYERS.forEach((spec, i) => {
    if (full) jobs.push({ name: spec.id, short: `L${i}`, bars: bars.length, run: (s) => runLayer(spec, s) });
    else if (spec.id === 'baseline' || spec.id === 'prompt_cache') {
      const name = `${spec.id}-verify`;
      jobs.push({
        name,
        short: `L${i}✓`,
        bars: verifyBars.length,
        run: (s) => runLayer(spec, { ...s, bars: verifyBars }, name),
      });
      jobs.push({
        name: `${name}-analytic`,
        short: `L${i}≈`,
        bars: verifyBars.length,
        run: (s) =>
          analyticLayer(spec, { ...s, bars: verifyBars, onBar: (_, n) => s.onBar(`${name}-analytic`, n) }),
      });
      jobs.push({ name: spec.id, short: `L${i}`, bars: bars.length, run: (s) => analyticLayer(spec, s) });
    }
  });

  err(
    `replay: ${series.map((s) => `${s.symbol} ${s.bars.length}`).join(' + ')} bars × ${AGENTS.length} agents × ` +
      `${LAYERS.length} layers, model ${model}, ` +
      `${full ? 'every layer through the pipeline' : `baseline and prompt caching computed (verified on ${verifyBars.length} bars)`}, ` +
      `${parallel} job(s) at a time, Redis ${REDIS_URL}`,
  );
  const fake = await startFakeDeepSeekWorker({});
  const runId = newRunId();
  const progress = new Progress(jobs);
  const outcomes = new Map<string, LayerResult>();
  try {
    let next = 0;
    let failed = false;
    const lane = async (): Promise<void> => {
      while (next < jobs.length && !failed) {
        const job = jobs[next++];
        outcomes.set(
          job.name,
          await job.run({
            bars,
            warmup,
            fake,
            redisUrl: REDIS_URL,
            model,
            cacheTtlSeconds,
            thresholds,
            runId,
            onBar: (name, done) => progress.update(name, done),
          }),
        );
      }
    };
    // A failed row stops the others from starting; the running ones finish (and delete their keys) with the
    // fake upstream still up, then the first error is reported.
    const lanes = await Promise.allSettled(
      Array.from({ length: parallel }, () =>
        lane().catch((error: unknown) => {
          failed = true;
          throw error;
        }),
      ),
    );
    const failure = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failure) throw failure.reason;
    progress.finish();
  } finally {
    await fake.close();
  }
  const results = LAYERS.map((spec) => outcomes.get(spec.id) as LayerResult);
  const verification = full
    ? null
    : ['baseline', 'prompt_cache'].map((id) => {
        const real = outcomes.get(`${id}-verify`) as LayerResult;
        const computed = outcomes.get(`${id}-verify-analytic`) as LayerResult;
        const fields = [
          'upstreamCalls',
          'costPico',
          'promptTokens',
          'cachedPromptTokens',
          'completionTokens',
        ] as const;
        return {
          layer: id,
          bars: verifyBars.length,
          pipeline: Object.fromEntries(fields.map((f) => [f, real[f]])),
          analytic: Object.fromEntries(fields.map((f) => [f, computed[f]])),
          equal: fields.every((f) => real[f] === computed[f]) && real.errors === 0,
          pipelineWallSeconds: real.wallSeconds,
        };
      });
  const leftovers = await leftoverKeys(runId);
  const wallSeconds = (performance.now() - wallStart) / 1000;

  const rows = costRows(results, simulatedDays);
  const baseline = rows[0];
  const final = rows[rows.length - 1];
  const checks = results
    .filter((r) => r.method === 'pipeline')
    .map((r) => ({
      layer: r.id,
      ledgerCalls: r.upstreamCalls,
      fakeCalls: r.fake.calls,
      ledgerCachedTokens: r.cachedPromptTokens,
      fakeCachedTokens: r.fake.cachedTokens,
      errors: r.errors,
      ok: r.upstreamCalls === r.fake.calls && r.cachedPromptTokens === r.fake.cachedTokens && r.errors === 0,
    }));
  const verified = verification === null || verification.every((v) => v.equal);
  const fmt = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
  const last5 = results[results.length - 1];

  const seriesText = series
    .map(
      (s) =>
        `${s.symbol} = ${basename(s.spec.path)}${s.spec.window ? `@${s.spec.window.label}` : ''}` +
        `${s.shiftMs !== 0 ? ` (moved ${Math.round(s.shiftMs / 86_400_000)} days onto the clock)` : ''}`,
    )
    .join(', ');
  out(
    `## Savings replay: ${seriesText}; ${bars.length.toLocaleString('en-US')} hourly bars ` +
      `(${fmt(first.openTime)} → ${fmt(last.closeTime)} UTC${series.length > 1 ? " on the first series' clock" : ''})`,
  );
  out();
  out(
    `Model \`${model}\`, every call priced at its simulated bar time with @pydantic/genai-prices (peak and ` +
      `off-peak rates, cache-hit rate). ${AGENTS.length} agents ask once per bar (${AGENTS.join(', ')}): ` +
      `${(bars.length * AGENTS.length).toLocaleString('en-US')} requests per layer over ${simulatedDays.toFixed(1)} ` +
      `days; cost per month = cost per day × ${DAYS_PER_MONTH.toFixed(2)}.`,
  );
  out();
  out(costTable(rows));
  if (rows.some((r) => r.method === 'analytic')) {
    out();
    out('† computed, not sent: one upstream call per request by construction (see "How this run was made").');
  }
  out();
  out(
    `**Result: ${usd(baseline.costPerMonth)} → ${usd(final.costPerMonth)} a month, a cumulative reduction of ` +
      `${(final.cumulativeReduction * 100).toFixed(1)}% (${final.cumulativeReduction >= 0.95 ? 'meets' : 'misses'} ` +
      `the ≥ 95% target); market-moving bars answered fresh: ${
        last5.moving.requests === 0
          ? '—'
          : `${last5.moving.fresh === last5.moving.requests ? '100' : ((last5.moving.fresh / last5.moving.requests) * 100).toFixed(1)}%`
      } (${last5.moving.fresh}/${last5.moving.requests}).**`,
  );
  out();
  out(
    `Market-moving bars (the fixed yardstick, independent of the gate): ${movingBars.toLocaleString('en-US')} of ` +
      `${bars.length.toLocaleString('en-US')} bars (${series.map((s) => `${s.symbol} ${s.bars.filter((b) => b.marketMoving === true).length}`).join(', ')}) ` +
      `whose |close-to-close return| or true range is in the top 1% of the symbol's 720 bars before them; every ` +
      `agent should get a fresh answer on each.`,
  );
  out();
  out(movingLines(results));
  out();
  for (const note of readingNotes(results, simulatedDays)) out(`- ${note}`);
  out();
  out('### Fidelity');
  out();
  out(fidelityTable(results));
  out();
  out(
    '"Fresh" = answered by an upstream call made for that request. Longest HIGH wait = time from a HIGH bar to ' +
      'the next fresh answer of the same agent. Staleness = `metadata.response_age_seconds` of the answers served ' +
      'without a call of their own (response cache, sampled out, filtered, placeholder of a batched event). LOW ' +
      "batch wait = time until the event's batch was answered.",
  );
  out();
  if (series.length > 1) {
    out('### Per symbol');
    out();
    out(perSymbolTable(results, simulatedDays));
    out();
    out(
      'Cost per symbol: its fresh calls, and the batch calls split between the symbols of each batch by their ' +
        'number of events (LOW batches mix the symbols of one agent).',
    );
    out();
  }
  out('### Where the spend goes');
  out();
  out(spendTable(results, simulatedDays));
  out();
  out(
    'Fresh = a call made for one request, by the priority the gate gave it (outside the gate: the static ' +
      'priority of the bar); "market-moving bars" are the calls the yardstick needs, the other columns are what ' +
      'a mechanism could still cut without losing fidelity.',
  );
  out();
  out(`Per agent, last row (${last5.label}):`);
  out();
  out(spendByAgentTable(last5, simulatedDays));
  out();
  out('### Decisions per layer');
  out();
  out(reasonsTable(results));
  out();
  out('Upstream calls and their cost over the whole run, per agent:');
  out();
  out(agentTable(results));
  out();
  out('### How this run was made');
  out();
  for (const spec of LAYERS) out(`- **${spec.label}**: ${spec.adds}.`);
  out(
    `- Events: ${PRIORITIES.map((p) => `${p} ${priorities[p].toLocaleString('en-US')}`).join(', ')} bars ` +
      `(priority from the gate's thresholds: |change| vs the previous close, volume vs the 24-bar average, ` +
      `volatility = the bar's true range in % of the previous close; see bench/replay/market.ts).`,
  );
  out(
    `- Series: ${series
      .map(
        (s) =>
          `${s.symbol} ${s.bars.length.toLocaleString('en-US')} bars after ${s.warmupBars.toLocaleString('en-US')} ` +
          `warm-up bars, ${s.bars.filter((b) => b.marketMoving === true).length} market-moving` +
          `${s.unjudged > 0 ? `, ${s.unjudged} not judged (less than a week of history)` : ''}`,
      )
      .join(
        '; ',
      )}. Market-moving = |close-to-close return| or true range in the top 1% of the symbol's 720 ` +
      `bars before it (at most 7 of them at least as large); see bench/replay/market.ts.`,
  );
  out(
    `- Gate thresholds: defaults (price_change_pct ${thresholds.price_change_pct}, volume_spike_multiplier ` +
      `${thresholds.volume_spike_multiplier}, volatility_threshold ${thresholds.volatility_threshold}, ` +
      `min_ai_interval ${thresholds.min_ai_interval} s, batch_size ${thresholds.batch_size}) except ` +
      `batch_timeout = ${duration(thresholds.batch_timeout)}: the default 300 s is shorter than a bar, so every ` +
      `batch would leave with one event. At hourly bars min_ai_interval (60 s) never filters anything. Bots ask ` +
      `with cache_ttl_seconds = ${duration(cacheTtlSeconds)} (the models.yaml TTLs of 60–3,600 s never reach the ` +
      `next hourly bar).`,
  );
  out(
    `- The real pipeline: createApp on a ManualClock moved bar by bar, Redis ${REDIS_URL} under a key prefix ` +
      `per layer (all deleted: ${leftovers} left), requests handed to AiGateway.call / EventGate.handle in ` +
      `process, every upstream call over HTTP through Bastion's provider client to the fake DeepSeek of ` +
      `bench/fake-deepseek.ts (one prefix cache per layer: a first message seen before has its tokens, rounded ` +
      `down to 64, billed as cache hits; answers of 160 tokens, batch answers 40 + 20 per numbered line, one ` +
      `per distinct request). System prompts: ` +
      `${AGENTS.map((a) => `${a} ${systemPromptTokens(a)}`).join(', ')} tokens.`,
  );
  if (verification === null) {
    out('- Every row ran through the pipeline (--full).');
  } else {
    out(
      `- **Computed rows:** the baseline and prompt-caching rows make exactly one upstream call per request (cache ` +
        `off, sampling ALWAYS, no gate, no budget limit: AiGateway.call has no other branch), so they are computed ` +
        `— messages from AiGateway.buildMessages, usage from the fake's own function, Bastion's PriceBook at each ` +
        `bar's time — instead of sent. Check: both rows also ran through the pipeline for the first ` +
        `${verifyBars.length} bars, and calls, tokens and cost to the picodollar ${
          verified ? 'are equal' : `DIFFER: ${JSON.stringify(verification)}`
        }. \`--full\` sends them too (about twice the run time).`,
    );
  }
  out(
    `- Cross-check, ledger vs fake upstream (calls and cached tokens) for the rows run through the pipeline: ${
      checks.every((c) => c.ok) ? 'equal' : `MISMATCH ${JSON.stringify(checks.filter((c) => !c.ok))}`
    }. Wall time ${wallSeconds.toFixed(0)} s on ${cpus().length} CPUs, Node ${process.version} (${[
      ...outcomes.entries(),
    ]
      .map(([name, r]) => `${name} ${r.wallSeconds.toFixed(0)} s`)
      .join(', ')}; ${parallel} at a time).`,
  );
  const warnings = results.flatMap((r) => r.warnings.map((w) => `${r.id}: ${w}`));
  if (warnings.length > 0) {
    out(`- Warnings logged by Bastion during the run (${warnings.length}):`);
    for (const w of warnings.slice(0, 10)) out(`  - ${w}`);
  }

  const report = {
    generatedAt: new Date().toISOString(),
    input: {
      series: series.map((s) => ({
        csv: s.spec.path,
        window: s.spec.window?.label ?? `last ${days} days`,
        symbol: s.symbol,
        bars: s.bars.length,
        warmupBars: s.warmupBars,
        shiftDays: s.shiftMs / 86_400_000,
        marketMovingBars: s.bars.filter((b) => b.marketMoving === true).length,
        unjudgedBars: s.unjudged,
        droppedRows: s.file.droppedRows,
        formingBarLeftOut: s.file.formingBar,
      })),
      bars: bars.length,
      marketMovingBars: movingBars,
      from: new Date(first.openTime).toISOString(),
      to: new Date(last.closeTime).toISOString(),
      simulatedDays,
    },
    settings: {
      model,
      agents: AGENTS,
      thresholds,
      cacheTtlSeconds,
      full,
      parallel,
      redisUrl: REDIS_URL,
      eventsByPriority: priorities,
    },
    machine: { node: process.version, cpuCount: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' },
    wallSeconds,
    rows,
    layers: results,
    verification,
    checks,
    leftoverRedisKeys: leftovers,
  };
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  err(`raw figures written to ${jsonPath}; wall time ${wallSeconds.toFixed(1)} s`);
  if (!checks.every((c) => c.ok) || !verified) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`REPLAY FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});

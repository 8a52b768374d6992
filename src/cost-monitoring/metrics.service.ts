import { Inject, Injectable, Optional } from '@nestjs/common';
import { DEFAULT_TENANT } from '../common/tenant.js';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LedgerEntry } from './ledger-entry.js';

/** How many tenants get a label value of their own (METRICS_MAX_TENANTS). */
export const METRICS_MAX_TENANTS = Symbol('METRICS_MAX_TENANTS');

/** Label values must stay bounded: past this many distinct agents or models, new ones count as "other". */
const MAX_LABEL_VALUES = 50;

class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(private readonly max = MAX_LABEL_VALUES) {}
  value(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(v);
    return v;
  }
}

/**
 * Prometheus metrics at /metrics. One registry per application instance (not prom-client's global one),
 * fed from the same ledger entries as /ai-cost/stats, so the two agree. No symbol or prompt is a label.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly agents = new BoundedLabel();
  private readonly models = new BoundedLabel();
  /** A tenant label for the first METRICS_MAX_TENANTS tenants, "other" past them (0: no tenant label values). */
  private readonly tenants: BoundedLabel;
  private readonly requests = new Counter({
    name: 'bastion_requests_total',
    help: 'Requests to the AI gateway by tenant, agent and decision reason',
    labelNames: ['tenant', 'agent', 'reason'],
    registers: [this.registry],
  });
  private readonly upstreamCalls = new Counter({
    name: 'bastion_upstream_calls_total',
    help: 'Upstream LLM calls by agent, model and provider',
    labelNames: ['agent', 'model', 'provider'],
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: 'bastion_tokens_total',
    help: 'Tokens of upstream calls by kind (prompt, cached_prompt, completion)',
    labelNames: ['agent', 'model', 'kind'],
    registers: [this.registry],
  });
  private readonly cost = new Counter({
    name: 'bastion_cost_usd_total',
    help: 'Spend on upstream calls in USD by tenant, agent and model (priced calls only)',
    labelNames: ['tenant', 'agent', 'model'],
    registers: [this.registry],
  });
  private readonly unpriced = new Counter({
    name: 'bastion_unpriced_calls_total',
    help: 'Upstream calls whose price is unknown (never counted as $0)',
    labelNames: ['model'],
    registers: [this.registry],
  });
  private readonly savings = new Counter({
    name: 'bastion_savings_usd_total',
    help: 'Estimated savings in USD by layer',
    labelNames: ['layer'],
    registers: [this.registry],
  });
  private readonly cacheLookups = new Counter({
    name: 'bastion_response_cache_lookups_total',
    help: 'Response cache lookups by result (hit, miss)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'bastion_batch_size_events',
    help: 'Events answered per flushed batch',
    buckets: [1, 2, 5, 10, 20, 50, 100],
    registers: [this.registry],
  });
  private readonly upstreamLatency = new Histogram({
    name: 'bastion_upstream_latency_seconds',
    help: 'Latency of upstream LLM calls',
    labelNames: ['provider'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly overhead = new Histogram({
    name: 'bastion_overhead_seconds',
    help: "Bastion's own time per gateway request (total minus upstream time)",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });

  constructor(@Optional() @Inject(METRICS_MAX_TENANTS) maxTenants = 20) {
    this.tenants = new BoundedLabel(maxTenants);
    collectDefaultMetrics({ register: this.registry, prefix: 'bastion_process_' });
  }

  observe(entry: LedgerEntry): void {
    const agent = this.agents.value(entry.agent);
    const tenant = this.tenants.value(entry.tenant ?? DEFAULT_TENANT);
    this.requests.inc({ tenant, agent, reason: entry.reason });
    if (entry.cacheHit === true) this.cacheLookups.inc({ result: 'hit' });
    if (entry.cacheHit === false) this.cacheLookups.inc({ result: 'miss' });
    if (entry.savedLayer && entry.savedUsd && entry.savedUsd > 0)
      this.savings.inc({ layer: entry.savedLayer }, entry.savedUsd);
    const call = entry.call;
    if (!call) return;
    const model = this.models.value(call.model);
    this.upstreamCalls.inc({ agent, model, provider: call.provider });
    this.tokens.inc({ agent, model, kind: 'prompt' }, call.promptTokens ?? 0);
    this.tokens.inc({ agent, model, kind: 'cached_prompt' }, call.cachedPromptTokens ?? 0);
    this.tokens.inc({ agent, model, kind: 'completion' }, call.completionTokens ?? 0);
    if (call.costUsd === null) this.unpriced.inc({ model });
    else this.cost.inc({ tenant, agent, model }, call.costUsd);
    if (call.costUsd !== null && call.uncachedCostUsd !== null && call.uncachedCostUsd > call.costUsd) {
      this.savings.inc({ layer: 'prompt_cache' }, call.uncachedCostUsd - call.costUsd);
    }
    this.upstreamLatency.observe({ provider: call.provider }, call.latencyMs / 1000);
  }

  saving(layer: string, usd: number): void {
    if (usd > 0) this.savings.inc({ layer }, usd);
  }
}

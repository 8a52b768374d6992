import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock.js';
import { Scrubber } from '../../common/secrets.js';
import { canonicalJson } from '../response-cache.js';
import { CostLedger } from '../../cost-monitoring/cost-ledger.js';
import { EventStatsService } from '../../cost-monitoring/event-stats.service.js';
import { MetricsService } from '../../cost-monitoring/metrics.service.js';
import { AiGateway } from '../gateway.service.js';
import { RecordStage } from '../pipeline/record.stage.js';
import { BatchQueue, type QueuedEvent } from './batch-queue.service.js';
import { EventThresholdsService } from './event-thresholds.service.js';

const LEASE_MS = 60_000;
const RETRY_AFTER_FAILURE_MS = 30_000;

export const BATCH_SYSTEM_PROMPT =
  'You analyse batches of low-priority market events for a trading bot. For each numbered event give one ' +
  'short line with its number and what, if anything, it changes for the bot; then one line with the overall read.';

/**
 * The compact listing of a batch's events sent as one prompt. When every event asks the same question (one
 * agent's batch, the usual case) it is stated once after the listing instead of on every line: about half of
 * a line's tokens.
 */
export function batchPrompt(events: QueuedEvent[]): string {
  const question = (e: QueuedEvent): string => e.prompt.slice(0, 300);
  const shared = events.length > 1 && events.every((e) => question(e) === question(events[0]));
  const lines = events.map(
    (e, i) =>
      `${i + 1}. ${e.timestamp} ${e.symbol} ${e.event_type} ${canonicalJson(e.data)}` +
      (shared ? '' : ` | ${question(e)}`),
  );
  const listing = `Events (${events.length}):\n${lines.join('\n')}`;
  return shared ? `${listing}\nQuestion for every event: ${question(events[0])}` : listing;
}

/**
 * Flushes due batches: one upstream call per batch, answer stored with the batch and its events.
 * Runs every second on every instance; the per-batch lease makes sure one instance flushes each batch,
 * and a batch whose holder died is taken again when its lease expires. On shutdown nothing is lost:
 * unflushed events stay queued in Redis for the next instance.
 */
@Injectable()
export class BatchFlusher implements BeforeApplicationShutdown {
  private readonly logger = new Logger(BatchFlusher.name);
  private readonly holder = randomUUID();
  private running: Promise<number> | null = null;
  private stopped = false;

  constructor(
    private readonly queue: BatchQueue,
    private readonly thresholds: EventThresholdsService,
    private readonly gateway: AiGateway,
    private readonly recorder: RecordStage,
    private readonly ledger: CostLedger,
    private readonly stats: EventStatsService,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly scrubber: Scrubber,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.running; // let an in-flight flush finish; queued events stay in Redis
  }

  /** The drain: every second on every instance (each batch's lease decides who flushes it). */
  @Interval('batch-drain', 1000)
  async tick(): Promise<void> {
    try {
      await this.flushDue();
    } catch (err) {
      this.logger.warn(`Batch flush tick failed: ${(err as Error).message}`);
    }
  }

  /** Flushes every due batch once; returns how many were answered. Callable from tests. */
  flushDue(): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    this.running ??= this.flushAll().finally(() => (this.running = null));
    return this.running;
  }

  private async flushAll(): Promise<number> {
    const t = this.thresholds.current();
    const ids = await this.queue.due(this.clock.now(), t.batch_timeout * 1000);
    let answered = 0;
    for (const id of ids) if (await this.flushOne(id)) answered++;
    return answered;
  }

  async flushOne(id: string): Promise<boolean> {
    const now = this.clock.now();
    const claimed = await this.queue.claim(id, now, LEASE_MS, this.holder);
    if (!claimed) return false;
    const { agent, tenant, events } = claimed;
    this.logger.log(`Flushing batch ${id} of ${agent}: ${events.length} event(s)`);
    // The batch's answer becomes the last answer of each symbol it covers, so the next event of that symbol
    // is answered with it rather than with something older.
    const symbols = [...new Set(events.map((e) => e.symbol))];
    try {
      const result = await this.gateway.call({
        tenant,
        key: null, // a batch answers events of several keys of its tenant: no one key's limits apply
        agentType: agent,
        symbol: symbols.length === 1 ? symbols[0] : undefined,
        model: events[0]?.model,
        prompt: batchPrompt(events),
        systemPrompt: events[0]?.system_prompt ?? BATCH_SYSTEM_PROMPT,
        responseType: 'batch_analysis',
        maxTokens: Math.min(4096, Math.max(...events.map((e) => e.max_tokens))),
        temperature: 0,
        json: false,
        cache: false,
        sampling: false,
      });
      if (result.response === null || !result.metadata.ai_called) {
        throw new Error(result.metadata.message ?? `no answer (${result.metadata.reason})`);
      }
      const stored = await this.queue.complete(
        id,
        this.holder,
        {
          response: result.response,
          model: result.metadata.model,
          cost_usd: result.metadata.cost_usd,
          request_id: result.metadata.request_id,
        },
        this.clock.now(),
      );
      if (!stored) {
        this.logger.warn(`Batch ${id}: lease lost before the answer was stored; another instance answers it`);
        return false;
      }
      if (symbols.length > 1 && result.metadata.model !== null) {
        const answer = { response: result.response, model: result.metadata.model, at: now };
        await Promise.all(symbols.map((symbol) => this.recorder.remember({ tenant, agent }, symbol, answer)));
      }
      await this.stats.recordBatchFlushed(events.length);
      this.metrics.batchSize.observe(events.length);
      const avoided = await this.ledger.averageCallCost(agent);
      if (avoided !== null && events.length > 1)
        this.ledger.recordSaving(now, agent, 'batching', avoided * (events.length - 1), tenant);
      return true;
    } catch (err) {
      const message = this.scrubber.scrub((err as Error).message);
      this.logger.warn(
        `Batch ${id} not answered (${message}); retried in ${RETRY_AFTER_FAILURE_MS / 1000} s`,
      );
      // The due index compares against now − batch_timeout, so shift the score to become due at the retry time.
      const { batch_timeout } = this.thresholds.current();
      const dueScore = this.clock.now() + RETRY_AFTER_FAILURE_MS - batch_timeout * 1000;
      await this.queue.release(id, this.holder, dueScore, message).catch(() => undefined);
      return false;
    }
  }
}

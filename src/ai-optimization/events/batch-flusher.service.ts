import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock.js';
import { Scrubber } from '../../common/secrets.js';
import { canonicalJson } from '../response-cache.js';
import { CostLedger } from '../../cost-monitoring/cost-ledger.js';
import { EventStatsService } from '../../cost-monitoring/event-stats.service.js';
import { MetricsService } from '../../cost-monitoring/metrics.service.js';
import { AiGateway, buildMessages } from '../gateway.service.js';
import type { GatewayRequest } from '../gateway.types.js';
import { likelyTokens, ScreenStage } from '../pipeline/screen.stage.js';
import { RecordStage } from '../pipeline/record.stage.js';
import { BatchQueue, type QueuedEvent } from './batch-queue.service.js';
import { EventThresholdsService } from './event-thresholds.service.js';

const LEASE_MS = 60_000;
const RETRY_AFTER_FAILURE_MS = 30_000;

export const BATCH_SYSTEM_PROMPT =
  'You analyse batches of low-priority market events for a trading bot. For each numbered event give one ' +
  'short line with its number and what, if anything, it changes for the bot; then one line with the overall read.';

/** Events of one batch that ask the identical request: same symbol, event type, question and inputs. */
interface BatchItem {
  events: QueuedEvent[];
  question: string;
  inputs: string | null;
}

const questionOf = (e: QueuedEvent): string => e.prompt.slice(0, 300);
const inputsOf = (e: QueuedEvent): string | null =>
  e.context && Object.keys(e.context).length > 0 ? canonicalJson(e.context) : null;

function batchItems(events: QueuedEvent[]): BatchItem[] {
  const items = new Map<string, BatchItem>();
  for (const e of events) {
    const question = questionOf(e);
    const inputs = inputsOf(e);
    // Without inputs of its own, an event's figures are all the request says: it stays on its own line.
    const key = inputs === null ? e.request_id : JSON.stringify([e.symbol, e.event_type, question, inputs]);
    const item = items.get(key);
    if (item) item.events.push(e);
    else items.set(key, { events: [e], question, inputs });
  }
  return [...items.values()];
}

/** Room kept on a cut line for the note that says so. */
const CUT_NOTE_CHARS = 100;

const cutTo = (inputs: string, keep: number): string =>
  keep >= inputs.length
    ? inputs
    : `${inputs.slice(0, keep)}… (cut to ${keep} of ${inputs.length} characters: the batch is too large for the model)`;

/**
 * How many characters of each inputs text fit in `room`: the shortest keep all of theirs, the rest share what
 * is left equally (so one huge context does not crowd out everyone else's).
 */
function shares(lengths: number[], room: number): number[] {
  const out = lengths.map(() => 0);
  let left = Math.max(0, room);
  const order = lengths.map((_, i) => i).sort((x, y) => lengths[x] - lengths[y]);
  order.forEach((i, k) => {
    const keep = Math.min(lengths[i], Math.floor(left / (order.length - k)));
    out[i] = keep;
    left -= keep;
  });
  return out;
}

/**
 * The compact listing of a batch's events sent as one prompt. Events of one symbol that ask the identical
 * request (same event type, question and `context` inputs — quiet hours of an agent whose inputs did not
 * change; events without inputs never merge) are one numbered line, answered once: the line gives how many,
 * the first and last time and the latest figures. A question or inputs every line shares (one agent's batch,
 * the usual case) is stated once after the listing instead of on every line.
 *
 * `maxChars` bounds the prompt for the model's context window: when the whole listing is longer, the inputs
 * (never the events' own figures or questions) are cut to fit, each cut line saying how much it kept.
 */
export function batchPrompt(events: QueuedEvent[], maxChars = Infinity): string {
  const items = batchItems(events);
  const sharedBy = (value: (item: BatchItem) => string | null): boolean =>
    events.length > 1 && items.every((item) => value(item) === value(items[0]));
  const sharedQuestion = sharedBy((item) => item.question);
  const sharedInputs = items[0]?.inputs != null && sharedBy((item) => item.inputs);
  const header =
    items.length === events.length
      ? `Events (${events.length}):`
      : `Events (${events.length}) in ${items.length} distinct requests:`;
  // The items whose inputs the prompt carries: the one stated for every event, or each line that has them.
  const carriers = sharedInputs ? [items[0]] : items.filter((item) => item.inputs !== null);
  const render = (inputsOf: (item: BatchItem) => string): string => {
    const lines = items.map((item, i) => {
      const { events: group, question, inputs } = item;
      const first = group[0];
      const last = group[group.length - 1];
      const what =
        group.length === 1
          ? `${first.timestamp} ${first.symbol} ${first.event_type} ${canonicalJson(first.data)}`
          : `${first.symbol} ${first.event_type} ×${group.length} from ${first.timestamp} to ${last.timestamp}, ` +
            `latest ${canonicalJson(last.data)}`;
      return (
        `${i + 1}. ${what}` +
        (sharedQuestion ? '' : ` | ${question}`) +
        (inputs === null || sharedInputs ? '' : ` | inputs ${inputsOf(item)}`)
      );
    });
    return [
      header,
      ...lines,
      ...(sharedQuestion ? [`Question for every event: ${items[0].question}`] : []),
      ...(sharedInputs ? [`Inputs for every event: ${inputsOf(items[0])}`] : []),
    ].join('\n');
  };
  const whole = render((item) => item.inputs as string);
  if (whole.length <= maxChars) return whole;
  const lengths = carriers.map((item) => (item.inputs as string).length);
  const keep = shares(lengths, maxChars - render(() => '').length - CUT_NOTE_CHARS * carriers.length);
  const cut = new Map(carriers.map((item, i) => [item, cutTo(item.inputs as string, keep[i])]));
  return render((item) => cut.get(item) as string);
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
    private readonly screen: ScreenStage,
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
      const request: GatewayRequest = {
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
      };
      const result = await this.gateway.call(this.fitted(request, events));
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

  /**
   * The batch request with its events' inputs cut where the whole would not fit the model's context window —
   * a batch the gateway refused as too long would be retried, and refused, forever. Measured as the screen
   * stage's context guard measures it; a batch whose events' own figures alone are too long is still refused.
   */
  private fitted(request: GatewayRequest, events: QueuedEvent[]): GatewayRequest {
    const window = this.screen.chainFor(request.agentType, request.model)[0]?.entry.contextWindow;
    if (window === undefined) return request;
    const allowed = window - request.maxTokens;
    let fitted = request;
    for (let attempt = 0; attempt < 4; attempt++) {
      const tokens = likelyTokens({ messages: buildMessages(fitted) });
      if (tokens <= allowed) break;
      fitted = {
        ...request,
        prompt: batchPrompt(events, Math.floor(fitted.prompt.length * (allowed / tokens) * 0.9)),
      };
    }
    return fitted;
  }
}

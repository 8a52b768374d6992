import { Logger } from '@nestjs/common';
import {
  chainOf,
  completion,
  FakeConversations,
  FakeLedger,
  meteredCall,
  MODELS,
  NOON,
} from '../../../test/support/pipeline-fakes.js';
import type { UpstreamCallRecord } from '../../cost-monitoring/ledger-entry.js';
import type { CachedAnswer } from '../response-cache.js';
import type { MeteredCall, Outcome, Trace } from './metered-call.js';
import { RecordStage } from './record.stage.js';
import type { Screened } from './screen.stage.js';
import type { PricedCall } from './settle.stage.js';
import { StreamHub } from './stream-hub.js';

// The registry logs its providers on construction: not wanted in test output.
Logger.overrideLogger(false);

const WEEK = 7 * 24 * 3600;
const conversation = { tenant: 'default', agent: 'market_regime', symbol: 'BTC/USDT' };
const screened: Screened = {
  chain: chainOf('deepseek-v4-flash'),
  conversation,
  cacheKey: 'cache:default:market_regime:BTC/USDT:market_analysis:abc',
  promptTokens: 100,
  likelyPromptTokens: 80,
};
const trace: Trace = { requestId: 'req-9', started: 0, now: NOON, conversation };
const answer: CachedAnswer = {
  response: 'BTC is trending up.',
  model: 'deepseek-v4-flash',
  provider: 'deepseek',
  prompt_tokens: 1000,
  cached_prompt_tokens: 600,
  completion_tokens: 200,
  cost_usd: 0.0002128,
  created_at: NOON - 60_000,
};
const callRecord: UpstreamCallRecord = {
  model: 'deepseek-v4-flash',
  provider: 'deepseek',
  promptTokens: 1000,
  cachedPromptTokens: 600,
  completionTokens: 200,
  costUsd: 0.0002128,
  uncachedCostUsd: 0.000364,
  latencyMs: 420,
};

function record() {
  const conversations = new FakeConversations();
  const ledger = new FakeLedger();
  return {
    stage: new RecordStage(conversations.asRepository(), ledger.asLedger(), MODELS),
    conversations,
    ledger,
  };
}

const cacheOf = (over: Partial<MeteredCall['cache']>): MeteredCall['cache'] => ({
  ...meteredCall().cache,
  ...over,
});

describe('RecordStage', () => {
  describe('the TTL of a cache entry', () => {
    const { stage } = record();
    it('is the TTL of the response type, or the default TTL for a type models.yaml does not name', () => {
      expect(stage.ttlFor('market_analysis')).toBe(300);
      expect(stage.ttlFor('signal_validation')).toBe(60);
      expect(stage.ttlFor('openai_compat')).toBe(120);
    });
    it('is the one the request asked for, when it asked', () => {
      expect(stage.ttlFor('signal_validation', 5)).toBe(5);
    });
  });

  describe('the stored answer', () => {
    const priced: PricedCall = {
      costUsd: 0.0002128,
      uncachedCostUsd: 0.000364,
      usage: { promptTokens: 1000, cachedPromptTokens: 600, completionTokens: 200 },
    };
    const upstream = completion('BTC is trending up.', { prompt_tokens: 1000, completion_tokens: 200 });

    it('names the model that answered (a fallback, when one did), its tokens and cost', () => {
      const fallback = chainOf('deepseek-v4-flash')[1];
      expect(record().stage.answerOf(fallback, upstream, priced, NOON, false)).toEqual({
        response: 'BTC is trending up.',
        model: 'gpt-4o-mini',
        provider: 'openai',
        prompt_tokens: 1000,
        cached_prompt_tokens: 600,
        completion_tokens: 200,
        cost_usd: 0.0002128,
        created_at: NOON,
      });
    });

    it('keeps the whole completion only for the door that replays it', () => {
      const { stage } = record();
      expect(stage.answerOf(screened.chain[0], upstream, priced, NOON, true).completion).toEqual(upstream);
      expect(stage.answerOf(screened.chain[0], upstream, priced, NOON, false)).not.toHaveProperty(
        'completion',
      );
    });

    it('keeps unknown counts and cost unknown (null)', () => {
      const unknown: PricedCall = { costUsd: null, uncachedCostUsd: null, usage: null };
      const stored = record().stage.answerOf(screened.chain[0], upstream, unknown, NOON, false);
      expect(stored).toMatchObject({ prompt_tokens: null, completion_tokens: null, cost_usd: null });
    });
  });

  describe('the cache entry and the last answer', () => {
    it('writes the cache entry with the TTL of the response type when the call may be cached', () => {
      const { stage, conversations } = record();
      stage.store(meteredCall({ responseType: 'signal_validation' }), screened, answer);
      expect(conversations.writes).toHaveLength(1);
      const write = conversations.writes[0];
      expect(write.cache).toEqual({ key: screened.cacheKey, value: JSON.stringify(answer), ttlSeconds: 60 });
      expect(write.conversation).toEqual(conversation);
    });

    it('writes it with the TTL the request asked for', () => {
      const { stage, conversations } = record();
      stage.store(meteredCall({ cache: cacheOf({ ttlSeconds: 15 }) }), screened, answer);
      expect(conversations.writes[0].cache?.ttlSeconds).toBe(15);
    });

    it('writes no cache entry for a call that may not be cached (no-store, cache: false)', () => {
      const { stage, conversations } = record();
      stage.store(meteredCall({ cache: cacheOf({ write: false }) }), screened, answer);
      expect(conversations.writes[0].cache).toBeNull();
    });

    it('always makes the answer the last answer of the conversation, for a week', () => {
      for (const write of [true, false]) {
        const { stage, conversations } = record();
        stage.store(meteredCall({ cache: cacheOf({ write }) }), screened, answer);
        expect(conversations.writes[0].lastAnswer?.ttlSeconds).toBe(WEEK);
        expect(JSON.parse(conversations.writes[0].lastAnswer?.value ?? 'null')).toEqual({
          response: 'BTC is trending up.',
          model: 'deepseek-v4-flash',
          at: NOON - 60_000,
        });
      }
    });

    it("reads back a batch's answer remembered for a symbol, and treats a damaged one as none", async () => {
      const { stage, conversations } = record();
      const last = { response: 'ETH ranges.', model: 'deepseek-v4-flash', at: NOON };
      await stage.remember({ tenant: 'default', agent: 'market_regime' }, 'ETH/USDT', last);
      const written = conversations.writes[0];
      expect(written).toMatchObject({ cache: null, lastAnswer: { ttlSeconds: WEEK } });
      conversations.lastAnswers.set('default:market_regime:ETH/USDT', written.lastAnswer?.value ?? '');
      expect(await stage.lastAnswer({ ...conversation, symbol: 'ETH/USDT' })).toEqual(last);
      conversations.lastAnswers.set('default:market_regime:ETH/USDT', '{not json');
      expect(await stage.lastAnswer({ ...conversation, symbol: 'ETH/USDT' })).toBeNull();
    });
  });

  describe('the ledger entry of each outcome', () => {
    const call = meteredCall();
    const entryOf = (outcome: Outcome, extra?: Parameters<RecordStage['record']>[2]) => {
      const { stage, ledger } = record();
      stage.record(call, outcome, extra);
      expect(ledger.entries).toHaveLength(1);
      return ledger.entries[0];
    };
    const skipped = (reason: Extract<Outcome, { kind: 'skipped' }>['reason'], savedUsd: number | null) =>
      entryOf({ kind: 'skipped', reason, trace, message: 'm', last: null, cacheHit: false, savedUsd });

    it('a call: its upstream record, nothing saved', () => {
      expect(
        entryOf({ kind: 'answered', source: 'called', trace, answer, cacheHit: false }, { callRecord }),
      ).toEqual({
        requestId: 'req-9',
        at: NOON,
        tenant: 'default',
        keyId: null,
        agent: 'market_regime',
        symbol: 'BTC/USDT',
        reason: 'called',
        cacheHit: false,
        savedUsd: null,
        savedLayer: null,
        counters: undefined,
        call: callRecord,
      });
    });

    it('a call an ADAPTIVE strategy let through counts as an adaptive call', () => {
      const entry = entryOf(
        { kind: 'answered', source: 'called', trace, answer, cacheHit: null },
        { callRecord, adaptive: true },
      );
      expect(entry.counters).toEqual({ adaptive_calls: 1 });
    });

    it('a cache hit: no call, and the cost of the answer saved by the response cache', () => {
      expect(
        entryOf({ kind: 'answered', source: 'response_cache', trace, answer, cacheHit: true }),
      ).toMatchObject({
        reason: 'response_cache',
        cacheHit: true,
        savedUsd: 0.0002128,
        savedLayer: 'response_cache',
        call: null,
      });
    });

    it("a coalesced request: no call, and the leader's cost saved by coalescing", () => {
      expect(
        entryOf({ kind: 'answered', source: 'coalesced', trace, answer, cacheHit: false }),
      ).toMatchObject({
        reason: 'coalesced',
        savedUsd: 0.0002128,
        savedLayer: 'coalescing',
        call: null,
      });
    });

    it('a sampled-out or filtered request: the avoided cost, saved by sampling or the event filter', () => {
      expect(skipped('sampled_out', 0.0003)).toMatchObject({
        reason: 'sampled_out',
        savedUsd: 0.0003,
        savedLayer: 'sampling',
        call: null,
      });
      expect(skipped('event_filtered', 0.0003)).toMatchObject({
        reason: 'event_filtered',
        savedUsd: 0.0003,
        savedLayer: 'event_filter',
        call: null,
      });
    });

    it('a batched, refused or AI-disabled request: no call and no saving of its own', () => {
      for (const reason of ['batched', 'budget_exceeded', 'ai_disabled'] as const) {
        expect(skipped(reason, null)).toMatchObject({ reason, savedUsd: null, savedLayer: null, call: null });
      }
    });

    it('a stream is not recorded when it opens: its leader and its followers when it ends', () => {
      const { stage, ledger } = record();
      stage.record(call, { kind: 'streaming', source: 'called', trace, hub: new StreamHub(() => undefined) });
      expect(ledger.entries).toEqual([]);
      stage.recordJoin(call, 'req-10', NOON, 0.0002);
      stage.recordStream(call, 'req-9', NOON, callRecord);
      expect(ledger.entries).toMatchObject([
        { requestId: 'req-10', reason: 'coalesced', cacheHit: false, savedUsd: 0.0002, call: null },
        { requestId: 'req-9', reason: 'called', cacheHit: false, call: callRecord },
      ]);
    });

    it('a request that did not read the cache is neither a hit nor a miss', () => {
      const noRead = meteredCall({ cache: cacheOf({ read: false }) });
      const { stage, ledger } = record();
      stage.recordJoin(noRead, 'req-10', NOON, null);
      stage.recordStream(noRead, 'req-9', NOON, callRecord);
      expect(ledger.entries.map((e) => e.cacheHit)).toEqual([null, null]);
    });
  });
});

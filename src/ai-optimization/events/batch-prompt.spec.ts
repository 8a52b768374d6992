import { batchPrompt } from './batch-flusher.service.js';
import type { QueuedEvent } from './batch-queue.service.js';

const event = (n: number, prompt: string, context?: Record<string, unknown>): QueuedEvent => ({
  request_id: `r${n}`,
  symbol: n % 2 ? 'BTC/USDT' : 'ETH/USDT',
  event_type: 'PRICE_UPDATE',
  priority: 'LOW',
  data: { change_percent: n / 10 },
  timestamp: `2026-12-01T0${n}:00:00Z`,
  prompt,
  ...(context ? { context } : {}),
  max_tokens: 200,
  queued_at: n,
});

describe('batchPrompt', () => {
  it('states a question every event shares once, after the numbered listing', () => {
    const prompt = batchPrompt([event(1, 'Regime?'), event(2, 'Regime?'), event(3, 'Regime?')]);
    expect(prompt).toBe(
      [
        'Events (3):',
        '1. 2026-12-01T01:00:00Z BTC/USDT PRICE_UPDATE {"change_percent":0.1}',
        '2. 2026-12-01T02:00:00Z ETH/USDT PRICE_UPDATE {"change_percent":0.2}',
        '3. 2026-12-01T03:00:00Z BTC/USDT PRICE_UPDATE {"change_percent":0.3}',
        'Question for every event: Regime?',
      ].join('\n'),
    );
  });

  it('keeps each event’s own question on its line when they differ', () => {
    const prompt = batchPrompt([event(1, 'Regime?'), event(2, 'Risk?')]);
    expect(prompt).toBe(
      [
        'Events (2):',
        '1. 2026-12-01T01:00:00Z BTC/USDT PRICE_UPDATE {"change_percent":0.1} | Regime?',
        '2. 2026-12-01T02:00:00Z ETH/USDT PRICE_UPDATE {"change_percent":0.2} | Risk?',
      ].join('\n'),
    );
    expect(prompt).not.toContain('Question for every event');
  });

  it('answers events of one symbol that ask the identical request once, on one numbered line', () => {
    const ranging = { regime: 'ranging', rsi_zone: 'neutral' };
    const trending = { regime: 'trending_up', rsi_zone: 'firm' };
    const events = [1, 3, 5, 7].map((n) => ({ ...event(n, 'Regime?', n === 5 ? trending : ranging) }));
    expect(batchPrompt(events)).toBe(
      [
        'Events (4) in 2 distinct requests:',
        '1. BTC/USDT PRICE_UPDATE ×3 from 2026-12-01T01:00:00Z to 2026-12-01T07:00:00Z, latest {"change_percent":0.7}' +
          ' | inputs {"regime":"ranging","rsi_zone":"neutral"}',
        '2. 2026-12-01T05:00:00Z BTC/USDT PRICE_UPDATE {"change_percent":0.5}' +
          ' | inputs {"regime":"trending_up","rsi_zone":"firm"}',
        'Question for every event: Regime?',
      ].join('\n'),
    );
  });

  it('never merges events that carry no inputs of their own: their figures are the whole request', () => {
    expect(batchPrompt([event(1, 'Regime?'), event(3, 'Regime?')])).toMatch(/^Events \(2\):\n1\. .*\n2\. /);
  });

  it('keeps apart events whose symbol or question differs, and states inputs they all share once', () => {
    const inputs = { weights: { BTC: 0.6 } };
    const prompt = batchPrompt([
      event(1, 'Rebalance?', inputs),
      event(2, 'Rebalance?', inputs), // ETH/USDT: another symbol
      event(3, 'Rebalance now?', inputs),
    ]);
    expect(prompt).toBe(
      [
        'Events (3):',
        '1. 2026-12-01T01:00:00Z BTC/USDT PRICE_UPDATE {"change_percent":0.1} | Rebalance?',
        '2. 2026-12-01T02:00:00Z ETH/USDT PRICE_UPDATE {"change_percent":0.2} | Rebalance?',
        '3. 2026-12-01T03:00:00Z BTC/USDT PRICE_UPDATE {"change_percent":0.3} | Rebalance now?',
        'Inputs for every event: {"weights":{"BTC":0.6}}',
      ].join('\n'),
    );
  });

  it('cuts the inputs, never the figures or questions, to fit a bound, the shortest kept whole', () => {
    const small = { regime: 'ranging' };
    const big = (tag: string) => ({ candles: `${tag}:${'1'.repeat(20_000)}` });
    const events = [event(1, 'Regime?', small), event(2, 'Regime?', big('a')), event(3, 'Regime?', big('b'))];
    const whole = batchPrompt(events);
    expect(batchPrompt(events, whole.length)).toBe(whole); // fits: untouched

    const prompt = batchPrompt(events, 10_000);
    expect(prompt.length).toBeLessThanOrEqual(10_000);
    const lines = prompt.split('\n');
    expect(lines[1]).toBe(
      '1. 2026-12-01T01:00:00Z BTC/USDT PRICE_UPDATE {"change_percent":0.1} | inputs {"regime":"ranging"}',
    );
    for (const [line, tag, n] of [
      [lines[2], 'a', 2],
      [lines[3], 'b', 3],
    ] as const) {
      expect(line).toMatch(
        new RegExp(
          `^${n}\\. 2026-12-01T0${n}:00:00Z \\S+ PRICE_UPDATE \\{"change_percent":0\\.${n}\\} \\| inputs \\{"candles":"${tag}:1+… ` +
            '\\(cut to \\d+ of 20016 characters: the batch is too large for the model\\)$',
        ),
      );
    }
    // The two cut lines share the room equally.
    const kept = [lines[2], lines[3]].map((l) => Number(/cut to (\d+) of/.exec(l)?.[1]));
    expect(kept[0]).toBe(kept[1]);
    expect(kept[0]).toBeGreaterThan(4_000);
    expect(lines.at(-1)).toBe('Question for every event: Regime?');
  });

  it('cuts inputs stated once for every event like any other', () => {
    const inputs = { history: 'x'.repeat(50_000) };
    const prompt = batchPrompt([event(1, 'Rebalance?', inputs), event(2, 'Rebalance?', inputs)], 2_000);
    expect(prompt.length).toBeLessThanOrEqual(2_000);
    expect(prompt.split('\n').at(-1)).toMatch(
      /^Inputs for every event: \{"history":"x+… \(cut to \d+ of 50014 characters: the batch is too large for the model\)$/,
    );
  });
});

import { batchPrompt } from './batch-flusher.service.js';
import type { QueuedEvent } from './batch-queue.service.js';

const event = (n: number, prompt: string): QueuedEvent => ({
  request_id: `r${n}`,
  symbol: n % 2 ? 'BTC/USDT' : 'ETH/USDT',
  event_type: 'PRICE_UPDATE',
  priority: 'LOW',
  data: { change_percent: n / 10 },
  timestamp: `2026-12-01T0${n}:00:00Z`,
  prompt,
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
});

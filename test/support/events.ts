/**
 * The body of a LOW price-update event for `POST /ai/events`: BTC/USDT at 97,000 + i, a 0.1% move, 64 output
 * tokens. `extra` replaces fields of the event itself (its data, priority, …).
 */
export const lowEvent = (i: number, agent = 'batch_probe', extra: Record<string, unknown> = {}) => ({
  agent_type: agent,
  prompt: `Price update ${i}: anything to do?`,
  max_tokens: 64,
  event: {
    symbol: 'BTC/USDT',
    event_type: 'PRICE_UPDATE',
    priority: 'LOW',
    data: { price: 97000 + i, change_percent: 0.1 },
    ...extra,
  },
});

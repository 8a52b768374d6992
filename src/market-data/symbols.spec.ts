import { parseSymbol } from './symbols.js';

describe('parseSymbol', () => {
  it.each(['BTC', 'btc', 'BTC/USDT', 'btc-usdt', 'BTC_USDT', 'BTCUSDT'])('normalises %s', (input) => {
    expect(parseSymbol(input)).toEqual({ base: 'BTC', quote: 'USDT', pair: 'BTCUSDT', unified: 'BTC/USDT' });
  });
  it('keeps other quotes', () => {
    expect(parseSymbol('ETH/BTC')).toMatchObject({ base: 'ETH', quote: 'BTC', pair: 'ETHBTC' });
  });
  it.each(['../admin', 'BTC%2F..', 'x'.repeat(40), '', 'BTC/USDT/X', 'BTC USDT', 'BTC?x=1', 'B\u00c9'])(
    'rejects %j',
    (input) => {
      expect(() => parseSymbol(input)).toThrow();
    },
  );
});

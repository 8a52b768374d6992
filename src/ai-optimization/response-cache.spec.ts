import { canonicalJson, requestHash } from './response-cache.js';

describe('canonical request hashing', () => {
  it('hashes equal requests equally whatever the field order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[1,{"e":3,"f":2}]},"b":1}',
    );
    expect(requestHash({ model: 'm', messages: [{ role: 'user', content: 'hi' }], t: 0 })).toBe(
      requestHash({ t: 0, messages: [{ content: 'hi', role: 'user' }], model: 'm' }),
    );
  });
  it('distinguishes providers and base URLs so two upstreams never share an entry', () => {
    const body = { model: 'm', messages: [] };
    expect(requestHash({ ...body, base_url: 'http://a' })).not.toBe(
      requestHash({ ...body, base_url: 'http://b' }),
    );
  });
});

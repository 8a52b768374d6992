import { canonicalJson, canonicalObject, requestHash } from './response-cache.js';

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
  it('writes an object with members already canonical exactly as canonicalJson writes it whole', () => {
    const body = {
      temperature: 0,
      tools: [{ type: 'function', function: { name: 'f', parameters: { b: 1, a: 2 } } }],
      messages: [{ role: 'user', content: 'héllo', name: undefined }],
      model: 'm',
      stop: undefined,
    };
    const known = { messages: canonicalJson(body.messages), tools: canonicalJson(body.tools) };
    expect(canonicalObject(body, known)).toBe(canonicalJson(body));
    // A known text is used as given (it is not written again from the value).
    expect(canonicalObject({ b: [2], a: 1 }, { b: 'X' })).toBe('{"a":1,"b":X}');
    // Members named like the prototype's are written from their values, never taken from `known`'s prototype.
    const named = { messages: [], constructor: 1, toString: 2, valueOf: 3 };
    expect(canonicalObject(named, { messages: '[]' })).toBe(canonicalJson(named));
    expect(canonicalObject(named, { messages: '[]' })).toBe(
      '{"constructor":1,"messages":[],"toString":2,"valueOf":3}',
    );
  });
});

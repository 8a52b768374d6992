import { BadRequestException } from '@nestjs/common';
import { declaredLimits, JsonSchemaPipe } from './json-schema.js';

const SCHEMA = {
  type: 'object',
  properties: {
    events: {
      type: 'array',
      maxItems: 3,
      items: { type: 'object', properties: { tags: { type: 'array', maxItems: 1 } } },
    },
    batch: {
      type: 'object',
      properties: {
        items: { type: 'array', maxItems: 2, 'x-messages': { maxItems: '{field}: two at most' } },
      },
    },
  },
};

describe('declared array limits, checked before the schema walks the elements', () => {
  const check = declaredLimits(SCHEMA);

  it('finds an array longer than its maxItems, at any depth the schema names, with its message', () => {
    expect(check({ events: [1, 2, 3, 4] })).toEqual({
      field: 'events',
      message: 'events must contain no more than 3 elements',
    });
    expect(check({ batch: { items: [1, 2, 3] } })).toEqual({
      field: 'batch.items',
      message: 'batch.items: two at most',
    });
  });

  it('reports the first limit in the order the schema declares them', () => {
    expect(check({ batch: { items: [1, 2, 3] }, events: [1, 2, 3, 4] })?.field).toBe('events');
  });

  it('passes arrays within their limits, and values that are not where the schema expects an object', () => {
    expect(check({ events: [1, 2, 3], batch: { items: [1, 2] } })).toBeNull();
    expect(check({ batch: [1, 2, 3] })).toBeNull();
    expect(check({ batch: null })).toBeNull();
    expect(check([1, 2, 3, 4])).toBeNull();
    // Items of an array are the schema's to check: a limit is only looked for where a property is named.
    expect(check({ events: [{ tags: [1, 2] }] })).toBeNull();
  });

  it('makes the pipe answer one message for a long array instead of one per element', () => {
    const pipe = new JsonSchemaPipe(SCHEMA);
    let error: unknown;
    try {
      pipe.transform({ events: Array.from({ length: 10_000 }, () => 'not an object') });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as BadRequestException).getResponse()).toMatchObject({
      message: ['events must contain no more than 3 elements'],
    });
  });
});

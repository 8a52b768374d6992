import { Logger } from '@nestjs/common';
import {
  chainOf,
  chunk,
  completion,
  FakeUpstream,
  usageChunk,
} from '../../../test/support/pipeline-fakes.js';
import { assemble, CallStage } from './call.stage.js';
import type { UpstreamBody } from './metered-call.js';

// The registry logs its providers on construction: not wanted in test output.
Logger.overrideLogger(false);

const USAGE = { prompt_tokens: 120, completion_tokens: 9, total_tokens: 129, prompt_cache_hit_tokens: 64 };

const IDLE = { streamIdleTimeoutSeconds: 30 };

describe('assemble: the completion a stream would have been', () => {
  it('joins the content, keeps the role, the finish reason and the usage', () => {
    const completion = assemble(
      [
        chunk({ role: 'assistant', content: '' }),
        chunk({ content: 'BTC is ' }),
        chunk({ content: 'trending up.' }),
        chunk({}, 'length'),
      ],
      USAGE,
      'deepseek-v4-flash',
    );
    expect(completion).toMatchObject({
      id: 'chatcmpl-stream-1',
      object: 'chat.completion',
      created: 1_795_000_000,
      model: 'deepseek-v4-flash',
      usage: USAGE,
    });
    expect(completion.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: 'BTC is trending up.', refusal: null },
        logprobs: null,
        finish_reason: 'length',
      },
    ]);
  });

  it('rebuilds tool calls from their fragments, in the order of their index', () => {
    const completion = assemble(
      [
        chunk({
          role: 'assistant',
          tool_calls: [
            { index: 0, id: 'call_a', type: 'function', function: { name: 'get_', arguments: '' } },
          ],
        }),
        chunk({ tool_calls: [{ index: 0, function: { name: 'price', arguments: '{"sym' } }] }),
        chunk({
          tool_calls: [
            { index: 1, id: 'call_b', type: 'function', function: { name: 'get_rsi', arguments: '{' } },
          ],
        }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: 'bol":"BTC"}' } }] }),
        chunk({ tool_calls: [{ index: 1, function: { arguments: '}' } }] }),
        chunk({}, 'tool_calls'),
      ],
      null,
      'deepseek-v4-flash',
    );
    const choice = completion.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBe('');
    expect(choice.message.tool_calls).toEqual([
      { id: 'call_a', type: 'function', function: { name: 'get_price', arguments: '{"symbol":"BTC"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_rsi', arguments: '{}' } },
    ]);
  });

  it('reads the usage from a final chunk without choices, as OpenAI sends it', () => {
    const completion = assemble([chunk({ content: 'ok' }, 'stop'), usageChunk(USAGE)], USAGE, 'gpt-4o-mini');
    expect(completion.choices[0].message.content).toBe('ok');
    expect(completion.usage).toEqual(USAGE);
  });

  it('leaves the usage out when the stream reported none, rather than inventing zeros', () => {
    const completion = assemble([chunk({ content: 'ok' }, 'stop')], null, 'deepseek-v4-flash');
    expect(completion).not.toHaveProperty('usage');
  });

  it('answers an empty stream as an empty completion of the model asked for, finished by "stop"', () => {
    const completion = assemble([], null, 'deepseek-v4-pro');
    expect(completion.model).toBe('deepseek-v4-pro');
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices[0].message.content).toBe('');
    expect(completion.choices[0].finish_reason).toBe('stop');
  });
});

describe('CallStage', () => {
  const chain = chainOf('deepseek-v4-flash');
  const body: UpstreamBody = {
    messages: [{ role: 'user', content: 'Is BTC trending?' }],
    max_tokens: 300,
    tools: [{ type: 'function', function: { name: 'get_price', parameters: { type: 'object' } } }],
  };

  it('always asks a stream for its usage, whatever the client asked, so the stream can be priced', async () => {
    const upstream = new FakeUpstream();
    const stage = new CallStage(upstream, IDLE);
    (await stage.open(chain, body, new AbortController())).close();
    (
      await stage.open(chain, { ...body, stream_options: { include_usage: false } }, new AbortController())
    ).close();
    for (const sent of upstream.streamBodies) {
      expect(sent).toMatchObject({ ...body, stream: true, stream_options: { include_usage: true } });
    }
    expect(upstream.streamBodies).toHaveLength(2);
  });

  it('sends a plain call without stream options (which an upstream refuses without a stream)', async () => {
    const upstream = new FakeUpstream();
    await new CallStage(upstream, IDLE).complete(chain, {
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(upstream.completeBodies).toEqual([body]);
  });

  it('hands the whole model chain to the upstream caller, fallbacks included', async () => {
    const upstream = new FakeUpstream();
    const seen: string[][] = [];
    upstream.answer = (c) => {
      seen.push(c.map((m) => m.entry.name));
      return Promise.resolve({ model: c[0], completion: completion('An answer'), latencyMs: 5, attempts: 1 });
    };
    const answer = await new CallStage(upstream, IDLE).complete(chain, body);
    expect(seen).toEqual([['deepseek-v4-flash', 'gpt-4o-mini']]);
    expect(answer.completion.choices[0].message.content).toBe('An answer');
  });
});

import type { ServerResponse } from 'node:http';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { StreamHub } from '../pipeline/stream-hub.js';

/** The OpenAI wire for streams: `data: <chunk>` events, a `: bastion-cost-usd` comment, `data: [DONE]`. */

export function openSse(
  res: ServerResponse,
  cache: string,
  overheadMs: number,
  headers: Record<string, string> = {},
): void {
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-bastion-cache': cache,
    'x-bastion-overhead-ms': String(Math.round(overheadMs)),
  });
  res.flushHeaders();
}

const event = (chunk: unknown): string => `data: ${JSON.stringify(chunk)}\n\n`;
/** SDKs ignore SSE comments, so the cost travels as one. */
const costComment = (costUsd: number | null): string =>
  `: bastion-cost-usd ${costUsd === null ? 'unknown' : costUsd}\n\n`;

/** Replays a stored completion as a well-formed chunk sequence (a cache hit on a streaming request). */
export function replayChunks(completion: ChatCompletion, includeUsage: boolean): Record<string, unknown>[] {
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  const message = completion.choices[0]?.message;
  const content = message?.content ?? '';
  const chunks: Record<string, unknown>[] = [
    {
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
    },
  ];
  for (let i = 0; i < content.length; i += 24) {
    chunks.push({
      ...base,
      choices: [
        { index: 0, delta: { content: content.slice(i, i + 24) }, logprobs: null, finish_reason: null },
      ],
    });
  }
  if (message?.tool_calls?.length) {
    chunks.push({
      ...base,
      choices: [
        {
          index: 0,
          delta: { tool_calls: message.tool_calls.map((tc, index) => ({ index, ...tc })) },
          logprobs: null,
          finish_reason: null,
        },
      ],
    });
  }
  chunks.push({
    ...base,
    choices: [
      { index: 0, delta: {}, logprobs: null, finish_reason: completion.choices[0]?.finish_reason ?? 'stop' },
    ],
  });
  if (includeUsage && completion.usage) chunks.push({ ...base, choices: [], usage: completion.usage });
  return chunks;
}

export function writeReplay(res: ServerResponse, completion: ChatCompletion, includeUsage: boolean): void {
  for (const chunk of replayChunks(completion, includeUsage)) res.write(event(chunk));
  res.end(`${costComment(0)}data: [DONE]\n\n`);
}

/**
 * Forwards a shared upstream stream to one client until it ends or the client leaves. Bastion always asks the
 * upstream for usage; a client that did not ask gets it removed again.
 */
export function pipeHub(res: ServerResponse, hub: StreamHub, includeUsage: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const unsubscribe = hub.subscribe({
      write: (chunk) => {
        const out = includeUsage ? chunk : stripUsage(chunk);
        if (out) res.write(event(out));
      },
      end: (summary) => {
        res.end(`${costComment(summary.costUsd)}data: [DONE]\n\n`);
        resolve();
      },
    });
    res.on('close', () => {
      unsubscribe();
      resolve();
    });
  });
}

/** A chunk for a client that did not ask for usage: usage removed, a usage-only chunk dropped. */
function stripUsage(chunk: Record<string, unknown>): Record<string, unknown> | null {
  if (chunk.usage === undefined || chunk.usage === null) return chunk;
  if (Array.isArray(chunk.choices) && chunk.choices.length === 0) return null;
  return { ...chunk, usage: null };
}

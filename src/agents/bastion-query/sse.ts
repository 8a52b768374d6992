/** Characters per SSE chunk: small enough that a client renders progressively, large enough to stay cheap. */
const SSE_CHUNK_CHARS = 24;

/**
 * The answer as SSE frames: the text in word-aligned chunks, then everything else as one metadata event,
 * then `[DONE]`. The answer is complete before the first frame (it goes through the gateway for cache,
 * budget and exact cost), so streaming here is framing, not generation.
 */
export function toSseEvents<T extends { response: string }>(answer: T): string[] {
  const { response, ...rest } = answer;
  const chunks: string[] = [];
  let current = '';
  for (const word of response.match(/\s*\S+\s*/g) ?? []) {
    current += word;
    if (current.length >= SSE_CHUNK_CHARS) {
      chunks.push(current);
      current = '';
    }
  }
  if (current) chunks.push(current);
  return [
    ...chunks.map((content) => `data: ${JSON.stringify({ type: 'chunk', content })}\n\n`),
    `data: ${JSON.stringify({ type: 'metadata', ...rest })}\n\n`,
    'data: [DONE]\n\n',
  ];
}

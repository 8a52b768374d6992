import { DomainError } from '../../common/errors.js';

type Body = Record<string, unknown>;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (message: string, param?: string): DomainError =>
  new DomainError('invalid_request_error', message, 400, param ? { param } : {});

/** Minimal checks; everything else passes through to the upstream untouched. */
export function validateChatBody(body: unknown): Body {
  if (!isRecord(body)) throw bad('The body must be a JSON object');
  if (typeof body.model !== 'string' || body.model.length === 0) throw bad('model is required', 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad('messages must be a non-empty array', 'messages');
  body.messages.forEach((m: unknown, i: number) => {
    if (!isRecord(m) || typeof m.role !== 'string')
      throw bad(`messages[${i}] must be an object with a role`, 'messages');
  });
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    throw bad('stream must be a boolean', 'stream');
  for (const f of ['max_tokens', 'max_completion_tokens']) {
    const v = body[f];
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) {
      throw bad(`${f} must be a positive integer`, f);
    }
  }
  return body;
}

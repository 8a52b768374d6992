/**
 * Limits every JSON body must keep, checked on the raw text before it is parsed, so that no request can make
 * the server do per-element work (JSON.parse of deep nesting, class-transformer building an instance per
 * element, a validation error per element) for longer than a few milliseconds.
 *
 * Why a scanner of our own: the checks must run before JSON.parse (500,000 nested brackets fit in 1 MB and
 * take V8's parser about half a second), and no JSON library offers depth, width and reserved-key limits
 * on the raw text. One pass, no recursion, no allocation per element.
 */

export interface JsonLimits {
  /** Nesting of arrays and objects. */
  maxDepth: number;
  /** Items of one array (the largest any route accepts is 5,000 candles). */
  maxArrayItems: number;
  /** Members of one object (no route reads more than a few dozen). */
  maxObjectKeys: number;
  /** Values in the whole body: containers, strings, numbers, literals. */
  maxValues: number;
}

export const JSON_LIMITS: Readonly<JsonLimits> = {
  maxDepth: 64,
  maxArrayItems: 10_000,
  maxObjectKeys: 1_000,
  maxValues: 100_000,
};

/**
 * Keys refused anywhere in a body: the members of every object's prototype (`__proto__`, `constructor`,
 * `toString`, `hasOwnProperty`, ...) and `prototype`. `__proto__` would replace an object's prototype and
 * `constructor` reaches it; all of them answer from the prototype wherever code looks a caller's key up in an
 * object, and class-transformer and Nest's ValidationPipe drop them silently, losing the caller's data.
 */
export const RESERVED_JSON_KEYS: ReadonlySet<string> = new Set([
  ...Object.getOwnPropertyNames(Object.prototype),
  'prototype',
]);

export interface JsonBodyProblem {
  /** 400 for a shape no route accepts, 413 for a body too large in its number of elements. */
  status: 400 | 413;
  message: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

interface Frame {
  object: boolean;
  /** Commas seen at this level: members - 1 once there is one. */
  commas: number;
  /** The key being read (objects). */
  key: string;
  /** Where this container sits in its parent (a key or an index); '' at the root. */
  at: string;
}

/** Index of the quote closing the string opened at `start`, or -1 when it is not closed. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote < 0) return -1;
    let slashes = 0;
    while (text.charCodeAt(quote - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return quote;
    i = quote + 1;
  }
}

const MAX_PATH_SEGMENTS = 6;

/** `events.3.data`; a path longer than a few segments is cut (a deep one is the problem being reported). */
function pathOf(frames: Frame[], last?: string): string {
  const segments = frames.map((f) => f.at).filter((s, i) => i > 0 || s !== '');
  if (last !== undefined) segments.push(last);
  if (segments.length === 0) return 'body';
  return segments.length > MAX_PATH_SEGMENTS
    ? `${segments.slice(0, MAX_PATH_SEGMENTS).join('.')}…`
    : segments.join('.');
}

/** The current position inside the innermost container: its key or the index of its current item. */
const positionIn = (frame: Frame): string => (frame.object ? frame.key : String(frame.commas));

/**
 * The first limit `text` breaks, or null. Text that is not JSON is left to the parser to report: the scan
 * stops when the structure stops making sense.
 */
export function jsonBodyProblem(
  text: string,
  limits: Readonly<JsonLimits> = JSON_LIMITS,
): JsonBodyProblem | null {
  const frames: Frame[] = [];
  let values = 0;
  let expectKey = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const top = frames.length > 0 ? frames[frames.length - 1] : undefined;
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) return null;
      if (top?.object && expectKey) {
        let key = text.slice(i + 1, end);
        if (key.includes('\\')) {
          try {
            key = JSON.parse(text.slice(i, end + 1)) as string;
          } catch {
            return null;
          }
        }
        if (RESERVED_JSON_KEYS.has(key)) {
          return {
            status: 400,
            message: `${pathOf(frames, key)}: the key "${key}" is not accepted (a reserved JavaScript name)`,
          };
        }
        top.key = key;
        expectKey = false;
      } else {
        values++;
      }
      i = end + 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      values++;
      const at = top ? positionIn(top) : '';
      if (frames.length >= limits.maxDepth) {
        return {
          status: 400,
          message: `${pathOf(frames, at)}: JSON nested deeper than ${limits.maxDepth} levels`,
        };
      }
      frames.push({ object: c === OPEN_OBJECT, commas: 0, key: '', at });
      expectKey = c === OPEN_OBJECT;
      i++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (!top) return null;
      frames.pop();
      expectKey = false;
      i++;
    } else if (c === COMMA) {
      if (!top) return null;
      top.commas++;
      if (top.object && top.commas >= limits.maxObjectKeys) {
        return {
          status: 413,
          message: `${pathOf(frames)}: an object of more than ${limits.maxObjectKeys} members; no route accepts that many`,
        };
      }
      if (!top.object && top.commas >= limits.maxArrayItems) {
        return {
          status: 413,
          message: `${pathOf(frames)}: an array of more than ${limits.maxArrayItems} items; no route accepts that many`,
        };
      }
      expectKey = top.object;
      i++;
    } else if (c === COLON || c <= 0x20) {
      i++;
    } else {
      // A number or a literal: one value, up to the next delimiter.
      values++;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === COMMA || d === CLOSE_ARRAY || d === CLOSE_OBJECT || d <= 0x20 || d === COLON) break;
        i++;
      }
    }
    if (values > limits.maxValues) {
      return {
        status: 413,
        message: `body holds more than ${limits.maxValues} JSON values; no route accepts that many`,
      };
    }
  }
  return null;
}

/** An error Fastify answers with its `statusCode` (and Bastion's exception filter with its message). */
export class JsonBodyError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
    this.name = 'JsonBodyError';
  }
}

/**
 * Parses a JSON body within the limits; throws JsonBodyError (400, 413) naming the problem. Every route takes
 * an object: anything else is refused before it is parsed (class-transformer would build one instance per
 * element of an array sent in its place).
 */
export function parseJsonBody(text: string, limits: Readonly<JsonLimits> = JSON_LIMITS): unknown {
  const start = text.search(/\S/);
  if (start < 0) throw new JsonBodyError('body must not be empty when Content-Type is application/json', 400);
  if (text.charCodeAt(start) !== OPEN_OBJECT) throw new JsonBodyError('body must be a JSON object', 400);
  const problem = jsonBodyProblem(text, limits);
  if (problem) throw new JsonBodyError(problem.message, problem.status);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new JsonBodyError(`body is not valid JSON: ${(err as Error).message}`, 400);
  }
}

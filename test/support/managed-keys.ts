import { createHash } from 'node:crypto';
import { toPico } from '../../src/common/money.js';
import type { FakeLlm } from '../fakes/llm-upstream.js';
import { ADMIN_KEY, type TestApp } from './app.js';
import { waitFor } from './redis-server.js';

/** A key as POST /admin/keys (or its rotation) answered it: the only answer that may carry the secret. */
export interface CreatedKey {
  id: string;
  key: string;
  name: string;
  tenant: string;
  role: 'bot' | 'admin';
  prefix: string;
  [field: string]: unknown;
}

type Answer = Awaited<ReturnType<TestApp['request']>>;

/** Every header of an answer, as a plain object. */
export function headersOf(headers: Headers): Record<string, string> {
  const all: Record<string, string> = {};
  headers.forEach((value, name) => (all[name] = value));
  return all;
}

/** One answer as text: status, headers and body, everything a client could read. */
const asText = (res: { status: number; body: unknown; headers: Headers }): string =>
  JSON.stringify({ status: res.status, headers: headersOf(res.headers), body: res.body });

/**
 * Requests that remember every answer, and the secrets of the keys they created, so a suite can prove at the
 * end that no secret (nor what would stand for it: its body without the `bst_` prefix, its SHA-256 digest)
 * came back in any answer after its creation, nor in a log line.
 */
export class KeyWitness {
  private readonly answers: { what: string; text: string }[] = [];
  private readonly secrets: { id: string; needles: string[] }[] = [];

  async request(
    app: TestApp,
    method: string,
    path: string,
    body?: unknown,
    key: string | null = ADMIN_KEY,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const res = await app.request(method, path, body, key, headers);
    this.answers.push({ what: `${method} ${path} → ${res.status}`, text: asText(res) });
    return res;
  }

  /** Remembers an answer read some other way (a stream). */
  saw(what: string, text: string): void {
    this.answers.push({ what, text });
  }

  /** POST /admin/keys; fails the test unless the key is created (201) with its secret in `key` only. */
  async create(app: TestApp, fields: Record<string, unknown>, by: string = ADMIN_KEY): Promise<CreatedKey> {
    const res = await app.request('POST', '/admin/keys', fields, by);
    if (res.status !== 201) {
      throw new Error(`POST /admin/keys answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    return this.secretAnswer('POST /admin/keys', res);
  }

  /** POST /admin/keys/:id/rotate; the new secret is remembered like a created one. */
  async rotate(app: TestApp, id: string): Promise<CreatedKey> {
    const res = await app.request('POST', `/admin/keys/${id}/rotate`, undefined, ADMIN_KEY);
    if (res.status !== 200) {
      throw new Error(`POST /admin/keys/${id}/rotate answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    return this.secretAnswer(`POST /admin/keys/${id}/rotate`, res);
  }

  /** Where a secret was seen: one line per answer or log text that holds one (empty when none does). */
  leaks(logs: { name: string; text: string }[] = []): string[] {
    const found: string[] = [];
    const texts = [...this.answers, ...logs.map((l) => ({ what: `the logs of ${l.name}`, text: l.text }))];
    for (const { id, needles } of this.secrets) {
      for (const { what, text } of texts) {
        if (needles.some((n) => text.includes(n))) found.push(`${what} holds the secret of key ${id}`);
      }
    }
    return found;
  }

  get answerCount(): number {
    return this.answers.length;
  }

  private secretAnswer(what: string, res: Answer): CreatedKey {
    const created = res.body as CreatedKey;
    if (typeof created.key !== 'string' || !created.key.startsWith('bst_')) {
      throw new Error(`${what} did not show a bst_ key: ${JSON.stringify(res.body)}`);
    }
    const secret = created.key;
    const needles = [
      secret,
      secret.slice(4),
      createHash('sha256').update(secret).digest('hex'),
      createHash('sha256').update(secret).digest('base64'),
    ];
    this.secrets.push({ id: created.id, needles });
    // The answer that shows the secret shows it once, in `key`: nowhere else in it (headers included).
    const rest = asText({ ...res, body: { ...created, key: '(shown once)' } });
    if (needles.some((n) => rest.includes(n))) {
      throw new Error(`${what} holds the secret outside its "key" field: ${rest}`);
    }
    return created;
  }
}

/** OpenAI's reset durations (`250ms`, `6s`, `1m30s`) in milliseconds; NaN for anything else. */
export function resetMs(text: string | null): number {
  const m = /^(?:(\d+)ms|(?:(\d+)m)?(\d+)s)$/.exec(text ?? '');
  if (!m) return Number.NaN;
  if (m[1] !== undefined) return Number(m[1]);
  return (Number(m[2] ?? 0) * 60 + Number(m[3])) * 1000;
}

/** The x-ratelimit-* headers and Retry-After of an answer (null where absent). */
export function rateHeaders(headers: Headers) {
  const h = (name: string) => headers.get(name);
  return {
    retryAfter: h('retry-after'),
    limitRequests: h('x-ratelimit-limit-requests'),
    remainingRequests: h('x-ratelimit-remaining-requests'),
    resetRequests: h('x-ratelimit-reset-requests'),
    limitTokens: h('x-ratelimit-limit-tokens'),
    remainingTokens: h('x-ratelimit-remaining-tokens'),
    resetTokens: h('x-ratelimit-reset-tokens'),
  };
}

/**
 * What one call of a managed key holds on its budget counters while it runs (its reservation), and what it
 * costs once settled: its first upstream attempt hangs until Bastion's deadline, so the key's counter can be
 * read mid-call; the retry is answered. `send` makes the call (with the key whose id is `keyId`).
 */
export async function measureCall(
  app: TestApp,
  fake: FakeLlm,
  keyId: string,
  send: () => Promise<Answer>,
): Promise<{ reservation: number; cost: number; answer: Answer }> {
  const spent = async (): Promise<number> => {
    const res = await app.request('GET', `/admin/keys/${keyId}/usage`, undefined, ADMIN_KEY);
    if (res.status !== 200) throw new Error(`usage of ${keyId} answered ${res.status}`);
    return res.body.daily_spent_usd as number;
  };
  const before = await spent();
  const sent = fake.calls.length;
  fake.inject({ kind: 'hang', times: 1 });
  const pending = send();
  await waitFor(() => Promise.resolve(fake.calls.length > sent), 5000, 'the call never went upstream');
  const during = await spent();
  const answer = await pending;
  const cost = answer.body?.metadata?.cost_usd as number;
  if (answer.status !== 200 || !(cost > 0)) {
    throw new Error(`the measured call answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  // Settled: the counter holds the cost instead of the reservation.
  await waitFor(
    async () => toPico(await spent()) === toPico(before) + toPico(cost),
    5000,
    'the measured call was never settled to its cost',
  );
  return { reservation: Number(toPico(during) - toPico(before)) / 1e12, cost, answer };
}

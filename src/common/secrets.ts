/**
 * Keeps secrets out of everything Bastion says: response bodies, SSE chunks, stored batches, alerts and logs.
 * Every configured secret (API keys, provider and vendor keys, tokens, the SMTP password) is replaced, and so is
 * anything shaped like a credential an upstream may quote back (an `Authorization` value, a bearer token, an
 * `sk-…` key), whoever configured it.
 */
// Values are token-shaped (no quotes, backslashes or brackets), so a JSON string stays valid and a hint such as
// "Authorization: Bearer <key>" is left as it is. Each shape keeps its label and drops only the value.
const TOKEN = '[A-Za-z0-9._~+/=-]{6,}';
const CREDENTIAL_SHAPES: [RegExp, string][] = [
  [
    new RegExp(
      `\\b((?:proxy-)?authorization["']?\\s*[:=]\\s*["']?(?:(?:bearer|basic)\\s+)?)(?!(?:bearer|basic)\\b)${TOKEN}`,
      'gi',
    ),
    '$1',
  ],
  [new RegExp(`\\b(bearer\\s+)${TOKEN}`, 'gi'), '$1'],
  [/\bsk-[A-Za-z0-9_-]{8,}/g, ''],
  [/\bbst_[A-Za-z0-9_-]{20,}/g, ''], // Bastion's own managed keys
  [new RegExp(`\\b((?:api[_-]?key|x-api-key|access[_-]?token)["']?\\s*[:=]\\s*["']?)${TOKEN}`, 'gi'), '$1'],
];

export const REDACTED = '[REDACTED]';

export class Scrubber {
  private readonly secrets: string[];

  constructor(secrets: string[]) {
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    for (const [shape, keep] of CREDENTIAL_SHAPES) out = out.replace(shape, `${keep}${REDACTED}`);
    return out;
  }
}

/**
 * Keeps secrets out of everything Bastion says: response bodies, SSE chunks, stored batches, alerts and logs.
 * Every configured secret (API keys, provider and vendor keys, tokens, the SMTP password) is replaced, and so is
 * anything shaped like a credential an upstream may quote back (an `Authorization` value, a bearer token, an
 * `sk-…` key), whoever configured it.
 */
const CREDENTIAL_SHAPES: RegExp[] = [
  /\b(authorization|proxy-authorization)(["']?\s*[:=]\s*["']?)(bearer\s+|basic\s+)?[^\s"',;}]+/gi,
  /\bbearer\s+[A-Za-z0-9._~+/=-]{6,}/gi,
  /\bsk-[A-Za-z0-9_-]{8,}/g,
  /\b(api[_-]?key|x-api-key|access[_-]?token)(["']?\s*[:=]\s*["']?)[^\s"',;}]+/gi,
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
    return CREDENTIAL_SHAPES.reduce(
      (acc, shape) =>
        acc.replace(shape, (match: string, name?: string, sep?: string) =>
          name !== undefined && sep !== undefined ? `${name}${sep}${REDACTED}` : REDACTED,
        ),
      out,
    );
  }
}

import { isRecord, text, toNumber, VendorError } from '../vendor-http.js';

export interface RateLimitState {
  /** `API-KEY-MAX-LIMIT`: requests allowed per minute on this key's plan. */
  max: number | null;
  /** `API-KEY-USE-LIMIT`: requests used in the current window. */
  used: number | null;
}

export const COINGLASS_SOURCE_NAME = 'coinglass';
const SOURCE = COINGLASS_SOURCE_NAME;

/**
 * Speaks the Coinglass v4 protocol, one request at a time. Success is HTTP 200 AND `code == "0"`: plan
 * errors arrive as HTTP 200 with another code, so the envelope is always checked. The key travels only in
 * the `CG-API-KEY` header, never in a URL or an error message; every call has its own deadline.
 */
export class CoinglassClient {
  private rateLimit: RateLimitState = { max: null, used: null };

  constructor(
    private readonly endpoint: { apiKey: string; baseUrl: string } | undefined,
    readonly deadlineMs: number,
  ) {}

  get enabled(): boolean {
    return this.endpoint !== undefined;
  }

  /** The rate-limit headers of the last vendor answer that carried them. */
  lastRateLimit(): RateLimitState {
    return { ...this.rateLimit };
  }

  /** The vendor URL of `path` with `params` (sorted, so one request has one spelling). */
  url(path: string, params: URLSearchParams): URL {
    const endpoint = this.require();
    params.sort();
    // `new URL('/x', base)` would drop a path prefix of the configured base (e.g. a proxy at /coinglass/).
    const url = new URL(path.replace(/^\/+/, ''), endpoint.baseUrl.replace(/\/+$/, '') + '/');
    url.search = params.toString();
    return url;
  }

  /**
   * One vendor request; resolves with the envelope's `data` (always an array on the endpoints used here).
   * fetchVendorJson hides the response headers (the rate-limit counters live there) and turns every non-2xx
   * into http_error, while Coinglass puts a readable envelope on its 4xx answers; so this keeps its deadline
   * and error vocabulary but reads the answer itself.
   */
  async request(url: URL, path: string): Promise<unknown[]> {
    const { apiKey } = this.require();
    const where = `${SOURCE} ${path}`;
    const deadline = AbortSignal.timeout(this.deadlineMs);
    const timedOut = (): VendorError =>
      new VendorError(SOURCE, 'timeout', `${where} timed out after ${this.deadlineMs} ms`);
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, {
        headers: { accept: 'application/json', 'CG-API-KEY': apiKey },
        signal: deadline,
        // fetch forwards custom headers across a redirect to another host; the key must not follow one.
        redirect: 'error',
      });
    } catch (err) {
      if (deadline.aborted) throw timedOut();
      throw new VendorError(
        SOURCE,
        'network',
        `${where} unreachable: ${redact((err as Error).message, apiKey)}`,
      );
    }
    this.recordRateLimit(res.headers);
    try {
      body = await res.text();
    } catch (err) {
      if (deadline.aborted) throw timedOut();
      throw new VendorError(
        SOURCE,
        'network',
        `${where} body not received: ${redact((err as Error).message, apiKey)}`,
      );
    }
    return readEnvelope(res.status, body, where, apiKey);
  }

  /** The configured endpoint, or the "not configured" refusal before anything is sent. */
  private require(): { apiKey: string; baseUrl: string } {
    if (!this.endpoint) {
      throw new VendorError(SOURCE, 'disabled', 'coinglass is not configured (set COINGLASS_API_KEY)');
    }
    return this.endpoint;
  }

  private recordRateLimit(headers: Headers): void {
    const max = toNumber(headers.get('API-KEY-MAX-LIMIT'));
    const used = toNumber(headers.get('API-KEY-USE-LIMIT'));
    if (max !== null || used !== null) this.rateLimit = { max, used };
  }
}

/** The `data` of a v4 answer, or the VendorError that says why there is none. */
function readEnvelope(status: number, body: string, where: string, apiKey: string): unknown[] {
  const ok = status >= 200 && status < 300;
  const httpError = (): VendorError =>
    new VendorError(SOURCE, 'http_error', `${where} answered HTTP ${status}`, status);
  // Throttling and outages are transport failures whatever the body says.
  if (status === 429 || status >= 500) throw httpError();
  let json: unknown;
  try {
    json = JSON.parse(body) as unknown;
  } catch {
    if (!ok) throw httpError();
    throw new VendorError(SOURCE, 'malformed', `${where} answered with a body that is not JSON`);
  }
  if (!isRecord(json) || !('code' in json)) {
    if (!ok) throw httpError();
    throw new VendorError(SOURCE, 'malformed', `${where} answered JSON without the code/data envelope`);
  }
  const code = text(json.code);
  if (code !== '0') {
    // The plan and key errors come as HTTP 200 or 4xx with the same envelope: both are the vendor's "no".
    const msg = redact(text(json.msg) || 'no message', apiKey).slice(0, 200);
    throw new VendorError(SOURCE, 'business_error', `${where}: ${msg} (code ${code || '?'})`, status);
  }
  if (!ok) throw httpError();
  if (!Array.isArray(json.data)) {
    throw new VendorError(SOURCE, 'malformed', `${where} answered code 0 without a data list`);
  }
  return json.data as unknown[];
}

/** A vendor message could echo what it was sent; the key must never leave this file. */
function redact(message: string, apiKey: string): string {
  return apiKey.length > 0 ? message.replaceAll(apiKey, '[redacted]') : message;
}

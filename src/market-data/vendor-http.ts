import { DomainError } from '../common/errors.js';

/** Why a vendor call failed; `no_data` is an answer with nothing usable for the instrument. */
export type VendorFailureReason =
  'timeout' | 'http_error' | 'business_error' | 'malformed' | 'network' | 'disabled' | 'no_data';

/**
 * A data vendor call that failed, with a reason safe to show (never a key or a full URL with a key).
 * `status` is the vendor's HTTP status when it answered one; what Bastion answers is `toDomainError()`.
 */
export class VendorError extends Error {
  constructor(
    readonly source: string,
    readonly reason: VendorFailureReason,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'VendorError';
  }

  /**
   * The one mapping of a vendor failure to HTTP: an unconfigured source is 503 `source_disabled`, a timeout
   * 504 `vendor_error`, anything else 502 `vendor_error` with the source and the reason.
   */
  toDomainError(): DomainError {
    if (this.reason === 'disabled') return new DomainError('source_disabled', this.message, 503);
    return new DomainError('vendor_error', this.message, this.reason === 'timeout' ? 504 : 502, {
      source: this.source,
      reason: this.reason,
    });
  }
}

/**
 * Runs a per-source route's vendor work and answers its failures through VendorError.toDomainError, so no
 * controller catches on its own. Other errors (a 400 on bad input, a 503 store_unavailable) pass unchanged.
 */
export async function fromVendor<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw err instanceof VendorError ? err.toDomainError() : err;
  }
}

export interface VendorRequest {
  source: string;
  url: URL;
  headers?: Record<string, string>;
  /** Deadline of this call; the whole request, body included. */
  deadlineMs: number;
  signal?: AbortSignal;
}

/**
 * GET a vendor's JSON with a deadline. Errors name the source, the path and the reason; the query string
 * (where some vendors take keys) is never included.
 */
export async function fetchVendorJson(req: VendorRequest): Promise<unknown> {
  const deadline = AbortSignal.timeout(req.deadlineMs);
  const signal = req.signal ? AbortSignal.any([deadline, req.signal]) : deadline;
  const where = `${req.source} ${req.url.pathname}`;
  let res: Response;
  try {
    res = await fetch(req.url, { headers: { accept: 'application/json', ...req.headers }, signal });
  } catch (err) {
    if (deadline.aborted)
      throw new VendorError(req.source, 'timeout', `${where} timed out after ${req.deadlineMs} ms`);
    throw new VendorError(req.source, 'network', `${where} unreachable: ${(err as Error).message}`);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    if (deadline.aborted)
      throw new VendorError(req.source, 'timeout', `${where} timed out after ${req.deadlineMs} ms`);
    throw new VendorError(req.source, 'network', `${where} body not received: ${(err as Error).message}`);
  }
  if (!res.ok) {
    throw new VendorError(req.source, 'http_error', `${where} answered HTTP ${res.status}`, res.status);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new VendorError(req.source, 'malformed', `${where} answered with a body that is not JSON`);
  }
}

/** A number from a number or a numeric string (vendors send both); null when absent or not numeric. */
export function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A vendor field as text: strings as they are, numbers printed, anything else empty. */
export function text(value: unknown): string {
  return typeof value === 'string'
    ? value
    : typeof value === 'number' && Number.isFinite(value)
      ? String(value)
      : '';
}

/**
 * Rejects as soon as the caller's signal fires while the shared work carries on and fills the cache.
 */
export function abandonable<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  source: string,
  where: string,
): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abandonedError(signal, source, where));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export function abandonedError(signal: AbortSignal, source: string, where: string): VendorError {
  // By name, not instanceof: the reason is a DOMException, which may come from another realm.
  const reason: unknown = signal.reason;
  return isRecord(reason) && reason.name === 'TimeoutError'
    ? new VendorError(source, 'timeout', `${where} abandoned: the caller's deadline passed`)
    : new VendorError(source, 'network', `${where} abandoned: the caller cancelled`);
}

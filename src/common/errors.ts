/** A failure with a stable code that the exception filter maps to one HTTP status. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details: Record<string, unknown> = {},
    /** Headers the answer carries (Retry-After, rate-limit state, ...). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** Headers an error asks its answer to carry (none for errors that are not domain errors). */
export const errorHeaders = (exception: unknown): Record<string, string> =>
  exception instanceof DomainError ? exception.headers : {};

/** Every provider that could serve the call failed or none is configured. */
export class ProviderUnavailableError extends DomainError {
  constructor(message: string, status: 502 | 503 | 504, details: Record<string, unknown> = {}) {
    super('provider_unavailable', message, status, details);
  }
}

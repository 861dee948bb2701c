/**
 * Typed domain errors. `kind` decides the HTTP status once, in the server's onError;
 * `code` is the stable machine-readable name clients match on.
 */
export type CaErrorKind = 'invalid' | 'not_found' | 'conflict' | 'forbidden' | 'unauthorized' | 'unavailable' | 'gone' | 'rate_limited';

export class CaError extends Error {
  constructor(
    readonly kind: CaErrorKind,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const invalid = (code: string, message: string, details?: Record<string, unknown>) => new CaError('invalid', code, message, details);
export const notFound = (code: string, message: string) => new CaError('not_found', code, message);
export const conflict = (code: string, message: string) => new CaError('conflict', code, message);

/** Whether a store error is PostgreSQL's unique_violation (23505): another writer took the same key first. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | null;
  return e?.code === '23505' || e?.cause?.code === '23505';
}

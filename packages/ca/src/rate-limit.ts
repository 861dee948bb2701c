/**
 * The per-token issuance rate limit: which limit a token has, and the GCRA (generic cell rate
 * algorithm) arithmetic. The store runs the same arithmetic in one conditional UPDATE of the
 * token's row (`takeIssuanceSlot`), so every process sharing the database shares one budget;
 * `gcra` here is its statement of record and what the unit tests check.
 */
import { CaError, invalid } from './errors.ts';
import type { TokenRecord } from './store.ts';

/** Certificates per minute a token may be given. */
export const RATE_LIMIT_MIN = 1;
export const RATE_LIMIT_MAX = 100_000;

/** The window a full burst fits in: a token may issue `limit` certificates at once, then one every T. */
export const RATE_WINDOW_MS = 60_000;

/** 422 invalid_rate_limit unless `value` is a whole number of certificates per minute in range. */
export function checkRateLimit(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < RATE_LIMIT_MIN || value > RATE_LIMIT_MAX) {
    throw invalid('invalid_rate_limit', `rateLimit is a whole number of certificates per minute, ${RATE_LIMIT_MIN} to ${RATE_LIMIT_MAX}`);
  }
  return value;
}

/**
 * The limit a token issues under, per minute: its own, else `defaultLimit` (0: none) unless it
 * carries `admin` (the operator's own tokens, benchmarks) — null: unlimited.
 */
export function effectiveRateLimit(token: Pick<TokenRecord, 'rateLimit' | 'scopes'>, defaultLimit: number): number | null {
  if (token.rateLimit !== null) return token.rateLimit;
  if (token.scopes.includes('admin') || defaultLimit <= 0) return null;
  return defaultLimit;
}

/**
 * The emission interval T in whole microseconds (what timestamptz holds), rounded down so that a
 * burst of `limit` fits the window exactly.
 */
export function emissionIntervalUs(limit: number): number {
  return Math.floor((RATE_WINDOW_MS * 1000) / limit);
}

/**
 * GCRA with burst = limit: allowed iff max(tat, now) + T - now <= the window; then the new
 * theoretical arrival time is max(tat, now) + T. Refused: the whole seconds until it would be
 * allowed (at least 1). Times in microseconds since the epoch.
 */
export function gcra(
  tatUs: number | null,
  nowUs: number,
  limit: number,
): { allowed: true; tatUs: number } | { allowed: false; retryAfterSeconds: number } {
  const next = Math.max(tatUs ?? nowUs, nowUs) + emissionIntervalUs(limit);
  if (next - nowUs <= RATE_WINDOW_MS * 1000) return { allowed: true, tatUs: next };
  return { allowed: false, retryAfterSeconds: retryAfterSeconds(tatUs, nowUs, limit) };
}

/** Retry-After of a refusal: ceil(max(tat, now) + T - window - now) seconds, at least 1. */
export function retryAfterSeconds(tatUs: number | null, nowUs: number, limit: number): number {
  const wait = Math.max(tatUs ?? nowUs, nowUs) + emissionIntervalUs(limit) - RATE_WINDOW_MS * 1000 - nowUs;
  return Math.max(1, Math.ceil(wait / 1e6));
}

/** The refusal: 429 rate_limited with Retry-After (the server sends `retryAfter` as the header). */
export function rateLimited(limit: number, retryAfter: number): CaError {
  return new CaError(
    'rate_limited',
    'rate_limited',
    `this token may issue ${limit} certificate${limit === 1 ? '' : 's'} a minute; retry in ${retryAfter} s`,
    { retryAfter, rateLimit: limit },
  );
}

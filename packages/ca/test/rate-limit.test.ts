/** The GCRA arithmetic of the issuance rate limit (rate-limit.ts), the limit check, and which limit a token has. */
import { describe, expect, it } from 'vitest';
import { CaError } from '../src/errors.ts';
import { checkRateLimit, effectiveRateLimit, emissionIntervalUs, gcra, retryAfterSeconds } from '../src/rate-limit.ts';

const S = 1_000_000; // microseconds in a second
const NOW = 1_800_000_000 * S;

/** Runs `n` requests at the times given (seconds after NOW), returning which were allowed and the last TAT. */
function run(limit: number, at: number[]): { allowed: boolean[]; retry: Array<number | null> } {
  let tat: number | null = null;
  const allowed: boolean[] = [];
  const retry: Array<number | null> = [];
  for (const t of at) {
    const r = gcra(tat, NOW + t * S, limit);
    allowed.push(r.allowed);
    if (r.allowed) {
      tat = r.tatUs;
      retry.push(null);
    } else retry.push(r.retryAfterSeconds);
  }
  return { allowed, retry };
}

describe('gcra', () => {
  it.each([1, 3, 4, 7, 60, 1000, 100_000])('a burst of exactly %i is allowed at one instant, then refused', (limit) => {
    const { allowed } = run(limit, Array(limit + 1).fill(0));
    expect(allowed.slice(0, limit).every(Boolean)).toBe(true);
    expect(allowed[limit]).toBe(false);
  });

  it('refuses with the seconds until the next emission interval frees (limit 3: T = 20 s)', () => {
    const { allowed, retry } = run(3, [0, 0, 0, 0, 19, 20, 20]);
    expect(allowed).toEqual([true, true, true, false, false, true, false]);
    expect(retry).toEqual([null, null, null, 20, 1, null, 20]);
  });

  it('a steady rate at the limit is always allowed; an idle minute restores the full burst', () => {
    expect(run(6, [0, 10, 20, 30, 40, 50, 60, 70]).allowed.every(Boolean)).toBe(true);
    const { allowed } = run(2, [0, 0, 0, 60, 60, 60]);
    expect(allowed).toEqual([true, true, false, true, true, false]);
  });

  it('Retry-After rounds up and is at least 1', () => {
    // limit 7: T = 8571428 µs. A full burst at NOW: tat = NOW + 7T; next allowed at 7T + T - 60 s = 8.571424 s.
    const tat = NOW + 7 * emissionIntervalUs(7);
    expect(retryAfterSeconds(tat, NOW, 7)).toBe(9);
    expect(retryAfterSeconds(null, NOW, 60)).toBe(1);
    expect(retryAfterSeconds(NOW - 3600 * S, NOW, 1)).toBe(1);
  });

  it('the emission interval is whole microseconds, rounded down', () => {
    expect(emissionIntervalUs(1)).toBe(60 * S);
    expect(emissionIntervalUs(7)).toBe(8_571_428);
    expect(emissionIntervalUs(100_000)).toBe(600);
  });
});

describe('checkRateLimit', () => {
  it.each([1, 60, 100_000])('accepts %s', (v) => expect(checkRateLimit(v)).toBe(v));
  it.each([0, -1, 1.5, 100_001, 1e9, Number.NaN, Number.POSITIVE_INFINITY, '5', null])('refuses %s with invalid_rate_limit', (v) => {
    expect(() => checkRateLimit(v)).toThrow(CaError);
    try {
      checkRateLimit(v);
    } catch (err) {
      expect((err as CaError).code).toBe('invalid_rate_limit');
      expect((err as CaError).kind).toBe('invalid');
    }
  });
});

describe('effectiveRateLimit', () => {
  it.each([
    { rateLimit: 5, scopes: ['certificates:issue'], def: 60, want: 5 },
    { rateLimit: null, scopes: ['certificates:issue'], def: 60, want: 60 },
    { rateLimit: null, scopes: ['certificates:issue'], def: 0, want: null },
    { rateLimit: null, scopes: ['admin'], def: 60, want: null },
    { rateLimit: 2, scopes: ['admin'], def: 60, want: 2 },
  ])('own $rateLimit, scopes $scopes, default $def: $want', ({ rateLimit, scopes, def, want }) => {
    expect(effectiveRateLimit({ rateLimit, scopes }, def)).toBe(want);
  });
});

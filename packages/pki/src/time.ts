/** X.509 / OCSP times: UTCTime or GeneralizedTime by year, whole seconds, strict decoding. */
import * as pkijs from 'pkijs';
import { PkiError } from './errors.ts';

/**
 * X.509 / OCSP times. RFC 5280 4.1.2.5: UTCTime for 1950..2049, GeneralizedTime otherwise,
 * whole seconds, always 'Z'. asn1js throws for UTCTime years >= 2050 and keeps milliseconds in
 * GeneralizedTime, so the choice and the truncation are made here, once.
 */

const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;

/** Longest DER Time this module writes: GeneralizedTime, tag + length + 15 characters. */
export const TIME_DER_MAX_LENGTH = 17;

export class TimeError extends PkiError<'invalid_time'> {
  constructor(message: string) {
    super('invalid_time', message);
  }
}

function wholeSecondsMs(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new TimeError('invalid Date (NaN)');
  return Math.floor(ms / 1000) * 1000;
}

/** The same instant with the fraction of a second dropped (RFC 5280 forbids fractions). */
export function truncateToSeconds(date: Date): Date {
  return new Date(wholeSecondsMs(date));
}

/** Whether RFC 5280 wants UTCTime for this instant (years 1950..2049). */
export function usesUtcTime(date: Date): boolean {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050;
}

export function toAsn1Time(date: Date): pkijs.Time {
  const whole = truncateToSeconds(date);
  return new pkijs.Time({ type: usesUtcTime(whole) ? 0 : 1, value: whole });
}

/**
 * Writes the DER of `date` at `out[offset]` and returns the offset after it. Allocation-free
 * because the CRL builder calls it once per revoked certificate (a million times for a big CRL).
 * `form: 'x509'` is RFC 5280's Time CHOICE; `'generalized'` is OCSP's GeneralizedTime-only rule.
 */
export function writeTimeDer(date: Date, out: Uint8Array, offset: number, form: 'x509' | 'generalized' = 'x509'): number {
  return writeTimeDerSeconds(wholeSecondsMs(date) / 1000, out, offset, form);
}

/**
 * writeTimeDer for whole seconds since 1970: the calendar by integer arithmetic (Hinnant's
 * days-to-civil), with no Date per call, for entries the store hands over as numbers.
 */
export function writeTimeDerSeconds(seconds: number, out: Uint8Array, offset: number, form: 'x509' | 'generalized' = 'x509'): number {
  if (!Number.isSafeInteger(seconds)) throw new TimeError(`${seconds} is not a whole number of seconds`);
  const days = Math.floor(seconds / 86_400);
  let rest = seconds - days * 86_400;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) throw new TimeError(`year ${year} cannot be encoded as an ASN.1 time`);
  const utc = form === 'x509' && year >= 1950 && year < 2050;
  let p = offset;
  out[p++] = utc ? TAG_UTC_TIME : TAG_GENERALIZED_TIME;
  out[p++] = utc ? 13 : 15;
  if (!utc) {
    p = two(out, p, Math.floor(year / 100));
  }
  p = two(out, p, year % 100);
  p = two(out, p, month);
  p = two(out, p, day);
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  p = two(out, p, hours);
  p = two(out, p, minutes);
  p = two(out, p, rest - minutes * 60);
  out[p++] = 0x5a; // 'Z'
  return p;
}

function two(out: Uint8Array, p: number, n: number): number {
  out[p] = 0x30 + Math.floor(n / 10);
  out[p + 1] = 0x30 + (n % 10);
  return p + 2;
}

/** RFC 5280 Time CHOICE as DER bytes, for hand-encoded structures (CRL entries). */
export function encodeTimeDer(date: Date): Uint8Array {
  const out = new Uint8Array(TIME_DER_MAX_LENGTH);
  return out.slice(0, writeTimeDer(date, out, 0, 'x509'));
}

/** GeneralizedTime DER whatever the year: OCSP (RFC 6960) has no UTCTime. */
export function encodeGeneralizedTimeDer(date: Date): Uint8Array {
  const out = new Uint8Array(TIME_DER_MAX_LENGTH);
  return out.slice(0, writeTimeDer(date, out, 0, 'generalized'));
}

/** Two ASCII digits at `p`, or -1. */
function digits2(b: Uint8Array, p: number): number {
  const hi = b[p] - 0x30;
  const lo = b[p + 1] - 0x30;
  return hi >= 0 && hi <= 9 && lo >= 0 && lo <= 9 ? hi * 10 + lo : -1;
}

/**
 * Reads the content octets of a UTCTime (tag 0x17) or GeneralizedTime (tag 0x18). Accepts only
 * the RFC 5280 forms (seconds present, 'Z'); a fraction in GeneralizedTime is tolerated on input
 * because other issuers write one, and kept to the millisecond. Digit arithmetic rather than a
 * regular expression: a large CRL has a million of these.
 */
export function decodeTimeDer(tag: number, content: Uint8Array): Date {
  const bad = (what: string) => new TimeError(`malformed ${what} "${Buffer.from(content).toString('latin1')}"`);
  let y: number;
  let p: number;
  let ms = 0;
  if (tag === TAG_UTC_TIME) {
    if (content.length !== 13 || content[12] !== 0x5a) throw bad('UTCTime');
    const yy = digits2(content, 0);
    if (yy < 0) throw bad('UTCTime');
    y = yy >= 50 ? 1900 + yy : 2000 + yy; // RFC 5280: YY >= 50 is 19YY
    p = 2;
  } else if (tag === TAG_GENERALIZED_TIME) {
    if (content.length < 15 || content[content.length - 1] !== 0x5a) throw bad('GeneralizedTime');
    const c = digits2(content, 0);
    const yy = digits2(content, 2);
    if (c < 0 || yy < 0) throw bad('GeneralizedTime');
    y = c * 100 + yy;
    p = 4;
    if (content.length > 15) {
      // ".f" to ".fffffffff" before the 'Z'
      if (content[14] !== 0x2e || content.length < 17 || content.length > 25) throw bad('GeneralizedTime');
      let frac = 0;
      let scale = 1;
      for (let i = 15; i < content.length - 1; i++) {
        const d = content[i] - 0x30;
        if (d < 0 || d > 9) throw bad('GeneralizedTime');
        if (scale < 1000) {
          frac = frac * 10 + d;
          scale *= 10;
        }
      }
      ms = Math.floor((frac * 1000) / scale);
    }
  } else {
    throw new TimeError(`tag 0x${tag.toString(16)} is not a time`);
  }
  const mo = digits2(content, p);
  const d = digits2(content, p + 2);
  const h = digits2(content, p + 4);
  const mi = digits2(content, p + 6);
  const s = digits2(content, p + 8);
  if (mo < 1 || d < 1 || h < 0 || mi < 0 || s < 0) throw bad(tag === TAG_UTC_TIME ? 'UTCTime' : 'GeneralizedTime');
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  // Date.UTC rolls 31 February into March (and maps years 0..99 to 19xx); a round trip catches
  // impossible fields.
  if (
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  ) {
    throw new TimeError(`impossible time "${Buffer.from(content).toString('latin1')}"`);
  }
  return date;
}

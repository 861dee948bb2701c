import * as pkijs from 'pkijs';

/**
 * RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, whole seconds, 'Z'.
 * asn1js throws for UTCTime years >= 2050 and keeps milliseconds in GeneralizedTime, so the
 * choice and the truncation are made here, once.
 */
export function toAsn1Time(date: Date): pkijs.Time {
  const whole = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return new pkijs.Time({ type: whole.getUTCFullYear() < 2050 ? 0 : 1, value: whole });
}

/** The same choice as raw DER bytes, for hand-encoded structures (CRL entries). */
export function encodeTimeDer(date: Date): Uint8Array {
  const iso = new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString(); // 2026-11-22T16:17:45.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // 20261122161745
  const year = date.getUTCFullYear();
  const text = year < 2050 ? `${digits.slice(2)}Z` : `${digits}Z`;
  const out = new Uint8Array(2 + text.length);
  out[0] = year < 2050 ? 0x17 : 0x18;
  out[1] = text.length;
  for (let i = 0; i < text.length; i++) out[2 + i] = text.charCodeAt(i);
  return out;
}

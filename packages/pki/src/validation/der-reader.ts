/**
 * A minimal DER reader for the judge: it hands out tag/length/value views into the input so
 * the validator can compare exact encodings (names, algorithm identifiers, key identifiers) the
 * way OpenSSL does, without a schema layer in between.
 */

export class DerError extends Error {
  readonly code = 'malformed_der';
}

export interface Tlv {
  /** The identifier octet (single-byte tags only; X.509 needs nothing else). */
  tag: number;
  /** Offset of the identifier octet in `buf`. */
  start: number;
  /** Offset of the first content octet. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
  buf: Uint8Array;
}

export const T = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8String: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  NumericString: 0x12,
  PrintableString: 0x13,
  T61String: 0x14,
  IA5String: 0x16,
  UTCTime: 0x17,
  GeneralizedTime: 0x18,
  VisibleString: 0x1a,
  UniversalString: 0x1c,
  BMPString: 0x1e,
} as const;

export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated DER element');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized DER length');
    if (p + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > limit) throw new DerError('DER element runs past its container');
  return { tag, start: offset, contentStart: p, end: p + len, buf };
}

/** Parses exactly one element spanning all of `buf`. */
export function readWhole(buf: Uint8Array, expectTag?: number): Tlv {
  const t = readTlv(buf, 0);
  if (t.end !== buf.length) throw new DerError('trailing bytes after DER element');
  if (expectTag !== undefined && t.tag !== expectTag) throw new DerError(`expected tag 0x${expectTag.toString(16)}`);
  return t;
}

export function children(t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = t.contentStart;
  while (p < t.end) {
    const c = readTlv(t.buf, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export const content = (t: Tlv): Uint8Array => t.buf.subarray(t.contentStart, t.end);
export const raw = (t: Tlv): Uint8Array => t.buf.subarray(t.start, t.end);
export const isContext = (t: Tlv, n: number): boolean => (t.tag & 0xdf) === (0x80 | n);

export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    v = v * 128 + (bytes[i] & 0x7f);
    if (!(bytes[i] & 0x80)) {
      if (parts.length === 0) {
        const first = v < 40 ? 0 : v < 80 ? 1 : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

export function oidOf(t: Tlv): string {
  if (t.tag !== T.OID) throw new DerError('expected an OID');
  return decodeOid(content(t));
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** INTEGER content as a signed bigint (two's complement). */
export function integerValue(bytes: Uint8Array): bigint {
  if (bytes.length === 0) throw new DerError('empty INTEGER');
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  if (bytes[0] & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v;
}

/** Decodes the string types X.509 names and GeneralNames use into JS text. */
export function decodeString(t: Tlv): string {
  const c = content(t);
  switch (t.tag) {
    case T.BMPString: {
      let s = '';
      for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode((c[i] << 8) | c[i + 1]);
      return s;
    }
    case T.UniversalString: {
      let s = '';
      for (let i = 0; i + 3 < c.length; i += 4) {
        const cp = ((c[i] << 24) | (c[i + 1] << 16) | (c[i + 2] << 8) | c[i + 3]) >>> 0;
        // OpenSSL's UTF-8 conversion refuses these too, so the name (and its certificate) fails to decode.
        if (cp > 0x10ffff) throw new DerError(`UniversalString holds 0x${cp.toString(16)}, which is not a Unicode code point`);
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    case T.UTF8String:
      return Buffer.from(c).toString('utf8');
    default:
      // PrintableString, IA5String, T61String (OpenSSL reads it as Latin-1), VisibleString, ...
      return Buffer.from(c).toString('latin1');
  }
}

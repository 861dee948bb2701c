/** The one walker over X.509 Names (RFC 5280 4.1.2.4): Name DER to RDNs of typed attributes, which the two formatters (names.ts, validation/x509-name.ts) print. */
import { DerError, TAG, children, content, oidOf, raw, type Tlv } from '../der.ts';

/** One AttributeTypeAndValue as read. */
export interface NameAttribute {
  oid: string;
  tag: number;
  /** The value as text (decodeDirectoryString). */
  value: string;
  /** DER of the value (for types OpenSSL does not canonicalise or print as text). */
  valueDer: Uint8Array;
}

/** A Name's RDNs in order, most significant first; each RDN holds at least one attribute. */
export type Rdns = NameAttribute[][];

/**
 * Decodes the string types met in Names and GeneralNames into JS text: UTF8String as UTF-8, BMP
 * and Universal as UCS-2/UCS-4, everything else (PrintableString, IA5String, VisibleString,
 * T61String, which OpenSSL reads as Latin-1) as Latin-1.
 */
export function decodeDirectoryString(tag: number, value: Uint8Array): string {
  switch (tag) {
    case TAG.UTF8_STRING:
      return Buffer.from(value).toString('utf8');
    case TAG.BMP_STRING: {
      let out = '';
      for (let i = 0; i + 1 < value.length; i += 2) out += String.fromCharCode((value[i] << 8) | value[i + 1]);
      return out;
    }
    case TAG.UNIVERSAL_STRING: {
      let out = '';
      for (let i = 0; i + 3 < value.length; i += 4) {
        const cp = ((value[i] << 24) | (value[i + 1] << 16) | (value[i + 2] << 8) | value[i + 3]) >>> 0;
        // OpenSSL's UTF-8 conversion refuses these too, so the name (and its certificate) fails to decode.
        if (cp > 0x10ffff) throw new DerError(`UniversalString holds 0x${cp.toString(16)}, which is not a Unicode code point`);
        out += String.fromCodePoint(cp);
      }
      return out;
    }
    default:
      return Buffer.from(value).toString('latin1');
  }
}

/** AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }. */
export function readAttribute(t: Tlv): NameAttribute {
  if (t.tag !== TAG.SEQUENCE) throw new DerError('AttributeTypeAndValue is not a SEQUENCE');
  const parts = children(t);
  const [type, value] = parts;
  if (!type || !value || parts.length > 2) throw new DerError('malformed AttributeTypeAndValue');
  return { oid: oidOf(type), tag: value.tag, value: decodeDirectoryString(value.tag, content(value)), valueDer: raw(value) };
}

/**
 * Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue), read in the mode
 * `name` was read in (the judge's lenient one, or DER); throws DerError on anything else.
 */
export function readRdns(name: Tlv): Rdns {
  if (name.tag !== TAG.SEQUENCE) throw new DerError('Name is not a SEQUENCE');
  return children(name).map((set) => {
    if (set.tag !== TAG.SET) throw new DerError('RDN is not a SET');
    const attrs = children(set).map(readAttribute);
    if (attrs.length === 0) throw new DerError('empty RDN');
    return attrs;
  });
}

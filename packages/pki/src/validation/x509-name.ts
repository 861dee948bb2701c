/**
 * X.509 Names as OpenSSL sees them: a canonical form for comparison (X509_NAME_cmp compares a
 * lower-cased, whitespace-folded UTF-8 re-encoding, so "CN=Foo  Bar" equals "cn=foo bar" in a
 * PrintableString or a UTF8String) and the one-line text `openssl x509 -subject` prints
 * (XN_FLAG_ONELINE: "C = DE, O = Example, CN = partner-a").
 */
import { DerError, LENIENT, TAG, bytesToHex, children, content, oidOf, raw, readOne, type Tlv } from '../der.ts';
import { decodeDirectoryString } from '../names.ts';
import { ATTRIBUTE_SHORT_NAMES } from '../oids.ts';

export interface NameAttribute {
  oid: string;
  tag: number;
  value: string;
  /** DER of the value (for types OpenSSL does not canonicalise or print as text). */
  valueDer: Uint8Array;
}

export interface NameModel {
  der: Uint8Array;
  rdns: NameAttribute[][];
  /** Equal for two names exactly when OpenSSL's X509_NAME_cmp says they are equal. */
  canon: string;
  /** Canonical form per RDN, for prefix matching (name constraints on directory names). */
  canonRdns: string[];
  oneline: string;
}

/** String types OpenSSL folds for comparison (ASN1_MASK_CANON). NumericString is not one. */
const CANON_TYPES = new Set<number>([
  TAG.UTF8_STRING,
  TAG.BMP_STRING,
  TAG.UNIVERSAL_STRING,
  TAG.PRINTABLE_STRING,
  TAG.T61_STRING,
  TAG.IA5_STRING,
  TAG.VISIBLE_STRING,
]);
/** Types printed as text rather than dumped as #hex (tag2nbyte in a_strex.c). */
const PRINTABLE_TYPES = new Set<number>([...CANON_TYPES, TAG.NUMERIC_STRING, TAG.UTC_TIME, TAG.GENERALIZED_TIME]);

const isSpace = (c: string): boolean => c === ' ' || (c >= '\t' && c <= '\r');

/** One attribute in OpenSSL's canonical form (asn1_string_canon). */
export function canonValue(a: NameAttribute): string {
  if (!CANON_TYPES.has(a.tag)) return `#${a.tag}:${bytesToHex(a.valueDer)}`;
  let s = a.value;
  let i = 0;
  let j = s.length;
  while (i < j && isSpace(s[i])) i++;
  while (j > i && isSpace(s[j - 1])) j--;
  s = s.slice(i, j);
  let out = '';
  let prevSpace = false;
  for (const ch of s) {
    if (isSpace(ch)) {
      if (!prevSpace) out += ' ';
      prevSpace = true;
      continue;
    }
    prevSpace = false;
    out += ch >= 'A' && ch <= 'Z' ? ch.toLowerCase() : ch;
  }
  return `s:${out}`;
}

const SPECIAL = new Set([',', '+', '<', '>', ';']);

/** do_print_ex with ASN1_STRFLGS_RFC2253 | ASN1_STRFLGS_ESC_QUOTE. */
function printValue(a: NameAttribute): string {
  if (!PRINTABLE_TYPES.has(a.tag)) return `#${bytesToHex(a.valueDer).toUpperCase()}`;
  // Every string type is converted to UTF-8 first (ASN1_STRFLGS_UTF8_CONVERT); bytes above
  // 0x7f and control characters are then escaped as \XX (ESC_MSB, ESC_CTRL).
  const utf8 = Buffer.from(a.value, 'utf8');
  let quote = false;
  let out = '';
  for (let i = 0; i < utf8.length; i++) {
    const c = utf8[i];
    const ch = String.fromCharCode(c);
    if (c > 0x7f || c < 0x20 || c === 0x7f) {
      out += `\\${c.toString(16).toUpperCase().padStart(2, '0')}`;
      continue;
    }
    // Backslash and double quote are escaped; the other RFC 2253 specials (and a leading space
    // or '#', a trailing space) make OpenSSL quote the whole value instead.
    if (ch === '\\' || ch === '"') {
      out += `\\${ch}`;
      continue;
    }
    if (SPECIAL.has(ch) || (i === 0 && (ch === ' ' || ch === '#')) || (i === utf8.length - 1 && ch === ' ')) quote = true;
    out += ch;
  }
  return quote ? `"${out}"` : out;
}

export function readAttribute(t: Tlv): NameAttribute {
  if (t.tag !== TAG.SEQUENCE) throw new DerError('AttributeTypeAndValue is not a SEQUENCE');
  const [type, value, ...rest] = children(t);
  if (!type || !value || rest.length) throw new DerError('malformed AttributeTypeAndValue');
  return { oid: oidOf(type), tag: value.tag, value: decodeDirectoryString(value.tag, content(value)), valueDer: raw(value) };
}

export function parseNameTlv(t: Tlv): NameModel {
  if (t.tag !== TAG.SEQUENCE) throw new DerError('Name is not a SEQUENCE');
  const rdns = children(t).map((set) => {
    if (set.tag !== TAG.SET) throw new DerError('RDN is not a SET');
    const attrs = children(set).map(readAttribute);
    if (attrs.length === 0) throw new DerError('empty RDN');
    return attrs;
  });
  const canonRdns = rdns.map((rdn) =>
    rdn
      .map((a) => `${a.oid}=${canonValue(a)}`)
      .sort()
      .join('\u0001'),
  );
  const oneline = rdns.map((rdn) => rdn.map((a) => `${ATTRIBUTE_SHORT_NAMES[a.oid] ?? a.oid} = ${printValue(a)}`).join(' + ')).join(', ');
  return { der: raw(t), rdns, canonRdns, canon: canonRdns.join('\u0002'), oneline };
}

export function parseName(der: Uint8Array): NameModel {
  return parseNameTlv(readOne(der, LENIENT));
}

export function namesEqual(a: NameModel, b: NameModel): boolean {
  return a.canon === b.canon;
}

/** Values of one attribute type, in order (e.g. every CN). */
export function attributeValues(name: NameModel, oid: string): NameAttribute[] {
  return name.rdns.flat().filter((a) => a.oid === oid);
}

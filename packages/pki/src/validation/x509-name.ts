/**
 * X.509 Names as OpenSSL sees them: a canonical form for comparison (X509_NAME_cmp compares a
 * lower-cased, whitespace-folded UTF-8 re-encoding, so "CN=Foo  Bar" equals "cn=foo bar" in a
 * PrintableString or a UTF8String) and the one-line text `openssl x509 -subject` prints
 * (XN_FLAG_ONELINE: "C = DE, O = Example, CN = partner-a").
 */
import { LENIENT, TAG, bytesToHex, raw, readOne, type Tlv } from '../der.ts';
import { ATTRIBUTE_SHORT_NAMES } from '../oids.ts';
import { readRdns, type NameAttribute, type Rdns } from '../x509/name-reader.ts';

export type { NameAttribute };

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

/** One RDN in canonical form: its attributes sorted, as X509_NAME_cmp's re-encoding orders a SET. */
export function canonRdn(rdn: NameAttribute[]): string {
  return rdn
    .map((a) => `${a.oid}=${canonValue(a)}`)
    .sort()
    .join('\u0001');
}

/** The OpenSSL formatter: RDNs as `openssl x509 -subject` prints them (XN_FLAG_ONELINE). */
export function formatNameOneline(rdns: Rdns): string {
  return rdns.map((rdn) => rdn.map((a) => `${ATTRIBUTE_SHORT_NAMES[a.oid] ?? a.oid} = ${printValue(a)}`).join(' + ')).join(', ');
}

/** The judge's model of a Name, over the one Name walker (x509/name-reader.ts). */
export function parseNameTlv(t: Tlv): NameModel {
  const rdns = readRdns(t);
  const canonRdns = rdns.map(canonRdn);
  return { der: raw(t), rdns, canonRdns, canon: canonRdns.join('\u0002'), oneline: formatNameOneline(rdns) };
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

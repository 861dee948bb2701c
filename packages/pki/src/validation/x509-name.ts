/**
 * X.509 Names as OpenSSL sees them: a canonical form for comparison (X509_NAME_cmp compares a
 * lower-cased, whitespace-folded UTF-8 re-encoding, so "CN=Foo  Bar" equals "cn=foo bar" in a
 * PrintableString or a UTF8String) and the one-line text `openssl x509 -subject` prints
 * (XN_FLAG_ONELINE: "C = DE, O = Example, CN = partner-a").
 */
import { DerError, T, children, decodeString, oidOf, raw, readWhole, toHex, type Tlv } from './der-reader.ts';

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

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

/** String types OpenSSL folds for comparison (ASN1_MASK_CANON). NumericString is not one. */
const CANON_TYPES = new Set<number>([
  T.UTF8String,
  T.BMPString,
  T.UniversalString,
  T.PrintableString,
  T.T61String,
  T.IA5String,
  T.VisibleString,
]);
/** Types printed as text rather than dumped as #hex (tag2nbyte in a_strex.c). */
const PRINTABLE_TYPES = new Set<number>([...CANON_TYPES, T.NumericString, T.UTCTime, T.GeneralizedTime]);

const isSpace = (c: string): boolean => c === ' ' || (c >= '\t' && c <= '\r');

/** One attribute in OpenSSL's canonical form (asn1_string_canon). */
export function canonValue(a: NameAttribute): string {
  if (!CANON_TYPES.has(a.tag)) return `#${a.tag}:${toHex(a.valueDer)}`;
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
  if (!PRINTABLE_TYPES.has(a.tag)) return `#${toHex(a.valueDer).toUpperCase()}`;
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
  if (t.tag !== T.SEQUENCE) throw new DerError('AttributeTypeAndValue is not a SEQUENCE');
  const [type, value, ...rest] = children(t);
  if (!type || !value || rest.length) throw new DerError('malformed AttributeTypeAndValue');
  return { oid: oidOf(type), tag: value.tag, value: decodeString(value), valueDer: raw(value) };
}

export function parseNameTlv(t: Tlv): NameModel {
  if (t.tag !== T.SEQUENCE) throw new DerError('Name is not a SEQUENCE');
  const rdns = children(t).map((set) => {
    if (set.tag !== T.SET) throw new DerError('RDN is not a SET');
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
  const oneline = rdns
    .map((rdn) => rdn.map((a) => `${SHORT_NAMES[a.oid] ?? a.oid} = ${printValue(a)}`).join(' + '))
    .join(', ');
  return { der: raw(t), rdns, canonRdns, canon: canonRdns.join('\u0002'), oneline };
}

export function parseName(der: Uint8Array): NameModel {
  return parseNameTlv(readWhole(der));
}

export function namesEqual(a: NameModel, b: NameModel): boolean {
  return a.canon === b.canon;
}

/** Values of one attribute type, in order (e.g. every CN). */
export function attributeValues(name: NameModel, oid: string): NameAttribute[] {
  return name.rdns.flat().filter((a) => a.oid === oid);
}

/** X.509 names: subject and SAN building and reading, IP address forms, and the one directory-string decoder. */
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { ATTRIBUTE_SHORT_NAMES, OID } from './oids.ts';
import { DerError, encodeOid, readOne, readTlv, TAG, tlv } from './der.ts';
import { decodeDirectoryString, readRdns, type Rdns } from './x509/name-reader.ts';

/** Subject attributes Anvil writes, by their short names. */
export interface SubjectInput {
  CN?: string;
  O?: string;
  OU?: string;
  L?: string;
  ST?: string;
  C?: string;
}

/** Subject alternative names by type, as the API and profiles name them. */
export interface Sans {
  dns: string[];
  ip: string[];
  uri: string[];
  email: string[];
}

export const SAN_TYPES = ['dns', 'ip', 'uri', 'email'] as const;
export type SanType = (typeof SAN_TYPES)[number];

export function emptySans(): Sans {
  return { dns: [], ip: [], uri: [], email: [] };
}

export function sanCount(sans: Sans): number {
  return sans.dns.length + sans.ip.length + sans.uri.length + sans.email.length;
}

// Attribute order as written into a Name (RFC 4514 readers show it reversed).
const SUBJECT_ATTRIBUTES: Array<[keyof SubjectInput, string]> = [
  ['C', OID.countryName],
  ['ST', OID.stateOrProvinceName],
  ['L', OID.localityName],
  ['O', OID.organizationName],
  ['OU', OID.organizationalUnitName],
  ['CN', OID.commonName],
];

/**
 * The attribute types Anvil's own formatter (formatName, nameToString) and readers (readNameRecordDer, CSR subjects) call by a short
 * name; any other type keeps its dotted OID there. The short names come from the one table.
 */
const SHORT_NAMES: Record<string, string> = Object.fromEntries(
  [
    OID.countryName,
    OID.stateOrProvinceName,
    OID.localityName,
    OID.organizationName,
    OID.organizationalUnitName,
    OID.commonName,
    OID.serialNumber,
    OID.emailAddress,
  ].map((oid) => [oid, ATTRIBUTE_SHORT_NAMES[oid]]),
);

/**
 * Builds a Name; countryName is a PrintableString (RFC 5280), everything else UTF8String.
 * One attribute per RDN, as every mainstream CA writes names. pkijs would put all attributes
 * into one multi-valued RDN ("O = Anvil + CN = Root"), so the SEQUENCE OF SET is built here
 * and parsed back, which makes pkijs re-emit exactly these bytes.
 */
export function buildName(subject: SubjectInput): pkijs.RelativeDistinguishedNames {
  const rdns: asn1js.Set[] = [];
  for (const [key, oid] of SUBJECT_ATTRIBUTES) {
    const value = subject[key];
    if (value === undefined || value === '') continue;
    const typeAndValue = new pkijs.AttributeTypeAndValue({
      type: oid,
      value: key === 'C' ? new asn1js.PrintableString({ value }) : new asn1js.Utf8String({ value }),
    });
    rdns.push(new asn1js.Set({ value: [typeAndValue.toSchema()] }));
  }
  const der = new asn1js.Sequence({ value: rdns }).toBER(false);
  return new pkijs.RelativeDistinguishedNames({ schema: asn1js.fromBER(der).result });
}

/** A Name as one line, most significant first: "C=DE, O=Example, CN=partner-a" (formatName over its DER). */
export function nameToString(name: pkijs.RelativeDistinguishedNames): string {
  return nameDerToString(new Uint8Array(name.toSchema().toBER(false)));
}

export function ipToBytes(ip: string): Uint8Array {
  const kind = isIP(ip);
  if (kind === 4) return new Uint8Array(ip.split('.').map(Number));
  if (kind === 6) {
    const [head, tail = ''] = ip.includes('::') ? ip.split('::') : [ip, undefined as unknown as string];
    const parse = (s: string) => (s ? s.split(':') : []);
    let headParts = parse(head);
    let tailParts = ip.includes('::') ? parse(tail) : [];
    // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hextets.
    const expandV4 = (parts: string[]) => {
      const last = parts[parts.length - 1];
      if (last?.includes('.')) {
        const b = last.split('.').map(Number);
        return [...parts.slice(0, -1), ((b[0] << 8) | b[1]).toString(16), ((b[2] << 8) | b[3]).toString(16)];
      }
      return parts;
    };
    headParts = expandV4(headParts);
    tailParts = expandV4(tailParts);
    const missing = 8 - headParts.length - tailParts.length;
    const all = [...headParts, ...Array(ip.includes('::') ? missing : 0).fill('0'), ...tailParts];
    const bytes = new Uint8Array(16);
    all.forEach((h, i) => {
      const v = parseInt(h, 16);
      bytes[i * 2] = v >> 8;
      bytes[i * 2 + 1] = v & 0xff;
    });
    return bytes;
  }
  throw new Error(`not an IP address: ${ip}`);
}

export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length === 16) {
    const hextets: string[] = [];
    for (let i = 0; i < 16; i += 2) hextets.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
    // Canonical form: compress the longest run of zero hextets.
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < 8; ) {
      if (hextets[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && hextets[j] === '0') j++;
      if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
      i = j;
    }
    if (best < 0) return hextets.join(':');
    return `${hextets.slice(0, best).join(':')}::${hextets.slice(best + bestLen).join(':')}`;
  }
  return Buffer.from(bytes).toString('hex');
}

/** GeneralNames for a SAN extension, in a stable order: DNS, IP, URI, email. */
export function buildGeneralNames(sans: Sans): pkijs.GeneralName[] {
  return [
    ...sans.dns.map((value) => new pkijs.GeneralName({ type: 2, value })),
    ...sans.ip.map((ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipToBytes(ip) }) })),
    ...sans.uri.map((value) => new pkijs.GeneralName({ type: 6, value })),
    ...sans.email.map((value) => new pkijs.GeneralName({ type: 1, value })),
  ];
}

// ---- direct DER (the issuance hot path: no asn1js objects) ------------------------------------

const OID_DER = new Map<string, Uint8Array>();

/** DER of an OBJECT IDENTIFIER, cached: the same few OIDs are written into every certificate. */
export function oidDer(oid: string): Uint8Array {
  let der = OID_DER.get(oid);
  if (!der) {
    der = encodeOid(oid);
    OID_DER.set(oid, der);
  }
  return der;
}

const utf8 = new TextEncoder();

/** IA5String / PrintableString content: ASCII only, refused otherwise (never silently truncated). */
export function asciiBytes(value: string, what: string): Uint8Array {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7e) throw new Error(`${what} "${value}" is not ASCII`);
  }
  return new Uint8Array(Buffer.from(value, 'latin1'));
}

/**
 * The same Name as buildName, as DER: one attribute per RDN, countryName PrintableString,
 * everything else UTF8String.
 */
export function encodeName(subject: SubjectInput): Uint8Array {
  const rdns: Uint8Array[] = [];
  for (const [key, oid] of SUBJECT_ATTRIBUTES) {
    const value = subject[key];
    if (value === undefined || value === '') continue;
    const text = key === 'C' ? tlv(0x13, asciiBytes(value, 'countryName')) : tlv(0x0c, utf8.encode(value));
    rdns.push(tlv(TAG.SET, tlv(TAG.SEQUENCE, oidDer(oid), text)));
  }
  return tlv(TAG.SEQUENCE, ...rdns);
}

/** What nameToString(buildName(subject)) says, without building the Name. */
export function subjectToString(subject: SubjectInput): string {
  return SUBJECT_ATTRIBUTES.filter(([key]) => subject[key] !== undefined && subject[key] !== '')
    .map(([key]) => `${key}=${subject[key]}`)
    .join(', ');
}

/** GeneralNames DER for a SAN extension, in buildGeneralNames' order: DNS, IP, URI, email. */
export function encodeGeneralNames(sans: Sans): Uint8Array {
  return tlv(
    TAG.SEQUENCE,
    ...sans.dns.map((v) => tlv(0x82, asciiBytes(v, 'dNSName'))),
    ...sans.ip.map((v) => tlv(0x87, ipToBytes(v))),
    ...sans.uri.map((v) => tlv(0x86, asciiBytes(v, 'URI'))),
    ...sans.email.map((v) => tlv(0x81, asciiBytes(v, 'rfc822Name'))),
  );
}

/** Reads GeneralNames DER (the content of a SAN extension) into Sans; other name types are ignored. */
export function readGeneralNamesDer(der: Uint8Array): Sans {
  const sans = emptySans();
  const seq = readTlv(der, 0);
  if (seq.tag !== TAG.SEQUENCE || seq.end !== der.length) throw new Error('GeneralNames is not one SEQUENCE');
  for (let p = seq.contentStart; p < seq.end; ) {
    const n = readTlv(der, p, seq.end);
    const value = der.subarray(n.contentStart, n.end);
    if (n.tag === 0x82) sans.dns.push(Buffer.from(value).toString('latin1'));
    else if (n.tag === 0x86) sans.uri.push(Buffer.from(value).toString('latin1'));
    else if (n.tag === 0x81) sans.email.push(Buffer.from(value).toString('latin1'));
    else if (n.tag === 0x87) sans.ip.push(bytesToIp(value));
    p = n.end;
  }
  return sans;
}

export { decodeDirectoryString };

/** A Name's attributes in order, as [OID, value], from the one Name walker; throws DerError on a malformed Name. */
export function readNameDer(der: Uint8Array, name = readTlv(der, 0)): Array<[string, string]> {
  return readRdns(name)
    .flat()
    .map((a): [string, string] => [a.oid, a.value]);
}

/** The string types Anvil's formatter prints; pkijs, which it replaced, refused other values (e.g. a GeneralizedTime "a"). */
const TEXT_TYPES = new Set<number>([
  TAG.UTF8_STRING,
  TAG.NUMERIC_STRING,
  TAG.PRINTABLE_STRING,
  TAG.T61_STRING,
  TAG.IA5_STRING,
  TAG.VISIBLE_STRING,
  TAG.UNIVERSAL_STRING,
  TAG.BMP_STRING,
]);

/** Anvil's formatter: RDNs as one line, most significant first, "C=DE, O=Example, CN=partner-a". */
export function formatName(rdns: Rdns): string {
  return rdns
    .flat()
    .map((a) => {
      if (!TEXT_TYPES.has(a.tag)) throw new DerError(`attribute ${a.oid} is not a directory string`);
      return `${SHORT_NAMES[a.oid] ?? a.oid}=${a.value}`;
    })
    .join(', ');
}

/** A Name's DER as one line (formatName). */
export function nameDerToString(der: Uint8Array): string {
  return formatName(readRdns(readOne(der)));
}

/** A Name's DER as short-name -> value, the last value winning (CSR subjects, renewal). */
export function readNameRecordDer(der: Uint8Array, name?: ReturnType<typeof readTlv>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [oid, value] of readNameDer(der, name)) out[SHORT_NAMES[oid] ?? oid] = value;
  return out;
}

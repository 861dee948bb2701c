import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from './oids.ts';

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

const SHORT_NAMES: Record<string, string> = {
  [OID.countryName]: 'C',
  [OID.stateOrProvinceName]: 'ST',
  [OID.localityName]: 'L',
  [OID.organizationName]: 'O',
  [OID.organizationalUnitName]: 'OU',
  [OID.commonName]: 'CN',
  [OID.serialNumber]: 'serialNumber',
  [OID.emailAddress]: 'emailAddress',
};

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

/** Reads a Name into short-name -> value (last value wins for repeated attributes). */
export function readName(name: pkijs.RelativeDistinguishedNames): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tv of name.typesAndValues) {
    out[SHORT_NAMES[tv.type] ?? tv.type] = String(tv.value.valueBlock.value);
  }
  return out;
}

/** A Name as one line, most significant first: "C=DE, O=Example, CN=partner-a". */
export function nameToString(name: pkijs.RelativeDistinguishedNames): string {
  return name.typesAndValues
    .map((tv) => `${SHORT_NAMES[tv.type] ?? tv.type}=${String(tv.value.valueBlock.value)}`)
    .join(', ');
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
      if (last && last.includes('.')) {
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
    ...sans.ip.map(
      (ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipToBytes(ip) }) }),
    ),
    ...sans.uri.map((value) => new pkijs.GeneralName({ type: 6, value })),
    ...sans.email.map((value) => new pkijs.GeneralName({ type: 1, value })),
  ];
}

/** Reads GeneralNames back into Sans; other name types are ignored. */
export function readGeneralNames(names: pkijs.GeneralName[]): Sans {
  const sans = emptySans();
  for (const n of names) {
    if (n.type === 2) sans.dns.push(String(n.value));
    else if (n.type === 6) sans.uri.push(String(n.value));
    else if (n.type === 1) sans.email.push(String(n.value));
    else if (n.type === 7) sans.ip.push(bytesToIp(new Uint8Array((n.value as asn1js.OctetString).valueBlock.valueHexView)));
  }
  return sans;
}

/**
 * Keys made here, never on the server: a key pair from node:crypto and a PKCS#10 request
 * (RFC 2986) carrying the CN in the subject and the SANs in an extensionRequest attribute
 * (PKCS#9), signed with the new key as proof of possession.
 */
import { generateKeyPair as nodeGenerateKeyPair, sign, type KeyObject } from 'node:crypto';
import { isIP, isIPv4 } from 'node:net';
import { promisify } from 'node:util';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { CliError } from './errors.ts';

const generateKeyPairAsync = promisify(nodeGenerateKeyPair);

export const KEY_ALGORITHMS = ['EC-P256', 'EC-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export interface Sans {
  dns: string[];
  ip: string[];
  uri: string[];
  email: string[];
}

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  ed25519: '1.3.101.112',
};

export async function generateKeyPair(algorithm: KeyAlgorithm): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  switch (algorithm) {
    case 'EC-P256':
      return generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    case 'EC-P384':
      return generateKeyPairAsync('ec', { namedCurve: 'P-384' });
    case 'Ed25519':
      return generateKeyPairAsync('ed25519');
    default:
      return generateKeyPairAsync('rsa', { modulusLength: Number(algorithm.slice(4)), publicExponent: 65537 });
  }
}

/** Signature algorithm for a key: its OID, whether it carries NULL parameters, and node's digest name. */
function signatureAlgorithmOf(key: KeyObject): { oid: string; nullParams: boolean; hash: string | null } {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
        ? { oid: OID.ecdsaWithSha384, nullParams: false, hash: 'sha384' }
        : { oid: OID.ecdsaWithSha256, nullParams: false, hash: 'sha256' };
    case 'rsa':
      return { oid: OID.sha256WithRsa, nullParams: true, hash: 'sha256' };
    case 'ed25519':
      return { oid: OID.ed25519, nullParams: false, hash: null };
    default:
      throw new CliError(`keys of type ${key.asymmetricKeyType} are not supported (use EC, RSA or Ed25519)`);
  }
}

/** `dns:a.example`, `uri:spiffe://…`, `ip:10.0.0.1`, `email:a@b`; a bare value is an IP if it parses as one, else DNS. */
export function parseSans(values: string[]): Sans {
  const sans: Sans = { dns: [], ip: [], uri: [], email: [] };
  for (const raw of values) {
    const m = /^(dns|ip|uri|email):(.*)$/i.exec(raw);
    const [kind, value] = m ? [m[1].toLowerCase() as keyof Sans, m[2]] : [isIP(raw) ? 'ip' : 'dns', raw] as const;
    if (!value) throw new CliError(`--san ${raw}: the value is empty (write it as dns:NAME, ip:ADDRESS, uri:URI or email:ADDRESS)`);
    if (kind === 'ip' && !isIP(value)) throw new CliError(`--san ${raw}: "${value}" is not an IP address`);
    sans[kind as keyof Sans].push(value);
  }
  return sans;
}

function ipBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return new Uint8Array(ip.split('.').map(Number));
  // Expand "::" and an embedded dotted quad into eight 16-bit groups.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

function generalNames(sans: Sans): pkijs.GeneralNames {
  return new pkijs.GeneralNames({
    names: [
      ...sans.dns.map((value) => new pkijs.GeneralName({ type: 2, value })),
      ...sans.ip.map((ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(ip) }) })),
      ...sans.uri.map((value) => new pkijs.GeneralName({ type: 6, value })),
      ...sans.email.map((value) => new pkijs.GeneralName({ type: 1, value })),
    ],
  });
}

/** A signed PKCS#10 request, PEM. */
export function buildCsr(params: { privateKey: KeyObject; publicKey: KeyObject; commonName?: string; sans: Sans }): string {
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  if (params.commonName) {
    csr.subject.typesAndValues.push(
      new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: params.commonName }) }),
    );
  }
  const spki = params.publicKey.export({ format: 'der', type: 'spki' });
  csr.subjectPublicKeyInfo = new pkijs.PublicKeyInfo({ schema: asn1js.fromBER(new Uint8Array(spki)).result });

  const names = generalNames(params.sans);
  if (names.names.length) {
    const extensions = new pkijs.Extensions({
      extensions: [
        new pkijs.Extension({
          extnID: OID.subjectAltName,
          // An empty subject makes the SAN critical (RFC 5280 4.2.1.6).
          critical: !params.commonName,
          extnValue: names.toSchema().toBER(false),
        }),
      ],
    });
    csr.attributes = [new pkijs.Attribute({ type: OID.extensionRequest, values: [extensions.toSchema()] })];
  }

  const alg = signatureAlgorithmOf(params.privateKey);
  csr.signatureAlgorithm = new pkijs.AlgorithmIdentifier({
    algorithmId: alg.oid,
    ...(alg.nullParams ? { algorithmParams: new asn1js.Null() } : {}),
  });
  // The first element of the request is the CertificationRequestInfo: what gets signed.
  const tbs = new Uint8Array((csr.toSchema(true) as asn1js.Sequence).valueBlock.value[0].toBER(false));
  csr.tbsView = tbs;
  // node:crypto gives ECDSA signatures in DER SEQUENCE { r, s }, as PKCS#10 wants them.
  const signature = sign(alg.hash, tbs, params.privateKey);
  csr.signatureValue = new asn1js.BitString({ valueHex: signature });
  return pem(new Uint8Array(csr.toSchema().toBER(false)), 'CERTIFICATE REQUEST');
}

export function pem(der: Uint8Array, label: string): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

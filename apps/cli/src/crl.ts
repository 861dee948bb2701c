/** Reads a CRL (RFC 5280 section 5) with pkijs, and checks its signature with node:crypto. */
import { createPublicKey, verify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { CliError } from './errors.ts';

const REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  '(unused 7)',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

const NAMES: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST' };

const HASHES: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
};

export interface CrlEntry {
  serial: string;
  revocationDate: Date;
  reason: string | null;
}

export interface CrlInfo {
  issuer: string;
  number: string | null;
  thisUpdate: Date;
  nextUpdate: Date | null;
  signatureAlgorithm: string;
  entries: CrlEntry[];
  /** Set when an issuer certificate was given: whether the CRL's signature verifies with its key. */
  signatureValid?: boolean;
}

export function nameToString(name: pkijs.RelativeDistinguishedNames): string {
  return name.typesAndValues.map((tv) => `${NAMES[tv.type] ?? tv.type}=${tv.value.valueBlock.value}`).join(', ');
}

function integerHex(value: asn1js.Integer): string {
  return Buffer.from(value.valueBlock.valueHexView).toString('hex');
}

/** Accepts DER or PEM ("X509 CRL"). */
export function parseCrl(bytes: Uint8Array, issuerCertificateDer?: Uint8Array): CrlInfo {
  const der = fromMaybePem(bytes, 'X509 CRL');
  let crl: pkijs.CertificateRevocationList;
  try {
    const asn = asn1js.fromBER(der);
    if (asn.offset === -1) throw new Error('not BER');
    crl = new pkijs.CertificateRevocationList({ schema: asn.result });
  } catch {
    throw new CliError('that is not a CRL (expected DER or PEM "X509 CRL")');
  }
  const numberExt = crl.crlExtensions?.extensions.find((e) => e.extnID === '2.5.29.20');
  let number: string | null = null;
  if (numberExt) {
    const parsed = asn1js.fromBER(numberExt.extnValue.valueBlock.valueHexView).result as asn1js.Integer;
    number = BigInt(`0x${integerHex(parsed) || '0'}`).toString();
  }
  const entries: CrlEntry[] = (crl.revokedCertificates ?? []).map((rc) => {
    const reasonExt = rc.crlEntryExtensions?.extensions.find((e) => e.extnID === '2.5.29.21');
    let reason: string | null = null;
    if (reasonExt) {
      const code = (asn1js.fromBER(reasonExt.extnValue.valueBlock.valueHexView).result as asn1js.Enumerated).valueBlock.valueDec;
      reason = REASONS[code] ?? `reason ${code}`;
    }
    return { serial: integerHex(rc.userCertificate), revocationDate: rc.revocationDate.value, reason };
  });
  const info: CrlInfo = {
    issuer: nameToString(crl.issuer),
    number,
    thisUpdate: crl.thisUpdate.value,
    nextUpdate: crl.nextUpdate?.value ?? null,
    signatureAlgorithm: crl.signatureAlgorithm.algorithmId,
    entries,
  };
  if (issuerCertificateDer) {
    const cert = new pkijs.Certificate({ schema: asn1js.fromBER(fromMaybePem(issuerCertificateDer, 'CERTIFICATE')).result });
    const key = createPublicKey({ key: Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER(false)), format: 'der', type: 'spki' });
    const alg = crl.signatureAlgorithm.algorithmId;
    info.signatureValid =
      alg in HASHES && verify(HASHES[alg], crl.tbsView, key, Buffer.from(crl.signatureValue.valueBlock.valueHexView));
  }
  return info;
}

function fromMaybePem(bytes: Uint8Array, label: string): Uint8Array {
  const text = Buffer.from(bytes.subarray(0, 100)).toString('latin1');
  if (!text.includes('-----BEGIN')) return bytes;
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(Buffer.from(bytes).toString('latin1'));
  if (!m) throw new CliError(`no PEM block labelled ${label}`);
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

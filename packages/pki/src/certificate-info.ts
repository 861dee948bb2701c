/** A certificate as people read it (API, UI): the fields shown, from a pkijs parse. */
import type * as pkijs from 'pkijs';
import { fingerprintSha256, getExtension, parseCertificate } from './certificate.ts';
import { nameToString, readGeneralNames, emptySans, type Sans } from './names.ts';
import { extKeyUsageName, KEY_USAGE_BITS, OID } from './oids.ts';

/** A certificate as people read it: the fields the API, the judge and the UI show. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  sans: Sans;
  keyUsage: string[];
  extendedKeyUsage: string[];
  isCA: boolean;
  fingerprintSha256: string;
}

export function keyUsageNames(cert: pkijs.Certificate): string[] {
  const ext = getExtension(cert, OID.keyUsage);
  if (!ext) return [];
  const bits = new Uint8Array((ext.parsedValue as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView);
  return Object.entries(KEY_USAGE_BITS)
    .filter(([, bit]) => (bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7)))
    .map(([name]) => name);
}

export function extKeyUsageOids(cert: pkijs.Certificate): string[] | null {
  const ext = getExtension(cert, OID.extKeyUsage);
  return ext ? (ext.parsedValue as pkijs.ExtKeyUsage).keyPurposes : null;
}

export function certificateSans(cert: pkijs.Certificate): Sans {
  const ext = getExtension(cert, OID.subjectAltName);
  return ext ? readGeneralNames((ext.parsedValue as pkijs.AltName).altNames) : emptySans();
}

export function isCaCertificate(cert: pkijs.Certificate): boolean {
  const ext = getExtension(cert, OID.basicConstraints);
  return Boolean(ext && (ext.parsedValue as pkijs.BasicConstraints).cA);
}

export function serialHexOf(cert: pkijs.Certificate): string {
  return Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString('hex');
}

export function describeCertificate(der: Uint8Array, parsed = parseCertificate(der)): CertificateInfo {
  return {
    subject: nameToString(parsed.subject),
    issuer: nameToString(parsed.issuer),
    serial: serialHexOf(parsed),
    notBefore: parsed.notBefore.value.toISOString(),
    notAfter: parsed.notAfter.value.toISOString(),
    sans: certificateSans(parsed),
    keyUsage: keyUsageNames(parsed),
    extendedKeyUsage: (extKeyUsageOids(parsed) ?? []).map(extKeyUsageName),
    isCA: isCaCertificate(parsed),
    fingerprintSha256: fingerprintSha256(der),
  };
}

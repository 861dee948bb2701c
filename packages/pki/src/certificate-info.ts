/** A certificate as people read it (API, UI, tests): the fields shown, from the one certificate reader (x509/certificate-reader.ts). */
import { fingerprintSha256 } from './certificate.ts';
import { booleanValue, type CertificateFields, extensionOf, extensionValue, field, readCertificate } from './x509/certificate-reader.ts';
import { bytesToHex, children, content, DerError, oidOf, TAG } from './der.ts';
import { CertificateParseError } from './errors.ts';
import { emptySans, formatName, readGeneralNamesDer, type Sans } from './names.ts';
import { extKeyUsageName, KEY_USAGE_BITS, OID } from './oids.ts';
import { decodeTimeDer, TimeError } from './time.ts';
import { readRdns } from './x509/name-reader.ts';

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

export function keyUsageNames(cert: CertificateFields): string[] {
  const ext = extensionOf(cert, OID.keyUsage);
  if (!ext) return [];
  const bits = content(field(extensionValue(ext.value), TAG.BIT_STRING, 'keyUsage')).subarray(1);
  return Object.entries(KEY_USAGE_BITS)
    .filter(([, bit]) => (bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7)))
    .map(([name]) => name);
}

export function extKeyUsageOids(cert: CertificateFields): string[] | null {
  const ext = extensionOf(cert, OID.extKeyUsage);
  return ext ? children(extensionValue(ext.value)).map(oidOf) : null;
}

export function certificateSans(cert: CertificateFields): Sans {
  const ext = extensionOf(cert, OID.subjectAltName);
  return ext ? readGeneralNamesDer(content(ext.value)) : emptySans();
}

export function isCaCertificate(cert: CertificateFields): boolean {
  const ext = extensionOf(cert, OID.basicConstraints);
  const first = ext ? children(extensionValue(ext.value))[0] : undefined;
  return first?.tag === TAG.BOOLEAN && booleanValue(first, 'cA');
}

export function serialHexOf(cert: CertificateFields): string {
  return bytesToHex(content(cert.serial));
}

export function describeCertificate(der: Uint8Array, parsed = readCertificate({ der })): CertificateInfo {
  try {
    return {
      subject: formatName(readRdns(parsed.subject)),
      issuer: formatName(readRdns(parsed.issuer)),
      serial: serialHexOf(parsed),
      notBefore: decodeTimeDer(parsed.notBefore.tag, content(parsed.notBefore)).toISOString(),
      notAfter: decodeTimeDer(parsed.notAfter.tag, content(parsed.notAfter)).toISOString(),
      sans: certificateSans(parsed),
      keyUsage: keyUsageNames(parsed),
      extendedKeyUsage: (extKeyUsageOids(parsed) ?? []).map(extKeyUsageName),
      isCA: isCaCertificate(parsed),
      fingerprintSha256: fingerprintSha256(der),
    };
  } catch (e) {
    if (e instanceof DerError || e instanceof TimeError)
      throw new CertificateParseError(`not a DER X.509 certificate: ${(e as Error).message}`);
    throw e;
  }
}

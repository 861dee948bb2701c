/** How a certificate row is shown over the API. */
import type { Authority, CertificateRecord } from '@anvil/ca';
import { privateKeyPem } from '@anvil/pki';

/** The JSON shape of a certificate, as every API route returns it. */
export function certificateView(authority: Authority, record: CertificateRecord, now: Date, privateKeyPkcs8?: Uint8Array) {
  const issuer = authority.issuerById(record.issuerId);
  const pems = authority.pemsOf(record);
  const status = record.status === 'active' && record.notAfter < now ? 'expired' : record.status;
  return {
    id: record.id,
    serial: record.serial,
    issuer: issuer.record.name,
    profile: record.profile,
    subject: record.subject,
    sans: record.sans,
    notBefore: record.notBefore.toISOString(),
    notAfter: record.notAfter.toISOString(),
    status: status as 'active' | 'revoked' | 'expired',
    revokedAt: record.revokedAt?.toISOString() ?? null,
    revocationReason: record.revocationReason,
    keyAlgorithm: record.keyAlgorithm,
    fingerprintSha256: record.fingerprintSha256,
    ...pems,
    ...(privateKeyPkcs8 ? { privateKey: privateKeyPem(privateKeyPkcs8) } : {}),
  };
}

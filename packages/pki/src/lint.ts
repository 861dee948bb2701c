import * as pkijs from 'pkijs';
import { getExtension } from './certificate.ts';
import { certificateSans, extKeyUsageOids, isCaCertificate, keyUsageNames } from './certificate-info.ts';
import { OID } from './oids.ts';
import { isValidSerial } from './serial.ts';

/** The role a certificate plays decides which rules apply. */
export type CertificateRole = 'server' | 'client' | 'peer' | 'ocsp' | 'intermediate' | 'root';

export interface LintContext {
  role: CertificateRole;
  /** The issuer's notAfter (the certificate's own for a root). */
  issuerNotAfter: Date;
}

export interface LintFinding {
  rule: string;
  message: string;
}

const LEAF_ROLES: CertificateRole[] = ['server', 'client', 'peer'];
const SERVER_NAMED: CertificateRole[] = ['server', 'peer'];

/**
 * Pre-issuance lint over the to-be-signed certificate (parsed back from its DER, so it judges
 * what will actually be signed). Any finding refuses the issuance.
 */
export function lintCertificate(cert: pkijs.Certificate, ctx: LintContext): LintFinding[] {
  const findings: LintFinding[] = [];
  const fail = (rule: string, message: string) => findings.push({ rule, message });
  const leaf = LEAF_ROLES.includes(ctx.role);
  const isCaRole = ctx.role === 'intermediate' || ctx.role === 'root';

  if (cert.version !== 2) fail('version', 'certificate must be version 3');
  if (!isValidSerial(new Uint8Array(cert.serialNumber.valueBlock.valueHexView))) {
    fail('serial', 'serial must be positive, DER-minimal and at most 20 octets');
  }

  // Times: whole seconds, UTCTime before 2050, GeneralizedTime from 2050 on.
  for (const [label, time] of [
    ['notBefore', cert.notBefore],
    ['notAfter', cert.notAfter],
  ] as const) {
    if (time.value.getTime() % 1000 !== 0) fail('time_fraction', `${label} has fractional seconds`);
    const wantType = time.value.getUTCFullYear() < 2050 ? 0 : 1;
    if (time.type !== wantType) fail('time_encoding', `${label} must be ${wantType === 0 ? 'UTCTime' : 'GeneralizedTime'}`);
  }
  if (cert.notAfter.value <= cert.notBefore.value) fail('validity', 'notAfter is not after notBefore');
  if (cert.notAfter.value > ctx.issuerNotAfter) fail('validity_issuer', "notAfter is beyond the issuer's notAfter");

  const exts = cert.extensions ?? [];
  const seen = new Set<string>();
  for (const e of exts) {
    if (seen.has(e.extnID)) fail('duplicate_extension', `extension ${e.extnID} appears twice`);
    seen.add(e.extnID);
  }

  const aki = getExtension(cert, OID.authorityKeyIdentifier);
  if (!aki || !(aki.parsedValue as pkijs.AuthorityKeyIdentifier).keyIdentifier) {
    fail('aki', 'authorityKeyIdentifier with a key identifier is required');
  }
  if (!getExtension(cert, OID.subjectKeyIdentifier)) fail('ski', 'subjectKeyIdentifier is required');

  const ku = getExtension(cert, OID.keyUsage);
  if (!ku) fail('key_usage', 'keyUsage is required');
  else if (!ku.critical) fail('key_usage_critical', 'keyUsage must be critical');
  const usages = keyUsageNames(cert);

  const bc = getExtension(cert, OID.basicConstraints);
  const isCa = isCaCertificate(cert);
  if (!bc || !bc.critical) fail('basic_constraints', 'basicConstraints must be present and critical');
  if (isCaRole && !isCa) fail('basic_constraints', 'a CA certificate must say CA:TRUE');
  if (!isCaRole && isCa) fail('basic_constraints', 'an end-entity certificate must say CA:FALSE');
  if (isCaRole && !(usages.includes('keyCertSign') && usages.includes('cRLSign'))) {
    fail('key_usage', 'a CA certificate needs keyCertSign and cRLSign');
  }
  if (!isCaRole && (usages.includes('keyCertSign') || usages.includes('cRLSign'))) {
    fail('key_usage', 'an end-entity certificate must not have keyCertSign or cRLSign');
  }

  // EKU consistent with KU (what OpenSSL's purpose checks and RFC 5280 4.2.1.12 expect).
  const ekus = extKeyUsageOids(cert) ?? [];
  const has = (u: string) => usages.includes(u);
  if (ekus.includes(OID.serverAuth) && !(has('digitalSignature') || has('keyEncipherment') || has('keyAgreement'))) {
    fail('eku_ku', 'serverAuth needs digitalSignature, keyEncipherment or keyAgreement');
  }
  if (ekus.includes(OID.clientAuth) && !(has('digitalSignature') || has('keyAgreement'))) {
    fail('eku_ku', 'clientAuth needs digitalSignature or keyAgreement');
  }
  if (ekus.includes(OID.ocspSigning) && !has('digitalSignature')) fail('eku_ku', 'OCSPSigning needs digitalSignature');
  if (isCaRole && ekus.length) fail('eku', 'CA certificates here carry no extendedKeyUsage');
  const wantEku: Partial<Record<CertificateRole, string[]>> = {
    server: [OID.serverAuth],
    client: [OID.clientAuth],
    peer: [OID.serverAuth, OID.clientAuth],
    ocsp: [OID.ocspSigning],
  };
  for (const oid of wantEku[ctx.role] ?? []) {
    if (!ekus.includes(oid)) fail('eku', `a ${ctx.role} certificate needs extendedKeyUsage ${oid}`);
  }

  const sanExt = getExtension(cert, OID.subjectAltName);
  const sans = certificateSans(cert);
  const sanTotal = sans.dns.length + sans.ip.length + sans.uri.length + sans.email.length;
  const cn = cert.subject.typesAndValues.find((tv) => tv.type === OID.commonName)?.value.valueBlock.value as
    | string
    | undefined;
  if (leaf && (!sanExt || sanTotal === 0)) fail('san', 'an end-entity certificate needs a subjectAltName');
  if (sanExt && cert.subject.typesAndValues.length === 0 && !sanExt.critical) {
    fail('san_critical', 'with an empty subject the subjectAltName must be critical');
  }
  if (SERVER_NAMED.includes(ctx.role) && cn !== undefined) {
    const lower = cn.toLowerCase();
    if (!sans.dns.some((d) => d.toLowerCase() === lower) && !sans.ip.includes(cn)) {
      fail('cn_not_in_san', `the CN "${cn}" is not among the subjectAltNames`);
    }
  }
  if (ctx.role === 'client' && !cn) fail('client_cn', 'a client certificate needs a CN');
  if (ctx.role === 'ocsp' && !getExtension(cert, OID.ocspNoCheck)) fail('ocsp_nocheck', 'an OCSP signer needs id-pkix-ocsp-nocheck');
  if (isCaRole && !cn) fail('ca_cn', 'a CA certificate needs a CN');
  return findings;
}

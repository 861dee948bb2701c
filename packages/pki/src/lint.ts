/** Pre-issuance lint: the rules every to-be-signed certificate must pass. */
import { emptySans, readGeneralNamesDer, readNameDer, type Sans } from './names.ts';
import { KEY_USAGE_BITS, OID } from './oids.ts';
import { readTbsCertificate } from './x509/certificate-reader.ts';
import { childrenOf, decodeOid, readTlv, TAG, type Tlv } from './der.ts';
import { isValidSerial } from './serial.ts';
import { decodeTimeDer } from './time.ts';

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

/** What the rules look at, read straight from TBS DER (or, in the test oracle, from pkijs). */
export interface LintFacts {
  version: number;
  serial: Uint8Array;
  notBefore: { date: Date; utc: boolean };
  notAfter: { date: Date; utc: boolean };
  /** Extensions in order; `value` is the extnValue OCTET STRING's content. */
  extensions: Array<{ oid: string; critical: boolean; value: Uint8Array }>;
  subjectAttributes: number;
  /** The first CN of the subject. */
  cn: string | undefined;
}

/**
 * Pre-issuance lint over TBSCertificate DER, read with a strict DER walk instead of pkijs (the
 * issuance hot path: parsing back through pkijs cost ~25x the signature). What is judged is
 * the exact bytes that will be signed; any finding refuses the issuance. A TBS that cannot even
 * be read is one finding. (test/oracle/pkijs-tbs.ts runs the same rules over a pkijs parse.)
 */
export function lintTbs(tbsDer: Uint8Array, ctx: LintContext): LintFinding[] {
  let facts: LintFacts;
  try {
    facts = tbsFacts(tbsDer);
  } catch (err) {
    return [{ rule: 'malformed', message: `the to-be-signed certificate does not parse: ${(err as Error).message}` }];
  }
  return lintCertificateFacts(facts, ctx);
}

function tbsFacts(der: Uint8Array): LintFacts {
  const f = readTbsCertificate(der);
  let version = 0;
  if (f.version) {
    const v = readTlv(der, f.version.contentStart, f.version.end);
    if (v.tag !== TAG.INTEGER || v.end - v.contentStart !== 1) throw new Error('bad version');
    version = der[v.contentStart];
  }
  const nb = f.notBefore;
  const na = f.notAfter;
  const time = (t: Tlv) => ({ date: decodeTimeDer(t.tag, der.subarray(t.contentStart, t.end)), utc: t.tag === TAG.UTC_TIME });
  const attributes = readNameDer(der, f.subject);
  return {
    version,
    serial: der.subarray(f.serial.contentStart, f.serial.end),
    notBefore: time(nb),
    notAfter: time(na),
    extensions: f.extensions.map((e) => ({ oid: e.oid, critical: e.critical, value: der.subarray(e.value.contentStart, e.value.end) })),
    subjectAttributes: attributes.length,
    cn: attributes.find(([oid]) => oid === OID.commonName)?.[1],
  };
}

// ---- extension values (the content of extnValue) ----------------------------------------------

function keyUsageOf(value: Uint8Array): string[] {
  const bits = readTlv(value, 0);
  if (bits.tag !== TAG.BIT_STRING) throw new Error('keyUsage is not a BIT STRING');
  const bytes = value.subarray(bits.contentStart + 1, bits.end);
  return Object.entries(KEY_USAGE_BITS)
    .filter(([, bit]) => (bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7)))
    .map(([name]) => name);
}

/** The elements of the SEQUENCE that `value` holds. */
function children(value: Uint8Array): Tlv[] {
  const seq = readTlv(value, 0);
  if (seq.tag !== TAG.SEQUENCE) throw new Error('not a SEQUENCE');
  return childrenOf(value, seq);
}

function isCaOf(value: Uint8Array): boolean {
  const first = children(value)[0];
  return Boolean(first && first.tag === TAG.BOOLEAN && value[first.contentStart] !== 0);
}

function ekusOf(value: Uint8Array): string[] {
  return children(value).map((t) => decodeOid(value.subarray(t.contentStart, t.end)));
}

function akiHasKeyId(value: Uint8Array): boolean {
  return children(value).some((t) => t.tag === 0x80);
}

/** The lint rules over facts already read. */
export function lintCertificateFacts(cert: LintFacts, ctx: LintContext): LintFinding[] {
  const findings: LintFinding[] = [];
  const fail = (rule: string, message: string) => findings.push({ rule, message });
  const leaf = LEAF_ROLES.includes(ctx.role);
  const isCaRole = ctx.role === 'intermediate' || ctx.role === 'root';

  if (cert.version !== 2) fail('version', 'certificate must be version 3');
  if (!isValidSerial(cert.serial)) {
    fail('serial', 'serial must be positive, DER-minimal and at most 20 octets');
  }

  // Times: whole seconds, UTCTime before 2050, GeneralizedTime from 2050 on.
  for (const [label, time] of [
    ['notBefore', cert.notBefore],
    ['notAfter', cert.notAfter],
  ] as const) {
    if (time.date.getTime() % 1000 !== 0) fail('time_fraction', `${label} has fractional seconds`);
    const wantUtc = time.date.getUTCFullYear() < 2050;
    if (time.utc !== wantUtc) fail('time_encoding', `${label} must be ${wantUtc ? 'UTCTime' : 'GeneralizedTime'}`);
  }
  if (cert.notAfter.date <= cert.notBefore.date) fail('validity', 'notAfter is not after notBefore');
  if (cert.notAfter.date > ctx.issuerNotAfter) fail('validity_issuer', "notAfter is beyond the issuer's notAfter");

  const exts = cert.extensions;
  const seen = new Set<string>();
  for (const e of exts) {
    if (seen.has(e.oid)) fail('duplicate_extension', `extension ${e.oid} appears twice`);
    seen.add(e.oid);
  }
  const getExtension = (oid: string) => exts.find((e) => e.oid === oid);
  // An extension whose value does not parse counts as absent for the rules, and is a finding.
  const read = <T>(oid: string, parse: (v: Uint8Array) => T, fallback: T): T => {
    const e = getExtension(oid);
    if (!e) return fallback;
    try {
      return parse(e.value);
    } catch {
      fail('malformed_extension', `extension ${oid} does not parse`);
      return fallback;
    }
  };

  if (!read(OID.authorityKeyIdentifier, akiHasKeyId, false)) {
    fail('aki', 'authorityKeyIdentifier with a key identifier is required');
  }
  if (!getExtension(OID.subjectKeyIdentifier)) fail('ski', 'subjectKeyIdentifier is required');

  const ku = getExtension(OID.keyUsage);
  if (!ku) fail('key_usage', 'keyUsage is required');
  else if (!ku.critical) fail('key_usage_critical', 'keyUsage must be critical');
  const usages = read(OID.keyUsage, keyUsageOf, [] as string[]);

  const bc = getExtension(OID.basicConstraints);
  const isCa = read(OID.basicConstraints, isCaOf, false);
  if (!bc?.critical) fail('basic_constraints', 'basicConstraints must be present and critical');
  if (isCaRole && !isCa) fail('basic_constraints', 'a CA certificate must say CA:TRUE');
  if (!isCaRole && isCa) fail('basic_constraints', 'an end-entity certificate must say CA:FALSE');
  if (isCaRole && !(usages.includes('keyCertSign') && usages.includes('cRLSign'))) {
    fail('key_usage', 'a CA certificate needs keyCertSign and cRLSign');
  }
  if (!isCaRole && (usages.includes('keyCertSign') || usages.includes('cRLSign'))) {
    fail('key_usage', 'an end-entity certificate must not have keyCertSign or cRLSign');
  }

  // EKU consistent with KU (what OpenSSL's purpose checks and RFC 5280 4.2.1.12 expect).
  const ekus = read(OID.extKeyUsage, ekusOf, [] as string[]);
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

  const sanExt = getExtension(OID.subjectAltName);
  const sans: Sans = read(OID.subjectAltName, readGeneralNamesDer, emptySans());
  const sanTotal = sans.dns.length + sans.ip.length + sans.uri.length + sans.email.length;
  const cn = cert.cn;
  if (leaf && (!sanExt || sanTotal === 0)) fail('san', 'an end-entity certificate needs a subjectAltName');
  if (sanExt && cert.subjectAttributes === 0 && !sanExt.critical) {
    fail('san_critical', 'with an empty subject the subjectAltName must be critical');
  }
  if (SERVER_NAMED.includes(ctx.role) && cn !== undefined) {
    const lower = cn.toLowerCase();
    if (!sans.dns.some((d) => d.toLowerCase() === lower) && !sans.ip.includes(cn)) {
      fail('cn_not_in_san', `the CN "${cn}" is not among the subjectAltNames`);
    }
  }
  if (ctx.role === 'client' && !cn) fail('client_cn', 'a client certificate needs a CN');
  if (ctx.role === 'ocsp' && !getExtension(OID.ocspNoCheck)) fail('ocsp_nocheck', 'an OCSP signer needs id-pkix-ocsp-nocheck');
  if (isCaRole && !cn) fail('ca_cn', 'a CA certificate needs a CN');
  // RFC 5280 4.2.1.10: only in CA certificates, and conforming CAs mark it critical.
  const nc = getExtension(OID.nameConstraints);
  if (nc && !isCaRole) fail('name_constraints', 'an end-entity certificate carries no nameConstraints');
  if (nc && !nc.critical) fail('name_constraints', 'nameConstraints must be critical');
  return findings;
}

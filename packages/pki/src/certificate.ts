/** X.509 certificates: the direct DER encoder of the TBS Anvil issues, signing, and the pkijs parse for callers that want pkijs objects. */
import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { algorithmIdentifierDer, type SignatureAlgorithm } from './signature-algorithms.ts';
import { asciiBytes, encodeGeneralNames, encodeName, oidDer, sanCount, type Sans, type SubjectInput } from './names.ts';
import { EXT_KEY_USAGE, KEY_USAGE_BITS, OID, type ExtKeyUsageName, type KeyUsageName } from './oids.ts';
import { readTlv, TAG, tlv } from './der.ts';
import { CertificateParseError } from './errors.ts';
import type { Signer } from './signer.ts';
import { encodeTimeDer, truncateToSeconds } from './time.ts';
import { nameConstraintsDer, type NameConstraints } from './name-constraints.ts';

/** Everything a certificate says, decided by the caller (the CA applies profiles; this only encodes). */
export interface CertificateParams {
  /** DER-minimal positive serial content (see serial.ts). */
  serial: Uint8Array;
  subject: SubjectInput;
  /** The issuer's subject Name, or the subject itself when self-signed. */
  issuerName: pkijs.RelativeDistinguishedNames;
  /** SubjectKeyIdentifier of the issuer, written as the AKI key identifier. */
  issuerKeyId: Uint8Array;
  subjectPublicKeySpki: Uint8Array;
  /** Whole seconds; fractions are truncated. */
  notBefore: Date;
  notAfter: Date;
  keyUsage: KeyUsageName[];
  extKeyUsage?: ExtKeyUsageName[];
  basicConstraints: { ca: boolean; pathLen?: number };
  sans?: Sans;
  crlUrl?: string;
  ocspUrl?: string;
  caIssuersUrl?: string;
  /** id-pkix-ocsp-nocheck, for delegated OCSP signers. */
  ocspNoCheck?: boolean;
  /** A CA's name constraints (name-constraints.ts), written critical as RFC 5280 4.2.1.10 asks. */
  nameConstraints?: NameConstraints;
}

/**
 * RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING value (without its unused-bits
 * octet). Read straight from the DER: this runs twice per issuance.
 */
export function keyIdentifier(spkiDer: Uint8Array): Uint8Array {
  const spki = readTlv(spkiDer, 0);
  const algorithm = readTlv(spkiDer, spki.contentStart, spki.end);
  const key = readTlv(spkiDer, algorithm.end, spki.end);
  if (spki.tag !== TAG.SEQUENCE || algorithm.tag !== TAG.SEQUENCE || key.tag !== TAG.BIT_STRING || key.end === key.contentStart) {
    throw new Error('not a SubjectPublicKeyInfo');
  }
  return new Uint8Array(
    createHash('sha1')
      .update(spkiDer.subarray(key.contentStart + 1, key.end))
      .digest(),
  );
}

/** KeyUsage as [unused bits, ...bytes]: trailing zero bits dropped and counted as unused (DER). */
export function keyUsageBits(usages: KeyUsageName[]): { unused: number; bytes: Uint8Array } {
  let bits = 0;
  for (const u of usages) bits |= 1 << KEY_USAGE_BITS[u];
  if (bits === 0) throw new Error('keyUsage must name at least one usage');
  const highest = 31 - Math.clz32(bits); // bit numbers count from the most significant bit of byte 0
  const byteLength = (highest >> 3) + 1;
  const bytes = new Uint8Array(byteLength);
  for (let bit = 0; bit <= highest; bit++) if (bits & (1 << bit)) bytes[bit >> 3] |= 0x80 >> (bit & 7);
  return { unused: 7 - (highest & 7), bytes };
}

const NAME_DER = new WeakMap<pkijs.RelativeDistinguishedNames, Uint8Array>();

/** An issuer's Name as DER; pkijs re-emits the bytes it parsed, and each issuer's Name object is kept. */
function nameDer(name: pkijs.RelativeDistinguishedNames): Uint8Array {
  let der = NAME_DER.get(name);
  if (!der) {
    der = new Uint8Array(name.toSchema().toBER(false));
    NAME_DER.set(name, der);
  }
  return der;
}

const GENERAL_NAME_URI = 0x86;
const DER_TRUE = Uint8Array.of(TAG.BOOLEAN, 1, 0xff);

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE (omitted when false), extnValue OCTET STRING }. */
function derExtension(oid: string, critical: boolean, valueDer: Uint8Array): Uint8Array {
  return critical
    ? tlv(TAG.SEQUENCE, oidDer(oid), DER_TRUE, tlv(TAG.OCTET_STRING, valueDer))
    : tlv(TAG.SEQUENCE, oidDer(oid), tlv(TAG.OCTET_STRING, valueDer));
}

/**
 * The TBSCertificate DER for `p`, with `sig` as its signature algorithm, written directly (no
 * asn1js objects: on the issuance hot path pkijs building, encoding and re-parsing cost about
 * 40x the ECDSA signature). A test oracle (packages/pki/test/oracle/pkijs-tbs.ts) builds the
 * same certificate with pkijs and keeps the bytes equal.
 */
export function encodeTbsCertificate(p: CertificateParams, sig: SignatureAlgorithm): Uint8Array {
  const notBefore = truncateToSeconds(p.notBefore);
  const notAfter = truncateToSeconds(p.notAfter);
  if (notAfter <= notBefore) throw new Error('notAfter must be after notBefore');
  const subject = encodeName(p.subject);

  const exts: Uint8Array[] = [];
  const bc = p.basicConstraints;
  exts.push(
    derExtension(
      OID.basicConstraints,
      true,
      tlv(TAG.SEQUENCE, ...(bc.ca ? [DER_TRUE, ...(bc.pathLen !== undefined ? [tlv(TAG.INTEGER, integerContent(bc.pathLen))] : [])] : [])),
    ),
  );
  const ku = keyUsageBits(p.keyUsage);
  exts.push(derExtension(OID.keyUsage, true, tlv(TAG.BIT_STRING, Uint8Array.of(ku.unused), ku.bytes)));
  if (p.extKeyUsage?.length) {
    exts.push(derExtension(OID.extKeyUsage, false, tlv(TAG.SEQUENCE, ...p.extKeyUsage.map((n) => oidDer(EXT_KEY_USAGE[n])))));
  }
  exts.push(derExtension(OID.subjectKeyIdentifier, false, tlv(TAG.OCTET_STRING, keyIdentifier(p.subjectPublicKeySpki))));
  exts.push(derExtension(OID.authorityKeyIdentifier, false, tlv(TAG.SEQUENCE, tlv(0x80, p.issuerKeyId))));
  if (p.sans && sanCount(p.sans) > 0) {
    // An empty subject makes the SAN the only name, and then it must be critical (RFC 5280 4.2.1.6).
    const emptySubject = subject.length === 2;
    exts.push(derExtension(OID.subjectAltName, emptySubject, encodeGeneralNames(p.sans)));
  }
  const uri = (url: string) => tlv(GENERAL_NAME_URI, asciiBytes(url, 'URL'));
  if (p.crlUrl) {
    // CRLDistributionPoints { DistributionPoint { [0] DistributionPointName { [0] fullName GeneralNames } } }
    exts.push(derExtension(OID.crlDistributionPoints, false, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(0xa0, tlv(0xa0, uri(p.crlUrl)))))));
  }
  const access: Uint8Array[] = [];
  if (p.ocspUrl) access.push(tlv(TAG.SEQUENCE, oidDer(OID.ocsp), uri(p.ocspUrl)));
  if (p.caIssuersUrl) access.push(tlv(TAG.SEQUENCE, oidDer(OID.caIssuers), uri(p.caIssuersUrl)));
  if (access.length) exts.push(derExtension(OID.authorityInfoAccess, false, tlv(TAG.SEQUENCE, ...access)));
  if (p.ocspNoCheck) exts.push(derExtension(OID.ocspNoCheck, false, Uint8Array.of(TAG.NULL, 0)));
  if (p.nameConstraints) exts.push(derExtension(OID.nameConstraints, true, nameConstraintsDer(p.nameConstraints)));

  return tlv(
    TAG.SEQUENCE,
    Uint8Array.of(0xa0, 3, TAG.INTEGER, 1, 2), // [0] EXPLICIT version v3
    tlv(TAG.INTEGER, p.serial),
    algorithmIdentifierDer(sig),
    nameDer(p.issuerName),
    tlv(TAG.SEQUENCE, encodeTimeDer(notBefore), encodeTimeDer(notAfter)),
    subject,
    p.subjectPublicKeySpki,
    tlv(0xa3, tlv(TAG.SEQUENCE, ...exts)),
  );
}

/** Content octets of a small non-negative INTEGER, DER-minimal. */
function integerContent(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new Error('pathLen must be a non-negative integer');
  const bytes: number[] = [];
  for (let v = n; ; v = Math.floor(v / 256)) {
    bytes.unshift(v & 0xff);
    if (v < 256) break;
  }
  if (bytes[0] & 0x80) bytes.unshift(0);
  return Uint8Array.from(bytes);
}

/** Signs TBS bytes (from encodeTbsCertificate) and returns the certificate DER. */
export async function signTbs(tbs: Uint8Array, signer: Signer): Promise<Uint8Array> {
  const signature = await signer.sign(tbs);
  return derSequence([tbs, algorithmIdentifierDer(signer.signatureAlgorithm), tlv(TAG.BIT_STRING, Uint8Array.of(0), signature)]);
}

/** SEQUENCE around already-encoded DER parts. */
export function derSequence(parts: Uint8Array[]): Uint8Array {
  return tlv(TAG.SEQUENCE, ...parts);
}

/** Tag and DER length octets for a value of `length` bytes. */
export { header as derHeader } from './der.ts';

/** Parses certificate DER; throws CertificateParseError on anything that is not one certificate. */
export function parseCertificate(der: Uint8Array): pkijs.Certificate {
  try {
    const asn = asn1js.fromBER(der);
    if (asn.offset === -1 || asn.offset !== der.byteLength) throw new Error('not DER');
    return new pkijs.Certificate({ schema: asn.result });
  } catch {
    throw new CertificateParseError('not a DER X.509 certificate');
  }
}

export { CertificateParseError };

export function getExtension(cert: pkijs.Certificate, oid: string): pkijs.Extension | undefined {
  return cert.extensions?.find((e) => e.extnID === oid);
}

export function fingerprintSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

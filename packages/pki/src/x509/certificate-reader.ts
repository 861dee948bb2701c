/** The one certificate reader (RFC 5280 4.1): every certificate Anvil reads (lint, the revocation lookup, certificate info, the CLI, the judge) is walked here. */
import {
  DerError,
  LENIENT,
  STRICT,
  TAG,
  bytesToHex,
  children,
  content,
  integerValue,
  oidOf,
  readOne,
  type RawExtension,
  type Tlv,
} from '../der.ts';
import { CertificateParseError } from '../errors.ts';
import { OID } from '../oids.ts';

/**
 * `strict`: DER, for Anvil's own reads. `lenient`: the judge's, which must decode every
 * certificate OpenSSL decodes. The leniencies, each tested in packages/pki/test/x509-reader.test.ts:
 *
 * 1. non-minimal definite lengths (der.ts DerReadOptions.lenient, with its own vectors);
 * 2. BER BOOLEANs: a critical flag is TRUE when its first octet is not zero, as OpenSSL's
 *    decoder reads it; DER allows only 00 and FF, and strict refuses anything else.
 *
 * The shape (which fields, in which order, with which tags) is RFC 5280's in both modes.
 */
export type ReadMode = 'strict' | 'lenient';

/** A required field is absent: the judge reports these in one sentence (validation/x509-model.ts). */
export class MissingFieldError extends DerError {}

/** `t`, which must be present and carry `tag`. */
export function field(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new MissingFieldError(`${what}: missing`);
  if (t.tag !== tag) throw new DerError(`${what}: unexpected tag 0x${t.tag.toString(16).padStart(2, '0')}`);
  return t;
}

/** A time field: UTCTime or GeneralizedTime (its content is each view's to judge). */
export function timeField(t: Tlv | undefined, what: string): Tlv {
  if (!t) throw new MissingFieldError(`${what}: missing`);
  if (t.tag !== TAG.UTC_TIME && t.tag !== TAG.GENERALIZED_TIME) throw new DerError(`${what}: not a time`);
  return t;
}

/** BOOLEAN content in the mode it was read in (leniency 2). */
export function booleanValue(t: Tlv, what: string): boolean {
  const c = content(t);
  if (t.lenient) return c[0] !== 0;
  if (c.length !== 1 || (c[0] !== 0 && c[0] !== 0xff)) throw new DerError(`${what}: not a DER BOOLEAN`);
  return c[0] === 0xff;
}

/**
 * The one Extensions walk (certificates, CRLs, CRL entries): SEQUENCE OF SEQUENCE { extnID,
 * critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }, in order, duplicates included (each
 * view decides what a duplicate means: lint reports it, the judge marks the certificate invalid).
 */
export function readExtensionList(list: Tlv, what: string): RawExtension[] {
  field(list, TAG.SEQUENCE, `${what} extensions`);
  // Messages are built only on failure: this loop runs for every extension of every certificate judged.
  return children(list).map((e) => {
    const parts = children(e.tag === TAG.SEQUENCE ? e : field(e, TAG.SEQUENCE, `${what} extension`));
    const [id, second, third] = parts;
    const oid = oidOf(id?.tag === TAG.OID ? id : field(id, TAG.OID, `${what} extnID`));
    const flag = second?.tag === TAG.BOOLEAN ? second : undefined;
    const candidate = flag ? third : second;
    const value = candidate?.tag === TAG.OCTET_STRING ? candidate : field(candidate, TAG.OCTET_STRING, `${what} extnValue of ${oid}`);
    if (parts.length > (flag ? 3 : 2)) throw new DerError(`${what} extension ${oid}: unexpected trailing field`);
    return { oid, critical: flag ? booleanValue(flag, `${what} critical of ${oid}`) : false, value };
  });
}

/** The fields of a TBSCertificate as raw TLVs; what each view reads of them is its own. */
export interface TbsCertificateFields {
  tbs: Tlv;
  /** The [0] EXPLICIT version wrapper, when present. */
  version?: Tlv;
  /** The version INTEGER: 0 for v1 (also when the field is absent), 2 for v3. */
  versionNumber: number;
  serial: Tlv;
  signature: Tlv;
  issuer: Tlv;
  validity: Tlv;
  notBefore: Tlv;
  notAfter: Tlv;
  subject: Tlv;
  spki: Tlv;
  /** Extensions in order; `value` is the extnValue OCTET STRING. */
  extensions: RawExtension[];
}

export interface CertificateFields extends TbsCertificateFields {
  der: Uint8Array;
  signatureAlgorithm: Tlv;
  /** The signatureValue BIT STRING. */
  signatureValue: Tlv;
}

const options = (mode: ReadMode) => (mode === 'lenient' ? LENIENT : STRICT);

/** TBSCertificate, already read as one TLV (in the mode its children are read in). */
export function readTbsFields(tbs: Tlv): TbsCertificateFields {
  const f = children(field(tbs, TAG.SEQUENCE, 'tbsCertificate'));
  let i = 0;
  let version: Tlv | undefined;
  let versionNumber = 0;
  if (f[0]?.tag === 0xa0) {
    version = f[i++];
    const v = children(version);
    if (v.length > 1) throw new DerError('version: unexpected trailing field');
    // Any INTEGER: the views judge the number (lint wants v3; OpenSSL flags v1 only).
    versionNumber = Number(integerValue(content(field(v[0], TAG.INTEGER, 'version'))));
  }
  const serial = field(f[i++], TAG.INTEGER, 'serialNumber');
  const signature = field(f[i++], TAG.SEQUENCE, 'signature');
  const issuer = field(f[i++], TAG.SEQUENCE, 'issuer');
  const validity = field(f[i++], TAG.SEQUENCE, 'validity');
  const subject = field(f[i++], TAG.SEQUENCE, 'subject');
  const spki = field(f[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const times = children(validity);
  const notBefore = timeField(times[0], 'notBefore');
  const notAfter = timeField(times[1], 'notAfter');
  if (times.length > 2) throw new DerError('validity: unexpected trailing field');
  // issuerUniqueID [1] and subjectUniqueID [2] (IMPLICIT BIT STRING) are skipped; extensions [3].
  if (f[i]?.tag === 0x81) i++;
  if (f[i]?.tag === 0x82) i++;
  let extensions: RawExtension[] = [];
  if (f[i]?.tag === 0xa3) {
    const wrapper = children(f[i++]);
    if (wrapper.length > 1) throw new DerError('extensions: unexpected trailing field');
    extensions = readExtensionList(field(wrapper[0], TAG.SEQUENCE, 'extensions'), 'certificate');
  }
  if (i !== f.length) throw new DerError('tbsCertificate: unexpected trailing field');
  return {
    tbs,
    version,
    versionNumber,
    serial,
    signature,
    issuer,
    validity,
    notBefore,
    notAfter,
    subject,
    spki,
    extensions,
  };
}

export interface ReadCertificateParams {
  der: Uint8Array;
  /** Default 'strict'. */
  mode?: ReadMode;
}

/** The walk itself: throws DerError (MissingFieldError for an absent field). */
export function walkCertificate(p: ReadCertificateParams): CertificateFields {
  const certificate = readOne(p.der, options(p.mode ?? 'strict'), TAG.SEQUENCE);
  // No rest patterns or object spreads here: the judge walks every presented certificate (bench:judge-engine).
  const top = children(certificate);
  const fields = readTbsFields(field(top[0], TAG.SEQUENCE, 'tbsCertificate')) as CertificateFields;
  fields.signatureAlgorithm = field(top[1], TAG.SEQUENCE, 'signatureAlgorithm');
  fields.signatureValue = field(top[2], TAG.BIT_STRING, 'signatureValue');
  if (top.length > 3) throw new DerError('Certificate: unexpected trailing field');
  fields.der = p.der;
  return fields;
}

/** Reads one certificate; throws CertificateParseError on anything that is not one. */
export function readCertificate(p: ReadCertificateParams): CertificateFields {
  try {
    return walkCertificate(p);
  } catch (e) {
    if (e instanceof DerError) throw new CertificateParseError(`not a DER X.509 certificate: ${e.message}`);
    throw e;
  }
}

/** A TBSCertificate on its own (lint reads the bytes about to be signed); strict. */
export function readTbsCertificate(der: Uint8Array): TbsCertificateFields {
  return readTbsFields(readOne(der, STRICT, TAG.SEQUENCE));
}

export function extensionOf(c: TbsCertificateFields, oid: string): RawExtension | undefined {
  return c.extensions.find((e) => e.oid === oid);
}

// ---- the revocation lookup's facts ----------------------------------------------------------

/**
 * The few fields needed to find a certificate's issuer and ask about its revocation, read
 * straight from the DER with the strict reader: the judge reads them on every handshake, where
 * a full pkijs parse would cost more than the verdict itself.
 */
export interface CertificateFacts {
  serialHex: string;
  /** DER of the issuer and subject Names, hex, compared byte for byte. */
  issuerNameHex: string;
  subjectNameHex: string;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  /** The AKI key identifier, hex, or null when absent. */
  akiHex: string | null;
  /** URIs of the CRL distribution points' full names. */
  crlUrls: string[];
}

const hexOf = (t: Tlv) => bytesToHex(t.buf.subarray(t.start, t.end));

/** Throws DerError on anything that is not a DER certificate. */
export function certificateFacts(der: Uint8Array): CertificateFacts {
  const f = walkCertificate({ der });
  let akiHex: string | null = null;
  const crlUrls: string[] = [];
  for (const e of f.extensions) {
    if (e.oid === OID.authorityKeyIdentifier) akiHex = readAkiKeyId(e.value);
    else if (e.oid === OID.crlDistributionPoints) crlUrls.push(...readCdpUris(e.value));
  }
  return {
    serialHex: bytesToHex(content(f.serial)),
    issuerNameHex: hexOf(f.issuer),
    subjectNameHex: hexOf(f.subject),
    spki: f.spki.buf.subarray(f.spki.start, f.spki.end),
    akiHex,
    crlUrls,
  };
}

/** The value an extnValue OCTET STRING holds, read in the mode of the certificate. */
export function extensionValue(value: Tlv): Tlv {
  return readOne(content(value), value.lenient ? LENIENT : STRICT);
}

function readAkiKeyId(value: Tlv): string | null {
  const keyId = children(field(extensionValue(value), TAG.SEQUENCE, 'authorityKeyIdentifier')).find((t) => t.tag === 0x80);
  return keyId ? bytesToHex(content(keyId)) : null;
}

function readCdpUris(value: Tlv): string[] {
  const uris: string[] = [];
  for (const point of children(field(extensionValue(value), TAG.SEQUENCE, 'cRLDistributionPoints'))) {
    const name = children(field(point, TAG.SEQUENCE, 'DistributionPoint')).find((t) => t.tag === 0xa0);
    const fullName = name ? children(name).find((t) => t.tag === 0xa0) : undefined;
    for (const gn of fullName ? children(fullName) : []) {
      if (gn.tag === 0x86) uris.push(Buffer.from(content(gn)).toString('latin1'));
    }
  }
  return uris;
}

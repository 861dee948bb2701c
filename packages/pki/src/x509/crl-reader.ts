/** The one CRL reader (RFC 5280 5.1): the walk both modes share, and the strict view Anvil, its CLI and the judge service read CRLs with (the judge's own view is validation/x509-model.ts). */
import {
  DerError,
  LENIENT,
  STRICT,
  TAG,
  bytesToHex,
  children,
  content,
  ctx,
  ctxPrim,
  integerValue,
  oidOf,
  raw,
  readOne,
  type RawExtension,
  type Tlv,
} from '../der.ts';
import { CrlParseError } from '../errors.ts';
import { OID } from '../oids.ts';
import { revocationReasonName, type RevocationReason } from '../revocation/reasons.ts';
import { verifySignedData } from '../revocation/signature-check.ts';
import { TimeError, decodeTimeDer } from '../time.ts';
import { extensionValue, field, readExtensionList, timeField, type ReadMode } from './certificate-reader.ts';

/** The fields of a CertificateList as raw TLVs (the modes are the certificate reader's: ReadMode). */
export interface CrlFields {
  der: Uint8Array;
  tbs: Tlv;
  /** The version INTEGER, when present (v2 CRLs). */
  version?: Tlv;
  signature: Tlv;
  issuer: Tlv;
  thisUpdate: Tlv;
  nextUpdate?: Tlv;
  /** revokedCertificates, when present; read its entries with readCrlEntry (one at a time: a CRL may hold millions). */
  revoked?: Tlv;
  /** The [0] crlExtensions wrapper, when present (even empty: a v1 CRL may not have one). */
  crlExtensions?: Tlv;
  extensions: RawExtension[];
  signatureAlgorithm: Tlv;
  signatureValue: Tlv;
}

export interface CrlEntryFields {
  serial: Tlv;
  revocationDate: Tlv;
  extensions: RawExtension[];
}

export interface ReadCrlParams {
  der: Uint8Array;
  /** Default 'strict'. */
  mode?: ReadMode;
}

/** The walk: throws DerError (MissingFieldError for an absent field). */
export function walkCrl(p: ReadCrlParams): CrlFields {
  const crl = readOne(p.der, p.mode === 'lenient' ? LENIENT : STRICT, TAG.SEQUENCE);
  const [tbs, signatureAlgorithm, signatureValue, ...rest] = children(crl);
  field(tbs, TAG.SEQUENCE, 'tbsCertList');
  field(signatureAlgorithm, TAG.SEQUENCE, 'signatureAlgorithm');
  field(signatureValue, TAG.BIT_STRING, 'signatureValue');
  if (rest.length) throw new DerError('CertificateList: unexpected trailing field');
  const f = children(tbs);
  let i = 0;
  const version = f[i]?.tag === TAG.INTEGER ? f[i++] : undefined;
  const signature = field(f[i++], TAG.SEQUENCE, 'signature');
  const issuer = field(f[i++], TAG.SEQUENCE, 'issuer');
  const thisUpdate = timeField(f[i++], 'thisUpdate');
  const nextUpdate = f[i] && (f[i].tag === TAG.UTC_TIME || f[i].tag === TAG.GENERALIZED_TIME) ? f[i++] : undefined;
  const revoked = f[i]?.tag === TAG.SEQUENCE ? f[i++] : undefined;
  let extensions: RawExtension[] = [];
  const crlExtensions = f[i]?.tag === ctx(0) ? f[i++] : undefined;
  if (crlExtensions) {
    const [list, ...more] = children(crlExtensions);
    if (more.length) throw new DerError('crlExtensions: unexpected trailing field');
    extensions = readExtensionList(field(list, TAG.SEQUENCE, 'crlExtensions'), 'CRL');
  }
  if (i !== f.length) throw new DerError('tbsCertList: unexpected trailing field');
  return {
    der: p.der,
    tbs,
    ...(version ? { version } : {}),
    signature,
    issuer,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    ...(revoked ? { revoked } : {}),
    ...(crlExtensions ? { crlExtensions } : {}),
    extensions,
    signatureAlgorithm,
    signatureValue,
  };
}

/** One revokedCertificates entry: SEQUENCE { userCertificate, revocationDate, crlEntryExtensions OPTIONAL }. */
export function readCrlEntry(entry: Tlv, what: string): CrlEntryFields {
  // Runs once per entry of a CRL that may hold a million: no rest pattern, messages only on failure.
  const parts = children(entry.tag === TAG.SEQUENCE ? entry : field(entry, TAG.SEQUENCE, what));
  const [serial, date, exts] = parts;
  if (serial?.tag !== TAG.INTEGER) field(serial, TAG.INTEGER, `${what}.userCertificate`);
  const revocationDate =
    date && (date.tag === TAG.UTC_TIME || date.tag === TAG.GENERALIZED_TIME) ? date : timeField(date, `${what}.revocationDate`);
  if (parts.length > 3) throw new DerError(`${what}: unexpected trailing field`);
  return { serial, revocationDate, extensions: exts ? readExtensionList(exts, what) : [] };
}

// ---- the strict view --------------------------------------------------------------------------

export interface ParsedCrlEntry {
  serialHex: string;
  revokedAt: Date;
  /** 'unspecified' when the entry has no reasonCode extension (RFC 5280 5.3.1). */
  reason: RevocationReason;
  /** OIDs of critical entry extensions not understood here (e.g. certificateIssuer of an indirect CRL). */
  unhandledCriticalExtensions?: string[];
}

export interface ParsedCrl {
  version: 1 | 2;
  signatureAlgorithmOid: string;
  /** DER of the issuer Name exactly as in the CRL. */
  issuerNameDer: Uint8Array;
  thisUpdate: Date;
  nextUpdate?: Date;
  entries: ParsedCrlEntry[];
  /** CRLNumber; absent only in CRLs from issuers that do not follow RFC 5280 (or v1 CRLs). */
  number?: bigint;
  authorityKeyId?: Uint8Array;
  /**
   * OIDs of critical CRL extensions not understood here (issuingDistributionPoint,
   * deltaCRLIndicator, ...). RFC 5280 6.3.3: a validator must not use such a CRL to decide
   * revocation as if it were a complete CRL.
   */
  unhandledCriticalExtensions: string[];
  /** The signed bytes (a view into the input). */
  tbsDer: Uint8Array;
  signature: Uint8Array;
  /** Present only when parseCrl was given an issuer key. */
  signatureValid?: boolean;
}

export { CrlParseError };

export interface ParseCrlOptions {
  /** With the issuer's SubjectPublicKeyInfo, also report whether the signature verifies under it. */
  issuerSpkiDer?: Uint8Array;
}

/**
 * Parses a CRL (RFC 5280 5.1) without asn1js, so a large CRL costs a few small objects per
 * entry rather than a tree of schema objects. Strict DER: BER input or trailing bytes throw.
 */
export function parseCrl(der: Uint8Array, options: ParseCrlOptions = {}): ParsedCrl {
  try {
    return parse(der, options);
  } catch (e) {
    if (e instanceof DerError || e instanceof TimeError) {
      throw new CrlParseError(`malformed CRL: ${(e as Error).message}`);
    }
    throw e;
  }
}

interface SignedEnvelope {
  f: CrlFields;
  signatureAlgorithmOid: string;
  signature: Uint8Array;
  version: 1 | 2;
}

/** The strict checks of the signed envelope: all a signature check needs. */
function readEnvelope(der: Uint8Array): SignedEnvelope {
  const f = walkCrl({ der });
  const sigBits = content(f.signatureValue);
  if (sigBits.length < 1 || sigBits[0] !== 0) throw new DerError('signatureValue: unused bits must be zero');
  const signature = sigBits.slice(1);
  const signatureAlgorithmOid = oidOf(field(children(f.signatureAlgorithm)[0], TAG.OID, 'signatureAlgorithm'));
  let version: 1 | 2 = 1;
  if (f.version) {
    if (smallUnsigned(f.version, 'version') !== 1) throw new DerError('version: only v2 (1) may be written explicitly');
    version = 2;
  }
  // RFC 5280 5.1.1.2: the algorithm inside and outside the signed part MUST be identical.
  if (bytesToHex(raw(f.signature)) !== bytesToHex(raw(f.signatureAlgorithm))) {
    throw new DerError('signature algorithm inside tbsCertList differs from signatureAlgorithm');
  }
  return { f, signatureAlgorithmOid, signature, version };
}

/** A small non-negative INTEGER or ENUMERATED (versions, reason codes). */
function smallUnsigned(t: Tlv, what: string): number {
  const bytes = content(t);
  if (bytes.length === 0 || bytes.length > 4 || bytes[0] & 0x80) throw new DerError(`${what}: not a small non-negative integer`);
  let v = 0;
  for (const b of bytes) v = v * 256 + b;
  return v;
}

/** Extensions may not repeat (RFC 5280 4.2). */
function noDuplicates(exts: RawExtension[], what: string): RawExtension[] {
  const seen = new Set<string>();
  for (const e of exts) {
    if (seen.has(e.oid)) throw new DerError(`${what}: extension ${e.oid} appears twice`);
    seen.add(e.oid);
  }
  return exts;
}

const dateOf = (t: Tlv): Date => decodeTimeDer(t.tag, content(t));

function parse(der: Uint8Array, options: ParseCrlOptions): ParsedCrl {
  const { f, signatureAlgorithmOid, signature, version } = readEnvelope(der);
  const entries: ParsedCrlEntry[] = [];
  if (f.revoked) for (const e of children(f.revoked)) entries.push(readEntry(e, entries.length));

  let number: bigint | undefined;
  let authorityKeyId: Uint8Array | undefined;
  const unhandledCriticalExtensions: string[] = [];
  if (f.crlExtensions && version !== 2) throw new DerError('a v1 CRL cannot carry extensions');
  for (const ext of noDuplicates(f.extensions, 'CRL')) {
    if (ext.oid === OID.crlNumber) {
      const n = content(field(extensionValue(ext.value), TAG.INTEGER, 'cRLNumber'));
      if (n.length === 0) throw new DerError('cRLNumber: empty INTEGER');
      if (n[0] & 0x80) throw new DerError('cRLNumber: negative INTEGER');
      number = integerValue(n);
    } else if (ext.oid === OID.authorityKeyIdentifier) {
      const kid = children(field(extensionValue(ext.value), TAG.SEQUENCE, 'authorityKeyIdentifier')).find((t) => t.tag === ctxPrim(0));
      if (kid) authorityKeyId = content(kid).slice();
    } else if (ext.critical) {
      unhandledCriticalExtensions.push(ext.oid);
    }
  }

  const result: ParsedCrl = {
    version,
    signatureAlgorithmOid,
    issuerNameDer: raw(f.issuer).slice(),
    thisUpdate: dateOf(f.thisUpdate),
    ...(f.nextUpdate ? { nextUpdate: dateOf(f.nextUpdate) } : {}),
    entries,
    ...(number !== undefined ? { number } : {}),
    ...(authorityKeyId ? { authorityKeyId } : {}),
    unhandledCriticalExtensions,
    tbsDer: raw(f.tbs),
    signature,
  };
  if (options.issuerSpkiDer) {
    result.signatureValid = verifySignedData({ tbs: result.tbsDer, signatureAlgorithmOid, signature, spkiDer: options.issuerSpkiDer });
  }
  return result;
}

function readEntry(t: Tlv, index: number): ParsedCrlEntry {
  const what = `revokedCertificates[${index}]`;
  const e = readCrlEntry(t, what);
  const serialBytes = content(e.serial);
  if (serialBytes.length === 0) throw new DerError(`${what}.userCertificate: empty INTEGER`);
  const serialHex = bytesToHex(serialBytes);
  const revokedAt = dateOf(e.revocationDate);
  let reason: RevocationReason = 'unspecified';
  let unhandled: string[] | undefined;
  for (const ext of noDuplicates(e.extensions, what)) {
    if (ext.oid === OID.crlReason) {
      const code = smallUnsigned(field(extensionValue(ext.value), TAG.ENUMERATED, `${what}.reasonCode`), `${what}.reasonCode`);
      const name = revocationReasonName(code);
      if (!name) throw new DerError(`${what}: reasonCode ${code} is not a CRLReason`);
      reason = name;
    } else if (ext.critical) {
      (unhandled ??= []).push(ext.oid);
    }
  }
  return unhandled ? { serialHex, revokedAt, reason, unhandledCriticalExtensions: unhandled } : { serialHex, revokedAt, reason };
}

/**
 * Whether `crlDer` is signed by the key in `issuerSpkiDer` (node:crypto.verify, with the key
 * type checked against the algorithm). Checks the envelope, not the entries' contents, so it is
 * cheap on a large CRL. Throws CrlParseError when the CRL is malformed, so a caller can tell
 * "not signed by this issuer" from "not a CRL".
 */
export function verifyCrlSignature(crlDer: Uint8Array, issuerSpkiDer: Uint8Array): boolean {
  let env: SignedEnvelope;
  try {
    env = readEnvelope(crlDer);
  } catch (e) {
    if (e instanceof DerError) throw new CrlParseError(`malformed CRL: ${e.message}`);
    throw e;
  }
  return verifySignedData({
    tbs: raw(env.f.tbs),
    signatureAlgorithmOid: env.signatureAlgorithmOid,
    signature: env.signature,
    spkiDer: issuerSpkiDer,
  });
}

/** CRLs (RFC 5280 5): the strict parser Anvil and its CLI read CRLs with, and the signature check. */
import { OID } from '../oids.ts';
import { TimeError, decodeTimeDer } from '../time.ts';
import {
  type DerCursor,
  DerError,
  TAG,
  bytesToHex,
  ctx,
  ctxPrim,
  decodeOid,
  integerBig,
  integerHex,
  readExtensions,
  readWhole,
  smallUnsigned,
  type Tlv,
} from '../der.ts';
import { revocationReasonName, type RevocationReason } from './reasons.ts';
import { verifySignedData } from './signature-check.ts';
import { CrlParseError } from '../errors.ts';

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

/**
 * Parses a CRL (RFC 5280 5.1) without asn1js, so a large CRL costs a few small objects per
 * entry rather than a tree of schema objects. Strict DER: BER input or trailing bytes throw.
 * With `issuerSpkiDer`, also reports whether the signature verifies under that key.
 */
export function parseCrl(der: Uint8Array, options: { issuerSpkiDer?: Uint8Array } = {}): ParsedCrl {
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
  outer: DerCursor;
  tbs: DerCursor;
  tbsTlv: Tlv;
  signatureAlgorithmOid: string;
  signature: Uint8Array;
  version: 1 | 2;
}

/** The signed envelope and the first TBS fields: all a signature check needs, no entries. */
function readEnvelope(der: Uint8Array): SignedEnvelope {
  const { cursor: outer } = readWhole(der, TAG.SEQUENCE, 'CertificateList');
  const tbsTlv = outer.next(TAG.SEQUENCE, 'tbsCertList');
  const outerAlg = outer.next(TAG.SEQUENCE, 'signatureAlgorithm');
  const sigTlv = outer.next(TAG.BIT_STRING, 'signatureValue');
  outer.finish('CertificateList');

  const sigBits = outer.content(sigTlv);
  if (sigBits.length < 1 || sigBits[0] !== 0) throw new DerError('signatureValue: unused bits must be zero');
  const signature = sigBits.slice(1);
  const signatureAlgorithmOid = decodeOid(outer.content(outer.enter(outerAlg).next(TAG.OID, 'signatureAlgorithm')));

  const tbs = outer.enter(tbsTlv);
  let version: 1 | 2 = 1;
  const versionTlv = tbs.optional(TAG.INTEGER);
  if (versionTlv) {
    if (smallUnsigned(tbs, versionTlv, 'version') !== 1) throw new DerError('version: only v2 (1) may be written explicitly');
    version = 2;
  }
  const innerAlg = tbs.next(TAG.SEQUENCE, 'signature');
  // RFC 5280 5.1.1.2: the algorithm inside and outside the signed part MUST be identical.
  if (bytesToHex(tbs.raw(innerAlg)) !== bytesToHex(outer.raw(outerAlg))) {
    throw new DerError('signature algorithm inside tbsCertList differs from signatureAlgorithm');
  }
  return { outer, tbs, tbsTlv, signatureAlgorithmOid, signature, version };
}

function parse(der: Uint8Array, options: { issuerSpkiDer?: Uint8Array }): ParsedCrl {
  const { outer, tbs, tbsTlv, signatureAlgorithmOid, signature, version } = readEnvelope(der);
  const issuer = tbs.next(TAG.SEQUENCE, 'issuer');
  const thisUpdate = readTime(tbs, 'thisUpdate');
  let nextUpdate: Date | undefined;
  const nt = tbs.peekTag();
  if (nt === TAG.UTC_TIME || nt === TAG.GENERALIZED_TIME) nextUpdate = readTime(tbs, 'nextUpdate');

  const entries: ParsedCrlEntry[] = [];
  const revoked = tbs.optional(TAG.SEQUENCE);
  if (revoked) {
    const list = tbs.enter(revoked);
    while (!list.done) entries.push(readEntry(list, entries.length));
  }

  let number: bigint | undefined;
  let authorityKeyId: Uint8Array | undefined;
  const unhandledCriticalExtensions: string[] = [];
  const extsWrapper = tbs.optional(ctx(0));
  if (extsWrapper) {
    if (version !== 2) throw new DerError('a v1 CRL cannot carry extensions');
    const w = tbs.enter(extsWrapper);
    const seq = w.next(TAG.SEQUENCE, 'crlExtensions');
    w.finish('crlExtensions');
    for (const ext of readExtensions(tbs, seq, 'CRL')) {
      const v = tbs.enter(ext.value);
      if (ext.oid === OID.crlNumber) {
        number = integerBig(v, v.next(TAG.INTEGER, 'cRLNumber'), 'cRLNumber');
        v.finish('cRLNumber');
      } else if (ext.oid === OID.authorityKeyIdentifier) {
        const aki = v.enter(v.next(TAG.SEQUENCE, 'authorityKeyIdentifier'));
        v.finish('authorityKeyIdentifier');
        const kid = aki.optional(ctxPrim(0));
        if (kid) authorityKeyId = aki.content(kid).slice();
      } else if (ext.critical) {
        unhandledCriticalExtensions.push(ext.oid);
      }
    }
  }
  tbs.finish('tbsCertList');

  const result: ParsedCrl = {
    version,
    signatureAlgorithmOid,
    issuerNameDer: tbs.raw(issuer).slice(),
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    entries,
    ...(number !== undefined ? { number } : {}),
    ...(authorityKeyId ? { authorityKeyId } : {}),
    unhandledCriticalExtensions,
    tbsDer: outer.raw(tbsTlv),
    signature,
  };
  if (options.issuerSpkiDer) {
    result.signatureValid = verifySignedData({
      tbs: result.tbsDer,
      signatureAlgorithmOid,
      signature,
      spkiDer: options.issuerSpkiDer,
    });
  }
  return result;
}

function readTime(c: DerCursor, what: string): Date {
  const t = c.any(what);
  if (t.tag !== TAG.UTC_TIME && t.tag !== TAG.GENERALIZED_TIME) throw new DerError(`${what}: expected a time`);
  return decodeTimeDer(t.tag, c.content(t));
}

function readEntry(list: DerCursor, index: number): ParsedCrlEntry {
  const what = `revokedCertificates[${index}]`;
  const e = list.enter(list.next(TAG.SEQUENCE, what));
  const serialHex = integerHex(e, e.next(TAG.INTEGER, `${what}.userCertificate`), `${what}.userCertificate`);
  const revokedAt = readTime(e, `${what}.revocationDate`);
  let reason: RevocationReason = 'unspecified';
  let unhandled: string[] | undefined;
  const exts = e.optional(TAG.SEQUENCE);
  if (exts) {
    for (const ext of readExtensions(e, exts, what)) {
      if (ext.oid === OID.crlReason) {
        const v = e.enter(ext.value);
        const code = smallUnsigned(v, v.next(TAG.ENUMERATED, `${what}.reasonCode`), `${what}.reasonCode`);
        v.finish(`${what}.reasonCode`);
        const name = revocationReasonName(code);
        if (!name) throw new DerError(`${what}: reasonCode ${code} is not a CRLReason`);
        reason = name;
      } else if (ext.critical) {
        (unhandled ??= []).push(ext.oid);
      }
    }
  }
  e.finish(what);
  return unhandled ? { serialHex, revokedAt, reason, unhandledCriticalExtensions: unhandled } : { serialHex, revokedAt, reason };
}

/**
 * Whether `crlDer` is signed by the key in `issuerSpkiDer` (node:crypto.verify, with the key
 * type checked against the algorithm). Reads only the envelope, not the entries, so it is cheap on
 * a large CRL. Throws CrlParseError when the envelope is malformed, so a caller can tell "not
 * signed by this issuer" from "not a CRL".
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
    tbs: env.outer.raw(env.tbsTlv),
    signatureAlgorithmOid: env.signatureAlgorithmOid,
    signature: env.signature,
    spkiDer: issuerSpkiDer,
  });
}

/** OCSP (RFC 6960): requests parsed, responses built and parsed, on the one DER module. */
import { createHash } from 'node:crypto';
import { PkiError } from '../errors.ts';
import { algorithmIdentifierDer } from '../signature-algorithms.ts';
import { OID } from '../oids.ts';
import type { Signer } from '../signer.ts';
import { TimeError, decodeTimeDer, encodeGeneralizedTimeDer, truncateToSeconds } from '../time.ts';
import {
  type DerCursor,
  DerError,
  TAG,
  bytesToHex,
  ctx,
  ctxPrim,
  decodeOid,
  encodeOid,
  extension,
  integerHex,
  readExtensions,
  readTlv,
  readWhole,
  smallUnsigned,
  tlv,
  type Tlv,
} from '../der.ts';
import { REVOCATION_REASON_CODES, revocationReasonName, type RevocationReason } from './reasons.ts';
import { verifySignedData } from './signature-check.ts';

/*
 * OCSP wire format (RFC 6960): parse requests, build and parse responses. Hand-encoded with the
 * DER helpers because a response must echo each CertID exactly as the client sent it (clients
 * match on bytes), which a parse-and-re-encode round trip through asn1js cannot promise.
 */

// ---------------------------------------------------------------- shared

export type OcspHashAlgorithm = 'sha1' | 'sha256';

const HASH_OIDS: Record<OcspHashAlgorithm, string> = { sha1: OID.sha1, sha256: OID.sha256 };

export interface CertId {
  /** 'sha1' or 'sha256', or the dotted OID of any other hash the client chose. */
  hashAlgorithm: OcspHashAlgorithm | (string & {});
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** Content octets of the serial INTEGER, lowercase hex, as sent (not normalised). */
  serialHex: string;
  /** DER of the CertID as received, to echo back in the response. */
  raw: Uint8Array;
}

function readCertId(c: DerCursor, t: Tlv, what: string): CertId {
  const id = c.enter(t);
  const alg = id.enter(id.next(TAG.SEQUENCE, `${what}.hashAlgorithm`));
  const oid = decodeOid(alg.content(alg.next(TAG.OID, `${what}.hashAlgorithm`)));
  // parameters: NULL or absent for the SHA family; anything else is tolerated and ignored
  const nameHash = id.next(TAG.OCTET_STRING, `${what}.issuerNameHash`);
  const keyHash = id.next(TAG.OCTET_STRING, `${what}.issuerKeyHash`);
  const serial = id.next(TAG.INTEGER, `${what}.serialNumber`);
  id.finish(what);
  const name = (Object.keys(HASH_OIDS) as OcspHashAlgorithm[]).find((k) => HASH_OIDS[k] === oid);
  return {
    hashAlgorithm: name ?? oid,
    issuerNameHash: id.content(nameHash).slice(),
    issuerKeyHash: id.content(keyHash).slice(),
    serialHex: integerHex(id, serial, `${what}.serialNumber`),
    raw: c.raw(t).slice(),
  };
}

/** Extensions ::= SEQUENCE OF Extension; returns extnValue contents by OID, rejecting duplicates. */
function readExtensionMap(c: DerCursor, seq: Tlv, what: string): Map<string, { critical: boolean; value: Uint8Array }> {
  return new Map(readExtensions(c, seq, what).map((e) => [e.oid, { critical: e.critical, value: c.content(e.value).slice() }]));
}

/**
 * RFC 9654 (which obsoletes RFC 8954's 32-octet cap): the nonce is 1..128 octets and a request
 * outside that range gets malformedRequest. The length check looks inside the OCTET STRING
 * when the value is one (RFC 9654 encoding); older clients that put raw bytes in extnValue are
 * measured as they are, and their bytes are echoed just the same.
 */
const NONCE_MAX = 128;

function checkNonce(value: Uint8Array): void {
  let length = value.length;
  try {
    const t = readTlv(value, 0);
    if (t.tag === TAG.OCTET_STRING && t.end === value.length) length = t.end - t.contentStart;
  } catch {
    // not a DER OCTET STRING: a legacy raw nonce, measured as is
  }
  if (length < 1 || length > NONCE_MAX) throw new DerError(`nonce of ${length} octets is outside 1..${NONCE_MAX}`);
}

// ---------------------------------------------------------------- requests

export interface OcspRequest {
  certIds: CertId[];
  /**
   * The nonce extension's extnValue exactly as received (for RFC 9654 clients, the DER of an
   * OCTET STRING). Kept opaque so that buildOcspResponse echoes it byte for byte, which is what
   * clients compare.
   */
  nonce?: Uint8Array;
}

/** A request that cannot be answered; the HTTP layer answers it with ocspErrorResponse('malformedRequest'). */
export class OcspRequestError extends PkiError<'malformed_ocsp_request'> {
  constructor(message: string) {
    super('malformed_ocsp_request', message);
  }
}

/**
 * Parses an OCSPRequest (RFC 6960 4.1.1). Throws OcspRequestError on anything that is not one
 * well-formed DER request: garbage, truncation, trailing bytes, no CertID, a bad nonce. A
 * signature on the request is read past but not verified (Anvil does not require signed requests).
 */
export function parseOcspRequest(der: Uint8Array): OcspRequest {
  try {
    return parseRequest(der);
  } catch (e) {
    if (e instanceof DerError) throw new OcspRequestError(`malformed OCSP request: ${e.message}`);
    throw e;
  }
}

function parseRequest(der: Uint8Array): OcspRequest {
  if (!(der instanceof Uint8Array) || der.length === 0) throw new DerError('empty request');
  const { cursor: req } = readWhole(der, TAG.SEQUENCE, 'OCSPRequest');
  const tbs = req.enter(req.next(TAG.SEQUENCE, 'tbsRequest'));
  req.optional(ctx(0)); // optionalSignature
  req.finish('OCSPRequest');

  const versionWrapper = tbs.optional(ctx(0));
  if (versionWrapper) {
    const v = tbs.enter(versionWrapper);
    if (smallUnsigned(v, v.next(TAG.INTEGER, 'version'), 'version') !== 0) throw new DerError('version: only v1 (0) is defined');
    v.finish('version');
  }
  tbs.optional(ctx(1)); // requestorName
  const list = tbs.enter(tbs.next(TAG.SEQUENCE, 'requestList'));
  const certIds: CertId[] = [];
  while (!list.done) {
    const what = `requestList[${certIds.length}]`;
    const r = list.enter(list.next(TAG.SEQUENCE, what));
    certIds.push(readCertId(r, r.next(TAG.SEQUENCE, `${what}.reqCert`), `${what}.reqCert`));
    r.optional(ctx(0)); // singleRequestExtensions: none is acted upon
    r.finish(what);
  }
  if (certIds.length === 0) throw new DerError('requestList has no CertID');

  let nonce: Uint8Array | undefined;
  const extsWrapper = tbs.optional(ctx(2));
  if (extsWrapper) {
    const w = tbs.enter(extsWrapper);
    const exts = readExtensionMap(w, w.next(TAG.SEQUENCE, 'requestExtensions'), 'request');
    w.finish('requestExtensions');
    const n = exts.get(OID.ocspNonce);
    if (n) {
      checkNonce(n.value);
      nonce = n.value;
    }
  }
  tbs.finish('tbsRequest');
  return { certIds, ...(nonce ? { nonce } : {}) };
}

/**
 * An OCSPRequest (RFC 6960 4.1.1) for certificates of one issuer, as a relying party sends it:
 * one CertID per serial (SHA-1 by default, as openssl does), no nonce, unsigned. What the
 * console asks Anvil's own responder to show a certificate's live status.
 */
export function buildOcspRequest(p: {
  issuerNameDer: Uint8Array;
  issuerSpkiDer: Uint8Array;
  serialsHex: string[];
  hash?: OcspHashAlgorithm;
}): Uint8Array {
  const hash = p.hash ?? 'sha1';
  const { nameHash, keyHash } = issuerHashes(p.issuerNameDer, p.issuerSpkiDer, hash);
  const hashAlgorithm = tlv(TAG.SEQUENCE, encodeOid(HASH_OIDS[hash]), tlv(TAG.NULL));
  const requests = p.serialsHex.map((serial) => {
    const serialBytes = Buffer.from(serial.length % 2 ? `0${serial}` : serial, 'hex');
    const positive = serialBytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), serialBytes]) : serialBytes;
    const certId = tlv(
      TAG.SEQUENCE,
      hashAlgorithm,
      tlv(TAG.OCTET_STRING, nameHash),
      tlv(TAG.OCTET_STRING, keyHash),
      tlv(TAG.INTEGER, positive),
    );
    return tlv(TAG.SEQUENCE, certId);
  });
  return tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, ...requests)));
}

/**
 * The two hashes a CertID carries for `issuer`: over the DER of its subject Name, and over its
 * subjectPublicKey BIT STRING value (tag, length and unused-bits octet excluded, RFC 6960 4.1.1).
 */
export function issuerHashes(
  issuerNameDer: Uint8Array,
  issuerSpkiDer: Uint8Array,
  algorithm: OcspHashAlgorithm,
): { nameHash: Uint8Array; keyHash: Uint8Array } {
  let key: Uint8Array;
  try {
    const { cursor: spki } = readWhole(issuerSpkiDer, TAG.SEQUENCE, 'SubjectPublicKeyInfo');
    spki.next(TAG.SEQUENCE, 'algorithm');
    const bits = spki.content(spki.next(TAG.BIT_STRING, 'subjectPublicKey'));
    spki.finish('SubjectPublicKeyInfo');
    if (bits.length < 1 || bits[0] !== 0) throw new DerError('subjectPublicKey: unused bits must be zero');
    key = bits.subarray(1);
  } catch (e) {
    throw new OcspBuildError(`issuerSpkiDer is not a SubjectPublicKeyInfo: ${(e as Error).message}`);
  }
  const hash = (data: Uint8Array) => new Uint8Array(createHash(algorithm).update(data).digest());
  return { nameHash: hash(issuerNameDer), keyHash: hash(key) };
}

// ---------------------------------------------------------------- responses

export const OCSP_RESPONSE_STATUS_CODES = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  // 4 is not used
  sigRequired: 5,
  unauthorized: 6,
} as const;
export type OcspResponseStatus = keyof typeof OCSP_RESPONSE_STATUS_CODES;
export type OcspErrorStatus = Exclude<OcspResponseStatus, 'successful'>;

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

export interface OcspSingleResponseParams {
  /** CertId.raw from the request, echoed verbatim. */
  certIdRaw: Uint8Array;
  status: OcspCertStatus;
  /** Required when revoked. */
  revokedAt?: Date;
  /** Revoked only; 'unspecified' (the default) writes no revocationReason. */
  reason?: RevocationReason;
  thisUpdate: Date;
  /** Omitted means "newer information is always available" (RFC 6960 4.2.2.1). */
  nextUpdate?: Date;
}

export interface OcspResponseParams {
  signer: Signer;
  /**
   * The responder's certificate, sent in `certs` so clients can verify a delegated responder
   * (EKU OCSPSigning, issued by the CA). May be omitted when the CA key itself signs.
   */
  responderCertDer?: Uint8Array;
  /** ResponderID byKey: SHA-1 of the responder's subjectPublicKey BIT STRING value (20 octets). */
  responderKeyHash: Uint8Array;
  producedAt: Date;
  responses: OcspSingleResponseParams[];
  /** OcspRequest.nonce, echoed verbatim in responseExtensions. */
  nonce?: Uint8Array;
}

export class OcspBuildError extends PkiError<'invalid_ocsp_params'> {
  constructor(message: string) {
    super('invalid_ocsp_params', message);
  }
}

/** id-pkix-ocsp-basic, the only responseType written, encoded once. */
const OCSP_BASIC_OID = encodeOid(OID.ocspBasic);

function certStatusDer(r: OcspSingleResponseParams, index: number): Uint8Array {
  switch (r.status) {
    case 'good':
      return Uint8Array.of(ctxPrim(0), 0); // [0] IMPLICIT NULL
    case 'unknown':
      return Uint8Array.of(ctxPrim(2), 0); // [2] IMPLICIT UnknownInfo (NULL)
    case 'revoked': {
      if (!(r.revokedAt instanceof Date) || Number.isNaN(r.revokedAt.getTime())) {
        throw new OcspBuildError(`responses[${index}]: a revoked status needs revokedAt`);
      }
      const reason = r.reason ?? 'unspecified';
      const code = REVOCATION_REASON_CODES[reason];
      if (code === undefined) throw new OcspBuildError(`responses[${index}]: unknown revocation reason "${String(reason)}"`);
      if (reason === 'removeFromCRL') {
        throw new OcspBuildError(`responses[${index}]: removeFromCRL means "no longer revoked"; answer good instead`);
      }
      // Like the CRL entry, no revocationReason for 'unspecified' (RFC 5280 5.3.1 says the
      // reason SHOULD be absent rather than 0), so the CRL and OCSP say the same thing.
      const reasonDer = reason === 'unspecified' ? [] : [tlv(ctx(0), Uint8Array.of(TAG.ENUMERATED, 1, code))];
      return tlv(ctx(1), encodeGeneralizedTimeDer(r.revokedAt), ...reasonDer); // [1] IMPLICIT RevokedInfo
    }
    default:
      throw new OcspBuildError(`responses[${index}]: unknown status "${String(r.status)}"`);
  }
}

function singleResponseDer(r: OcspSingleResponseParams, index: number): Uint8Array {
  try {
    readWhole(r.certIdRaw, TAG.SEQUENCE, 'certIdRaw');
  } catch (e) {
    throw new OcspBuildError(`responses[${index}]: certIdRaw is not a DER CertID: ${(e as Error).message}`);
  }
  if (r.status !== 'revoked' && (r.revokedAt || r.reason)) {
    throw new OcspBuildError(`responses[${index}]: revokedAt and reason belong to a revoked status only`);
  }
  const thisUpdate = checkedDate(r.thisUpdate, `responses[${index}].thisUpdate`);
  const parts = [r.certIdRaw, certStatusDer(r, index), encodeGeneralizedTimeDer(thisUpdate)];
  if (r.nextUpdate !== undefined) {
    const nextUpdate = checkedDate(r.nextUpdate, `responses[${index}].nextUpdate`);
    if (nextUpdate <= thisUpdate) throw new OcspBuildError(`responses[${index}]: nextUpdate must be after thisUpdate`);
    parts.push(tlv(ctx(0), encodeGeneralizedTimeDer(nextUpdate)));
  }
  return tlv(TAG.SEQUENCE, ...parts);
}

function checkedDate(d: Date, what: string): Date {
  try {
    return truncateToSeconds(d);
  } catch {
    throw new OcspBuildError(`${what} is not a valid Date`);
  }
}

/**
 * Builds a successful OCSPResponse carrying a signed BasicOCSPResponse (RFC 6960 4.2.1):
 * ResponderID byKey, GeneralizedTime throughout, one SingleResponse per entry in the given order,
 * the nonce echoed when given, and the responder certificate in `certs`.
 */
export async function buildOcspResponse(p: OcspResponseParams): Promise<Uint8Array> {
  if (!Array.isArray(p.responses) || p.responses.length === 0) throw new OcspBuildError('responses must not be empty');
  if (!(p.responderKeyHash instanceof Uint8Array) || p.responderKeyHash.length !== 20) {
    throw new OcspBuildError('responderKeyHash must be the 20-octet SHA-1 of the responder public key');
  }
  if (p.nonce !== undefined) {
    try {
      checkNonce(p.nonce);
    } catch (e) {
      throw new OcspBuildError((e as Error).message);
    }
  }
  if (p.responderCertDer !== undefined) {
    try {
      readWhole(p.responderCertDer, TAG.SEQUENCE, 'responderCertDer');
    } catch (e) {
      throw new OcspBuildError(`responderCertDer is not a DER certificate: ${(e as Error).message}`);
    }
  }
  const producedAt = checkedDate(p.producedAt, 'producedAt');

  const tbsParts = [
    // version is DEFAULT v1 and so omitted (DER)
    tlv(ctx(2), tlv(TAG.OCTET_STRING, p.responderKeyHash)), // ResponderID byKey [2] EXPLICIT KeyHash
    encodeGeneralizedTimeDer(producedAt),
    tlv(TAG.SEQUENCE, ...p.responses.map(singleResponseDer)),
  ];
  if (p.nonce) {
    tbsParts.push(tlv(ctx(1), tlv(TAG.SEQUENCE, extension(OID.ocspNonce, false, p.nonce))));
  }
  const tbsResponseData = tlv(TAG.SEQUENCE, ...tbsParts);
  const signature = await p.signer.sign(tbsResponseData);
  const sigAlg = algorithmIdentifierDer(p.signer.signatureAlgorithm);
  const basic = tlv(
    TAG.SEQUENCE,
    tbsResponseData,
    sigAlg,
    tlv(TAG.BIT_STRING, Uint8Array.of(0), signature),
    ...(p.responderCertDer ? [tlv(ctx(0), tlv(TAG.SEQUENCE, p.responderCertDer))] : []),
  );
  return tlv(
    TAG.SEQUENCE,
    Uint8Array.of(TAG.ENUMERATED, 1, OCSP_RESPONSE_STATUS_CODES.successful),
    tlv(ctx(0), tlv(TAG.SEQUENCE, OCSP_BASIC_OID, tlv(TAG.OCTET_STRING, basic))),
  );
}

/**
 * An unsuccessful OCSPResponse: the status alone, no responseBytes (RFC 6960 4.2.1), and so
 * unsigned. Constant bytes, safe to send without touching a key (e.g. when the signer is down).
 */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  // Checked at run time too: the status often comes from an error mapping, not a literal.
  const code: number | undefined = OCSP_RESPONSE_STATUS_CODES[status];
  if (code === undefined || code === OCSP_RESPONSE_STATUS_CODES.successful) {
    throw new OcspBuildError(`"${String(status)}" is not an OCSP error status`);
  }
  return Uint8Array.of(TAG.SEQUENCE, 3, TAG.ENUMERATED, 1, code);
}

// ---------------------------------------------------------------- reading responses

export interface ParsedOcspSingleResponse {
  certId: CertId;
  status: OcspCertStatus;
  revokedAt?: Date;
  /** Revoked only; 'unspecified' when no revocationReason was sent. */
  reason?: RevocationReason;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface ParsedOcspResponse {
  status: OcspResponseStatus;
  /** The rest is present only for a successful response. */
  producedAt?: Date;
  responderKeyHash?: Uint8Array;
  /** DER of the responder Name when the ResponderID is byName. */
  responderNameDer?: Uint8Array;
  responses: ParsedOcspSingleResponse[];
  /** The nonce extnValue, comparable byte for byte with OcspRequest.nonce. */
  nonce?: Uint8Array;
  certs: Uint8Array[];
  signatureAlgorithmOid?: string;
  signature?: Uint8Array;
  tbsResponseDataDer?: Uint8Array;
  /** Present only when parseOcspResponse was given the responder's key. */
  signatureValid?: boolean;
}

export class OcspResponseParseError extends PkiError<'malformed_ocsp_response'> {
  constructor(message: string) {
    super('malformed_ocsp_response', message);
  }
}

/**
 * Parses an OCSPResponse: overall status, and for a BasicOCSPResponse the per-certificate
 * statuses, nonce and certs. With `responderSpkiDer`, also reports whether the signature
 * verifies under that key. Does not judge freshness or responder authorisation: that is path
 * validation's job, which knows the clock and the trust anchors.
 */
export function parseOcspResponse(der: Uint8Array, options: { responderSpkiDer?: Uint8Array } = {}): ParsedOcspResponse {
  try {
    return parseResponse(der, options);
  } catch (e) {
    if (e instanceof DerError || e instanceof TimeError) throw new OcspResponseParseError(`malformed OCSP response: ${e.message}`);
    throw e;
  }
}

function parseResponse(der: Uint8Array, options: { responderSpkiDer?: Uint8Array }): ParsedOcspResponse {
  const { cursor: outer } = readWhole(der, TAG.SEQUENCE, 'OCSPResponse');
  const code = smallUnsigned(outer, outer.next(TAG.ENUMERATED, 'responseStatus'), 'responseStatus');
  const status = (Object.keys(OCSP_RESPONSE_STATUS_CODES) as OcspResponseStatus[]).find((k) => OCSP_RESPONSE_STATUS_CODES[k] === code);
  if (!status) throw new DerError(`responseStatus ${code} is not defined`);
  const bytesWrapper = outer.optional(ctx(0));
  outer.finish('OCSPResponse');
  if (status !== 'successful') {
    if (bytesWrapper) throw new DerError('an unsuccessful response must not carry responseBytes');
    return { status, responses: [], certs: [] };
  }
  if (!bytesWrapper) throw new DerError('a successful response must carry responseBytes');
  const w = outer.enter(bytesWrapper);
  const rb = w.enter(w.next(TAG.SEQUENCE, 'responseBytes'));
  w.finish('responseBytes');
  const type = decodeOid(rb.content(rb.next(TAG.OID, 'responseType')));
  if (type !== OID.ocspBasic) throw new DerError(`responseType ${type} is not id-pkix-ocsp-basic`);
  const basicDer = rb.content(rb.next(TAG.OCTET_STRING, 'response'));
  rb.finish('responseBytes');

  const { cursor: basic } = readWhole(basicDer, TAG.SEQUENCE, 'BasicOCSPResponse');
  const tbsTlv = basic.next(TAG.SEQUENCE, 'tbsResponseData');
  const sigAlg = basic.enter(basic.next(TAG.SEQUENCE, 'signatureAlgorithm'));
  const signatureAlgorithmOid = decodeOid(sigAlg.content(sigAlg.next(TAG.OID, 'signatureAlgorithm')));
  const sigBits = basic.content(basic.next(TAG.BIT_STRING, 'signature'));
  if (sigBits.length < 1 || sigBits[0] !== 0) throw new DerError('signature: unused bits must be zero');
  const certs: Uint8Array[] = [];
  const certsWrapper = basic.optional(ctx(0));
  if (certsWrapper) {
    const cw = basic.enter(certsWrapper);
    const list = cw.enter(cw.next(TAG.SEQUENCE, 'certs'));
    cw.finish('certs');
    while (!list.done) certs.push(list.raw(list.next(TAG.SEQUENCE, `certs[${certs.length}]`)).slice());
  }
  basic.finish('BasicOCSPResponse');

  const tbs = basic.enter(tbsTlv);
  const versionWrapper = tbs.optional(ctx(0));
  if (versionWrapper) {
    const v = tbs.enter(versionWrapper);
    if (smallUnsigned(v, v.next(TAG.INTEGER, 'version'), 'version') !== 0) throw new DerError('version: only v1 (0) is defined');
  }
  let responderKeyHash: Uint8Array | undefined;
  let responderNameDer: Uint8Array | undefined;
  const rid = tbs.any('responderID');
  const ridInner = tbs.enter(rid);
  if (rid.tag === ctx(1)) responderNameDer = ridInner.raw(ridInner.next(TAG.SEQUENCE, 'responderID byName')).slice();
  else if (rid.tag === ctx(2)) responderKeyHash = ridInner.content(ridInner.next(TAG.OCTET_STRING, 'responderID byKey')).slice();
  else throw new DerError('responderID is neither byName [1] nor byKey [2]');
  ridInner.finish('responderID');
  const producedAt = readGeneralizedTime(tbs, 'producedAt');
  const list = tbs.enter(tbs.next(TAG.SEQUENCE, 'responses'));
  const responses: ParsedOcspSingleResponse[] = [];
  while (!list.done) responses.push(readSingleResponse(list, `responses[${responses.length}]`));
  let nonce: Uint8Array | undefined;
  const extsWrapper = tbs.optional(ctx(1));
  if (extsWrapper) {
    const ew = tbs.enter(extsWrapper);
    const exts = readExtensionMap(ew, ew.next(TAG.SEQUENCE, 'responseExtensions'), 'response');
    ew.finish('responseExtensions');
    nonce = exts.get(OID.ocspNonce)?.value;
  }
  tbs.finish('tbsResponseData');

  const tbsResponseDataDer = basic.raw(tbsTlv).slice();
  const signature = sigBits.slice(1);
  const result: ParsedOcspResponse = {
    status,
    producedAt,
    ...(responderKeyHash ? { responderKeyHash } : {}),
    ...(responderNameDer ? { responderNameDer } : {}),
    responses,
    ...(nonce ? { nonce } : {}),
    certs,
    signatureAlgorithmOid,
    signature,
    tbsResponseDataDer,
  };
  if (options.responderSpkiDer) {
    result.signatureValid = verifySignedData({
      tbs: tbsResponseDataDer,
      signatureAlgorithmOid,
      signature,
      spkiDer: options.responderSpkiDer,
    });
  }
  return result;
}

function readGeneralizedTime(c: DerCursor, what: string): Date {
  const t = c.next(TAG.GENERALIZED_TIME, what);
  return decodeTimeDer(t.tag, c.content(t));
}

function readSingleResponse(list: DerCursor, what: string): ParsedOcspSingleResponse {
  const s = list.enter(list.next(TAG.SEQUENCE, what));
  const certId = readCertId(s, s.next(TAG.SEQUENCE, `${what}.certID`), `${what}.certID`);
  const cs = s.any(`${what}.certStatus`);
  let status: OcspCertStatus;
  let revokedAt: Date | undefined;
  let reason: RevocationReason | undefined;
  if (cs.tag === ctxPrim(0) && cs.end === cs.contentStart) status = 'good';
  else if (cs.tag === ctxPrim(2) && cs.end === cs.contentStart) status = 'unknown';
  else if (cs.tag === ctx(1)) {
    status = 'revoked';
    const ri = s.enter(cs);
    revokedAt = readGeneralizedTime(ri, `${what}.revocationTime`);
    reason = 'unspecified';
    const rw = ri.optional(ctx(0));
    if (rw) {
      const r = ri.enter(rw);
      const code = smallUnsigned(r, r.next(TAG.ENUMERATED, `${what}.revocationReason`), `${what}.revocationReason`);
      r.finish(`${what}.revocationReason`);
      const name = revocationReasonName(code);
      if (!name) throw new DerError(`${what}: revocationReason ${code} is not a CRLReason`);
      reason = name;
    }
    ri.finish(`${what}.revokedInfo`);
  } else throw new DerError(`${what}.certStatus: unexpected ${bytesToHex(s.raw(cs).subarray(0, 1))}`);
  const thisUpdate = readGeneralizedTime(s, `${what}.thisUpdate`);
  let nextUpdate: Date | undefined;
  const nw = s.optional(ctx(0));
  if (nw) {
    const n = s.enter(nw);
    nextUpdate = readGeneralizedTime(n, `${what}.nextUpdate`);
    n.finish(`${what}.nextUpdate`);
  }
  s.optional(ctx(1)); // singleExtensions
  s.finish(what);
  return {
    certId,
    status,
    ...(revokedAt ? { revokedAt, reason } : {}),
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
  };
}

/** Whether an OCSP response's BasicOCSPResponse is signed by `responderSpkiDer`. */
export function verifyOcspResponseSignature(der: Uint8Array, responderSpkiDer: Uint8Array): boolean {
  return parseOcspResponse(der, { responderSpkiDer }).signatureValid === true;
}

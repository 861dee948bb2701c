/** PKCS#10 requests: strict parse and proof-of-possession check. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { emptySans, readGeneralNamesDer, readNameRecordDer, type Sans } from './names.ts';
import { OID } from './oids.ts';
import { childrenOf, decodeOid, readTlv, TAG, type Tlv } from './der.ts';
import { keyFitsAlgorithm, signatureAlgorithmByOid, verifyWith } from './signature-algorithms.ts';
import { PkiError } from './errors.ts';

/** What Anvil takes from a CSR: its key (after proof of possession) and the names it asks for. */
export interface ParsedCsr {
  publicKeySpki: Uint8Array;
  /** The same key, already loaded (loading an EC point validates it; no need to do that twice). */
  publicKey: KeyObject;
  subject: Record<string, string>;
  requestedSans: Sans;
}

export class CsrError extends PkiError<'malformed_csr' | 'csr_signature_invalid' | 'csr_signature_algorithm'> {}

const EC_CURVES: Record<string, { crv: string; size: number }> = {
  [OID.p256]: { crv: 'P-256', size: 32 },
  [OID.p384]: { crv: 'P-384', size: 48 },
};

/**
 * Loads a SubjectPublicKeyInfo. An uncompressed P-256/P-384 point goes in as a JWK, which node
 * imports ~35% faster than SPKI DER through OpenSSL 3's decoders; both refuse a point that is not
 * on the curve. Everything else takes the DER route.
 */
function loadPublicKey(spki: Uint8Array): KeyObject {
  try {
    const seq = readTlv(spki, 0);
    const alg = readTlv(spki, seq.contentStart, seq.end);
    const bits = readTlv(spki, alg.end, seq.end);
    const type = readTlv(spki, alg.contentStart, alg.end);
    const params = readTlv(spki, type.end, alg.end);
    const curve =
      seq.end === spki.length &&
      bits.end === seq.end &&
      bits.tag === TAG.BIT_STRING &&
      params.end === alg.end &&
      type.tag === TAG.OID &&
      params.tag === TAG.OID &&
      decodeOid(spki.subarray(type.contentStart, type.end)) === OID.ecPublicKey
        ? EC_CURVES[decodeOid(spki.subarray(params.contentStart, params.end))]
        : undefined;
    const point = spki.subarray(bits.contentStart + 1, bits.end);
    if (curve && spki[bits.contentStart] === 0 && point.length === 1 + 2 * curve.size && point[0] === 4) {
      const b64 = (from: number) => Buffer.from(point.buffer, point.byteOffset + from, curve.size).toString('base64url');
      return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64(1), y: b64(1 + curve.size) }, format: 'jwk' });
    }
  } catch {
    // not the fast case; the DER route below decides
  }
  return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
}

/**
 * Parses a PKCS#10 request (RFC 2986) with a strict DER walk and verifies its self-signature
 * with node:crypto (pkijs 4 cannot verify Ed25519, and its generic parse cost ~10x the
 * signature check). Anything else in the CSR (extensions other than SAN, attributes) is ignored.
 */
export function parseAndVerifyCsr(der: Uint8Array): ParsedCsr {
  let info: Tlv;
  let algorithm: string;
  let signature: Uint8Array;
  let spki: Uint8Array;
  let subject: Record<string, string>;
  let attributes: Tlv | undefined;
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== TAG.SEQUENCE || outer.end !== der.length) throw new Error('not one SEQUENCE');
    const [i, alg, sig, ...extra] = childrenOf(der, outer);
    if (!i || i.tag !== TAG.SEQUENCE || alg?.tag !== TAG.SEQUENCE || sig?.tag !== TAG.BIT_STRING || extra.length)
      throw new Error('not a CertificationRequest');
    info = i;
    const algId = readTlv(der, alg.contentStart, alg.end);
    if (algId.tag !== TAG.OID) throw new Error('bad signature algorithm');
    algorithm = decodeOid(der.subarray(algId.contentStart, algId.end));
    if (sig.end === sig.contentStart || der[sig.contentStart] !== 0) throw new Error('bad signature BIT STRING');
    signature = der.subarray(sig.contentStart + 1, sig.end);
    const [version, name, key, attrs, ...more] = childrenOf(der, info);
    if (version?.tag !== TAG.INTEGER || version.end - version.contentStart !== 1 || der[version.contentStart] !== 0)
      throw new Error('version is not v1(0)');
    if (name?.tag !== TAG.SEQUENCE || key?.tag !== TAG.SEQUENCE || more.length) throw new Error('not a CertificationRequestInfo');
    if (attrs && attrs.tag !== 0xa0) throw new Error('attributes are not [0]');
    subject = readNameRecordDer(der, name);
    spki = der.subarray(key.start, key.end);
    attributes = attrs;
  } catch {
    throw new CsrError('malformed_csr', 'the CSR is not a DER or PEM PKCS#10 certification request');
  }
  const alg = signatureAlgorithmByOid(algorithm);
  if (!alg?.accepted) {
    throw new CsrError('csr_signature_algorithm', `unsupported CSR signature algorithm ${algorithm}`);
  }
  let publicKey: KeyObject | undefined;
  let ok = false;
  try {
    publicKey = loadPublicKey(spki);
    // node:crypto picks the scheme from the key, not from the algorithm named: an ECDSA signature
    // labelled sha256WithRSAEncryption would verify. The key must be of the algorithm's type
    // (an rsaEncryption key may sign RSASSA-PSS, RFC 4055).
    const fits = keyFitsAlgorithm(publicKey, alg.family) || (alg.family === 'RSA-PSS' && publicKey.asymmetricKeyType === 'rsa');
    ok = fits && verifyWith(alg, der.subarray(info.start, info.end), publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok || !publicKey) throw new CsrError('csr_signature_invalid', 'the CSR signature does not verify (no proof of possession)');

  let requestedSans = emptySans();
  let sawSan = false;
  try {
    for (const attribute of attributes ? childrenOf(der, attributes) : []) {
      const [type, values] = childrenOf(der, attribute);
      if (type?.tag !== TAG.OID || values?.tag !== TAG.SET) throw new Error('bad attribute');
      if (decodeOid(der.subarray(type.contentStart, type.end)) !== OID.extensionRequest) continue;
      const [extensions] = childrenOf(der, values);
      if (extensions?.tag !== TAG.SEQUENCE) throw new Error('bad extension request');
      for (const ext of childrenOf(der, extensions)) {
        const parts = childrenOf(der, ext);
        const id = parts[0];
        const value = parts[parts.length - 1];
        if (id?.tag !== TAG.OID || value?.tag !== TAG.OCTET_STRING) throw new Error('bad extension');
        if (!sawSan && decodeOid(der.subarray(id.contentStart, id.end)) === OID.subjectAltName) {
          requestedSans = readGeneralNamesDer(der.subarray(value.contentStart, value.end));
          sawSan = true; // the first SAN extension counts, as before
        }
      }
    }
  } catch {
    throw new CsrError('malformed_csr', 'the CSR extension request is malformed');
  }
  return { publicKeySpki: new Uint8Array(spki), publicKey, subject, requestedSans };
}

/** The one signature-algorithm table (OID <-> key type <-> hash <-> parameters), used to sign and to verify certificates, CSRs, CRLs and OCSP answers. */
import { constants, verify as nodeVerify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { TAG, encodeOid, tlv } from './der.ts';
import type { KeyAlgorithm } from './keys.ts';
import { OID } from './oids.ts';

/** Key types as the SubjectPublicKeyInfo algorithm names them. */
export type KeyFamily = 'EC' | 'RSA' | 'RSA-PSS' | 'Ed25519' | 'Ed448' | 'DSA' | 'unknown';

/** SubjectPublicKeyInfo algorithm OID -> key family. */
export const KEY_FAMILY_BY_OID: Readonly<Record<string, KeyFamily>> = {
  [OID.ecPublicKey]: 'EC',
  [OID.rsaEncryption]: 'RSA',
  [OID.rsassaPss]: 'RSA-PSS',
  [OID.ed25519]: 'Ed25519',
  [OID.ed448]: 'Ed448',
  [OID.dsa]: 'DSA',
};

/** node:crypto's asymmetricKeyType for each family. */
const NODE_KEY_TYPE: Record<KeyFamily, string> = {
  EC: 'ec',
  RSA: 'rsa',
  'RSA-PSS': 'rsa-pss',
  Ed25519: 'ed25519',
  Ed448: 'ed448',
  DSA: 'dsa',
  unknown: '',
};

export interface SignatureAlgorithmEntry {
  oid: string;
  /** The key type the algorithm needs. */
  family: KeyFamily;
  /** node:crypto digest name; null for EdDSA (and for RSASSA-PSS, whose hash is in the parameters). */
  hash: string | null;
  /** X509_get_signature_info security bits, as OpenSSL 3.0 rates them (SHA-1 63, MD5 39). */
  secbits: number;
  /** Whether the AlgorithmIdentifier carries an explicit NULL parameter (RSA PKCS#1 v1.5 does). */
  nullParams: boolean;
  /**
   * Whether Anvil itself accepts it on what it reads (CSRs, CRLs, OCSP answers). SHA-1, MD5,
   * SHA-224, DSA, PSS and Ed448 are not: nothing Anvil trusts signs with them. The judge knows
   * all of them, because it must say what OpenSSL would say about them.
   */
  accepted: boolean;
}

const entry = (oid: string, family: KeyFamily, hash: string | null, secbits: number, accepted = false): SignatureAlgorithmEntry => ({
  oid,
  family,
  hash,
  secbits,
  nullParams: family === 'RSA' && hash !== null,
  accepted,
});

const TABLE: SignatureAlgorithmEntry[] = [
  entry(OID.ecdsaWithSha1, 'EC', 'sha1', 63),
  entry(OID.ecdsaWithSha224, 'EC', 'sha224', 112),
  entry(OID.ecdsaWithSha256, 'EC', 'sha256', 128, true),
  entry(OID.ecdsaWithSha384, 'EC', 'sha384', 192, true),
  entry(OID.ecdsaWithSha512, 'EC', 'sha512', 256, true),
  entry(OID.md5WithRsa, 'RSA', 'md5', 39),
  entry(OID.sha1WithRsa, 'RSA', 'sha1', 63),
  entry(OID.sha224WithRsa, 'RSA', 'sha224', 112),
  entry(OID.sha256WithRsa, 'RSA', 'sha256', 128, true),
  entry(OID.sha384WithRsa, 'RSA', 'sha384', 192, true),
  entry(OID.sha512WithRsa, 'RSA', 'sha512', 256, true),
  entry(OID.rsassaPss, 'RSA-PSS', null, 0),
  entry(OID.ed25519, 'Ed25519', null, 128, true),
  entry(OID.ed448, 'Ed448', null, 224),
  entry(OID.dsaWithSha1, 'DSA', 'sha1', 63),
  entry(OID.dsaWithSha224, 'DSA', 'sha224', 112),
  entry(OID.dsaWithSha256, 'DSA', 'sha256', 128),
];

const BY_OID = new Map(TABLE.map((e) => [e.oid, e]));

/** The table row for a signature algorithm OID, or undefined when it is not one we know. */
export function signatureAlgorithmByOid(oid: string): SignatureAlgorithmEntry | undefined {
  return BY_OID.get(oid);
}

/** Hash algorithm OID -> [node digest name, security bits] (RSASSA-PSS parameters). */
export const HASH_BY_OID: Readonly<Record<string, readonly [string, number]>> = {
  [OID.sha1]: ['sha1', 63],
  [OID.sha224]: ['sha224', 112],
  [OID.sha256]: ['sha256', 128],
  [OID.sha384]: ['sha384', 192],
  [OID.sha512]: ['sha512', 256],
};

// ---------------------------------------------------------------- signing

/** The algorithm a signer writes into what it signs. */
export interface SignatureAlgorithm {
  oid: string;
  /** Whether the AlgorithmIdentifier carries an explicit NULL parameter (RSA does). */
  nullParams: boolean;
  /** The digest name node:crypto wants, or null for Ed25519. */
  nodeHash: string | null;
}

/** The signature algorithm Anvil signs with for each key algorithm it issues with. */
const SIGNING_OID: Record<KeyAlgorithm, string> = {
  'EC-P256': OID.ecdsaWithSha256,
  'EC-P384': OID.ecdsaWithSha384,
  Ed25519: OID.ed25519,
  'RSA-2048': OID.sha256WithRsa,
  'RSA-3072': OID.sha256WithRsa,
  'RSA-4096': OID.sha256WithRsa,
};

export function signatureAlgorithmFor(alg: KeyAlgorithm): SignatureAlgorithm {
  const e = BY_OID.get(SIGNING_OID[alg] ?? OID.sha256WithRsa)!;
  return { oid: e.oid, nullParams: e.nullParams, nodeHash: e.hash };
}

/** The AlgorithmIdentifier as a pkijs object (for the pkijs-built CSR). */
export function algorithmIdentifier(sig: SignatureAlgorithm): pkijs.AlgorithmIdentifier {
  return new pkijs.AlgorithmIdentifier({
    algorithmId: sig.oid,
    ...(sig.nullParams ? { algorithmParams: new asn1js.Null() } : {}),
  });
}

const ALGORITHM_DER = new Map<string, Uint8Array>();

/** AlgorithmIdentifier DER for a signature algorithm (cached: one per issuer). */
export function algorithmIdentifierDer(sig: SignatureAlgorithm): Uint8Array {
  const key = `${sig.oid}/${sig.nullParams}`;
  let der = ALGORITHM_DER.get(key);
  if (!der) {
    der = tlv(TAG.SEQUENCE, encodeOid(sig.oid), ...(sig.nullParams ? [Uint8Array.of(TAG.NULL, 0)] : []));
    ALGORITHM_DER.set(key, der);
  }
  return der;
}

// ---------------------------------------------------------------- verifying

/** What a verification needs to know of the algorithm: the key type, the hash, PSS's salt. */
export interface VerifySpec {
  family: KeyFamily | null;
  hash: string | null;
  pss?: { saltLength: number };
}

/** Whether `key` (as node loaded it) is of the type the algorithm needs. */
export function keyFitsAlgorithm(key: KeyObject, family: KeyFamily): boolean {
  return key.asymmetricKeyType === NODE_KEY_TYPE[family];
}

/**
 * Verifies `signature` over `data` with `key` as `spec` says. ECDSA and DSA signatures are
 * DER SEQUENCE { r, s }, as X.509 writes them. Throws what node:crypto throws; callers decide
 * what a failure to verify means to them.
 */
export function verifyWith(spec: VerifySpec, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  if (spec.family === 'Ed25519' || spec.family === 'Ed448') return nodeVerify(null, data, key, signature);
  if (spec.family === 'RSA-PSS') {
    return nodeVerify(
      spec.hash,
      data,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pss?.saltLength ?? 20 },
      signature,
    );
  }
  if (spec.family === 'EC' || spec.family === 'DSA') return nodeVerify(spec.hash, data, { key, dsaEncoding: 'der' }, signature);
  return nodeVerify(spec.hash, data, key, signature);
}

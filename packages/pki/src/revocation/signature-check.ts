import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { OID } from '../oids.ts';

/**
 * Signature algorithms a CRL or OCSP response may be signed with, and the key type each needs.
 * The key type is checked so that a CRL claiming sha256WithRSAEncryption is never "verified"
 * with an EC key just because node:crypto picks the scheme from the key, not from the OID.
 * SHA-1 is absent on purpose: nothing Anvil trusts signs with it.
 */
const SIGNATURE_ALGORITHMS: Record<string, { hash: string | null; keyType: string }> = {
  [OID.ecdsaWithSha256]: { hash: 'sha256', keyType: 'ec' },
  [OID.ecdsaWithSha384]: { hash: 'sha384', keyType: 'ec' },
  [OID.ecdsaWithSha512]: { hash: 'sha512', keyType: 'ec' },
  [OID.sha256WithRsa]: { hash: 'sha256', keyType: 'rsa' },
  [OID.sha384WithRsa]: { hash: 'sha384', keyType: 'rsa' },
  [OID.sha512WithRsa]: { hash: 'sha512', keyType: 'rsa' },
  [OID.ed25519]: { hash: null, keyType: 'ed25519' },
};

/**
 * Whether `signature` over `tbs` verifies under `spkiDer` with the algorithm named by
 * `signatureAlgorithmOid`. False (not an exception) for an unsupported algorithm, a key of the
 * wrong type or an unloadable key: to a caller judging revocation, all three mean "not proven".
 */
export function verifySignedData(p: {
  tbs: Uint8Array;
  signatureAlgorithmOid: string;
  signature: Uint8Array;
  spkiDer: Uint8Array;
}): boolean {
  const alg = SIGNATURE_ALGORITHMS[p.signatureAlgorithmOid];
  if (!alg) return false;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(p.spkiDer), format: 'der', type: 'spki' });
  } catch {
    return false;
  }
  if (key.asymmetricKeyType !== alg.keyType) return false;
  try {
    // ECDSA signatures in X.509 are DER SEQUENCE { r, s }, node's default dsaEncoding.
    return nodeVerify(alg.hash, p.tbs, key, p.signature);
  } catch {
    return false;
  }
}

/** Signature checks on what Anvil reads back (CRLs, OCSP answers), over the one signature-algorithm table. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { keyFitsAlgorithm, signatureAlgorithmByOid, verifyWith } from '../signature-algorithms.ts';

/**
 * Whether `signature` over `tbs` verifies under `spkiDer` with the algorithm named by
 * `signatureAlgorithmOid`. False (not an exception) for an algorithm Anvil does not accept, a key
 * of the wrong type or an unloadable key: to a caller judging revocation, all three mean "not
 * proven". The key type is checked so that a CRL claiming sha256WithRSAEncryption is never
 * "verified" with an EC key just because node:crypto picks the scheme from the key, not from the OID.
 */
export function verifySignedData(p: {
  tbs: Uint8Array;
  signatureAlgorithmOid: string;
  signature: Uint8Array;
  spkiDer: Uint8Array;
}): boolean {
  const alg = signatureAlgorithmByOid(p.signatureAlgorithmOid);
  if (!alg?.accepted) return false;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(p.spkiDer), format: 'der', type: 'spki' });
  } catch {
    return false;
  }
  if (!keyFitsAlgorithm(key, alg.family)) return false;
  try {
    return verifyWith(alg, p.tbs, key, p.signature);
  } catch {
    return false;
  }
}

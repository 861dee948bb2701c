/** The Signer interface and its software implementation. */
import { createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import type { KeyAlgorithm } from './keys.ts';
import { signatureAlgorithmFor, type SignatureAlgorithm } from './signature-algorithms.ts';

// The WebCrypto adapter (any provider, PKCS#11 tokens included) is part of the same surface.
export * from './webcrypto-signer.ts';

/**
 * Whatever holds an issuer's private key. `sign` returns the signature exactly as X.509 wants
 * it inside the BIT STRING (DER `SEQUENCE { r, s }` for ECDSA, raw for RSA PKCS#1 v1.5 and
 * Ed25519). A software key and a PKCS#11 token implement the same interface.
 */
export interface Signer {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** SubjectPublicKeyInfo DER of the signing key. */
  readonly publicKeySpki: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * A signer over a private key held in process memory (decrypted PKCS#8). It uses node:crypto
 * directly: synchronous, DER ECDSA output, and faster than going through WebCrypto's promises.
 */
export class SoftwareSigner implements Signer {
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly publicKeySpki: Uint8Array;
  private readonly key: KeyObject;

  constructor(
    readonly keyAlgorithm: KeyAlgorithm,
    pkcs8Der: Uint8Array,
  ) {
    this.key = createPrivateKey({ key: Buffer.from(pkcs8Der), format: 'der', type: 'pkcs8' });
    this.signatureAlgorithm = signatureAlgorithmFor(keyAlgorithm);
    this.publicKeySpki = new Uint8Array(createPublicKey(this.key).export({ format: 'der', type: 'spki' }));
  }

  signSync(data: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(this.signatureAlgorithm.nodeHash, data, this.key));
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return this.signSync(data);
  }
}

/** The one Signer over any WebCrypto provider (Node's, @peculiar/webcrypto, node-webcrypto-p11 for PKCS#11 tokens). */
import type { KeyAlgorithm } from './keys.ts';
import type { Signer } from './signer.ts';
import { signatureAlgorithmFor, type SignatureAlgorithm } from './signature-algorithms.ts';

/*
 * The provider types are structural and deliberately loose: each provider ships its own CryptoKey
 * class (node:crypto's, webcrypto-core's, node-webcrypto-p11's) and none is assignable to the
 * others, yet they all answer the same calls. A provider is configuration, not code.
 */
// biome-ignore lint/suspicious/noExplicitAny: every provider has its own CryptoKey class
export type WebCryptoKey = any;

export interface WebCryptoSubtle {
  sign(algorithm: object, key: WebCryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
  exportKey(format: 'spki', key: WebCryptoKey): Promise<ArrayBuffer>;
  importKey(format: 'pkcs8', data: Uint8Array, algorithm: object, extractable: boolean, usages: string[]): Promise<WebCryptoKey>;
  generateKey(algorithm: object, extractable: boolean, usages: string[]): Promise<WebCryptoKey>;
}

export interface WebCryptoProvider {
  readonly subtle: WebCryptoSubtle;
}

/** The WebCrypto algorithm dictionaries for one of Anvil's key algorithms. */
export interface WebCryptoAlgorithms {
  /** For generateKey and importKey. */
  key: Record<string, unknown>;
  /** For sign. */
  sign: Record<string, unknown>;
  /** Whether sign returns IEEE P1363 r||s that X.509 wants as DER (ECDSA). */
  rawEcdsa: boolean;
}

/** Same hashes as signatureAlgorithmFor: SHA-256 for P-256 and RSA, SHA-384 for P-384. */
export function webCryptoAlgorithms(alg: KeyAlgorithm): WebCryptoAlgorithms {
  switch (alg) {
    case 'EC-P256':
      return { key: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' }, rawEcdsa: true };
    case 'EC-P384':
      return { key: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' }, rawEcdsa: true };
    case 'Ed25519':
      return { key: { name: 'Ed25519' }, sign: { name: 'Ed25519' }, rawEcdsa: false };
    default: {
      const modulusLength = Number(alg.slice(4));
      return {
        key: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength, publicExponent: Uint8Array.of(1, 0, 1) },
        sign: { name: 'RSASSA-PKCS1-v1_5' },
        rawEcdsa: false,
      };
    }
  }
}

/** DER INTEGER body of an unsigned big-endian number: minimal, with a 0x00 when the top bit is set. */
function derUnsigned(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  if (trimmed[0] & 0x80) {
    const out = new Uint8Array(trimmed.length + 1);
    out.set(trimmed, 1);
    return out;
  }
  return trimmed;
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0x81, n];
  return [0x82, n >> 8, n & 0xff];
}

/** WebCrypto's ECDSA output (r||s, each the curve size) as X.509's `SEQUENCE { INTEGER r, INTEGER s }`. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2) throw new Error(`an ECDSA signature of ${raw.length} bytes is not r||s`);
  const half = raw.length / 2;
  const ints = [raw.subarray(0, half), raw.subarray(half)].map((v) => {
    const body = derUnsigned(v);
    return Uint8Array.of(0x02, ...derLength(body.length), ...body);
  });
  const bodyLength = ints[0].length + ints[1].length;
  return Uint8Array.of(0x30, ...derLength(bodyLength), ...ints[0], ...ints[1]);
}

/**
 * A Signer whose private key is a CryptoKey of some WebCrypto provider. Signatures come out as
 * SoftwareSigner's do (DER ECDSA, raw RSA PKCS#1 v1.5 and Ed25519), so nothing downstream knows
 * which provider signed.
 */
export class WebCryptoSigner implements Signer {
  readonly signatureAlgorithm: SignatureAlgorithm;
  private readonly algorithms: WebCryptoAlgorithms;

  constructor(
    private readonly provider: WebCryptoProvider,
    readonly keyAlgorithm: KeyAlgorithm,
    private readonly privateKey: WebCryptoKey,
    readonly publicKeySpki: Uint8Array,
  ) {
    this.signatureAlgorithm = signatureAlgorithmFor(keyAlgorithm);
    this.algorithms = webCryptoAlgorithms(keyAlgorithm);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const signature = new Uint8Array(await this.provider.subtle.sign(this.algorithms.sign, this.privateKey, data));
    return this.algorithms.rawEcdsa ? ecdsaRawToDer(signature) : signature;
  }

  /** Imports a PKCS#8 key into the provider (non-extractable there); the public half comes from the caller. */
  static async fromPkcs8(
    provider: WebCryptoProvider,
    keyAlgorithm: KeyAlgorithm,
    pkcs8Der: Uint8Array,
    publicKeySpki: Uint8Array,
  ): Promise<WebCryptoSigner> {
    const key = await provider.subtle.importKey('pkcs8', pkcs8Der, webCryptoAlgorithms(keyAlgorithm).key, false, ['sign']);
    return new WebCryptoSigner(provider, keyAlgorithm, key, publicKeySpki);
  }

  /** Generates a key pair in the provider: the private key non-extractable, the public one exported as SPKI. */
  static async generate(
    provider: WebCryptoProvider,
    keyAlgorithm: KeyAlgorithm,
    /** Provider-specific members of the generation dictionary (node-webcrypto-p11: token, sensitive, label). */
    extra: Record<string, unknown> = {},
  ): Promise<WebCryptoSigner> {
    const pair = await provider.subtle.generateKey({ ...webCryptoAlgorithms(keyAlgorithm).key, ...extra }, false, ['sign', 'verify']);
    const spki = new Uint8Array(await provider.subtle.exportKey('spki', pair.publicKey));
    return new WebCryptoSigner(provider, keyAlgorithm, pair.privateKey, spki);
  }
}

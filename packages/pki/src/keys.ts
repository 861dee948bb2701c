/** Key algorithms Anvil issues with: generation and what a public key is, as policy sees it. */
import { createPublicKey, generateKeyPair as nodeGenerateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { PkiError } from './errors.ts';

const generateKeyPairAsync = promisify(nodeGenerateKeyPair);

export const KEY_ALGORITHMS = ['EC-P256', 'EC-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** What a public key is, as policy sees it. */
export interface PublicKeyFacts {
  family: 'EC' | 'RSA' | 'Ed25519';
  /** curve name (P-256, P-384, P-521) or RSA modulus bits. */
  curve?: string;
  bits: number;
  /** The closest named algorithm, when it is one Anvil issues with. */
  algorithm: KeyAlgorithm | null;
}

export interface GeneratedKey {
  algorithm: KeyAlgorithm;
  pkcs8Der: Uint8Array;
  spkiDer: Uint8Array;
  publicKey: KeyObject;
}

/** Generates a key pair off the event loop (RSA-4096 takes about a second). */
export async function generateKey(algorithm: KeyAlgorithm): Promise<GeneratedKey> {
  let pair: { publicKey: KeyObject; privateKey: KeyObject };
  switch (algorithm) {
    case 'EC-P256':
      pair = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
      break;
    case 'EC-P384':
      pair = await generateKeyPairAsync('ec', { namedCurve: 'P-384' });
      break;
    case 'Ed25519':
      pair = await generateKeyPairAsync('ed25519');
      break;
    default: {
      const bits = Number(algorithm.slice(4));
      pair = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 65537 });
    }
  }
  return {
    algorithm,
    pkcs8Der: new Uint8Array(pair.privateKey.export({ format: 'der', type: 'pkcs8' })),
    spkiDer: new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' })),
    publicKey: pair.publicKey,
  };
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/**
 * Reads a SubjectPublicKeyInfo (or a key already loaded from one); throws KeyError for what node
 * cannot load or Anvil cannot judge.
 */
export function publicKeyFacts(spki: Uint8Array | KeyObject): PublicKeyFacts {
  let key: KeyObject;
  if (spki instanceof Uint8Array) {
    try {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch {
      throw new KeyError('unsupported_key', 'the public key is malformed or of an unsupported type');
    }
  } else {
    key = spki;
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = CURVES[details.namedCurve ?? ''] ?? details.namedCurve ?? 'unknown';
      const bits = curve === 'P-256' ? 256 : curve === 'P-384' ? 384 : curve === 'P-521' ? 521 : 0;
      const algorithm = curve === 'P-256' ? 'EC-P256' : curve === 'P-384' ? 'EC-P384' : null;
      return { family: 'EC', curve, bits, algorithm };
    }
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      const algorithm = ([2048, 3072, 4096].includes(bits) ? `RSA-${bits}` : null) as KeyAlgorithm | null;
      return { family: 'RSA', bits, algorithm };
    }
    case 'ed25519':
      return { family: 'Ed25519', bits: 256, algorithm: 'Ed25519' };
    default:
      throw new KeyError('unsupported_key', `unsupported key type ${key.asymmetricKeyType}`);
  }
}

export class KeyError extends PkiError {}

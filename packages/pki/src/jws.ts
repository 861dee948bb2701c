/**
 * Flattened JWS JSON (RFC 7515 section 7.2.2) as ACME sends it (RFC 8555 section 6.2): parsing,
 * signature verification over a JWK, the JWK thumbprint (RFC 7638) and strict base64url. Pure: no
 * clock, no storage; the ACME server decides what a header must hold (nonce, url, jwk or kid).
 */
import { createHash, createPublicKey, constants, verify as nodeVerify, type JsonWebKey as NodeJwk, type KeyObject } from 'node:crypto';
import { PkiError } from './errors.ts';

export type JwsErrorCode = 'malformed' | 'badSignatureAlgorithm' | 'badPublicKey';

/** Why a JWS cannot be read or checked; `algorithms` lists what is accepted when the algorithm is the problem. */
export class JwsError extends PkiError<JwsErrorCode> {
  constructor(
    code: JwsErrorCode,
    message: string,
    readonly algorithms?: readonly string[],
  ) {
    super(code, message);
  }
}

export interface JwsProtectedHeader {
  alg: string;
  nonce?: string;
  url?: string;
  jwk?: JsonWebKey;
  kid?: string;
  [k: string]: unknown;
}

export interface ParsedJws {
  protected: JwsProtectedHeader;
  /** The decoded payload as text ('' for a POST-as-GET). */
  payloadText: string;
  /** ASCII(protected '.' payload), what the signature covers. */
  signingInput: Buffer;
  signature: Buffer;
}

/** The asymmetric algorithms an ACME account key may sign with. */
export const JWS_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

interface AlgorithmRule {
  /** node:crypto digest, or null for EdDSA (the hash is part of Ed25519). */
  hash: 'sha256' | 'sha384' | null;
  kty: 'EC' | 'RSA' | 'OKP';
  crv?: string;
  /** Raw r||s length of an ECDSA signature. */
  ecSignatureLength?: number;
  pss?: boolean;
}

const ALGORITHMS: Record<JwsAlgorithm, AlgorithmRule> = {
  ES256: { hash: 'sha256', kty: 'EC', crv: 'P-256', ecSignatureLength: 64 },
  ES384: { hash: 'sha384', kty: 'EC', crv: 'P-384', ecSignatureLength: 96 },
  RS256: { hash: 'sha256', kty: 'RSA' },
  PS256: { hash: 'sha256', kty: 'RSA', pss: true },
  EdDSA: { hash: null, kty: 'OKP', crv: 'Ed25519' },
};

/** RSA account keys below this are refused (as CSR keys are). */
const MIN_RSA_BITS = 2048;

const B64URL = /^[A-Za-z0-9_-]*$/;

/** base64url without padding (RFC 7515 section 2); anything else (padding, '+', '/', whitespace, a 1-char tail) is refused. */
export function base64urlDecode(s: string): Buffer {
  if (typeof s !== 'string' || !B64URL.test(s) || s.length % 4 === 1) throw new JwsError('malformed', 'not base64url without padding');
  return Buffer.from(s, 'base64url');
}

export function base64urlEncode(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a flattened JWS: exactly `protected`, `payload` and `signature` (RFC 8555 forbids the
 * unprotected header and several signatures), a protected header that is a JSON object naming an
 * algorithm in `algorithms` (default: JWS_ALGORITHMS; `none` and MACs are refused unless a caller
 * such as External Account Binding names HS256 itself). Which of `jwk` and `kid` the header must
 * carry is the ACME server's rule, not this one's.
 */
export function parseFlattenedJws(body: unknown, options: { algorithms?: readonly string[] } = {}): ParsedJws {
  const algorithms = options.algorithms ?? JWS_ALGORITHMS;
  if (!isRecord(body)) throw new JwsError('malformed', 'the request body is not a JSON object (a flattened JWS)');
  if ('signatures' in body) throw new JwsError('malformed', 'a JWS with several signatures is not accepted: send the flattened form');
  if ('header' in body) throw new JwsError('malformed', 'the unprotected JWS header is not accepted: put every parameter in "protected"');
  for (const key of Object.keys(body)) {
    if (key !== 'protected' && key !== 'payload' && key !== 'signature') throw new JwsError('malformed', `unexpected JWS member "${key}"`);
  }
  const { protected: protectedB64, payload: payloadB64, signature: signatureB64 } = body;
  if (typeof protectedB64 !== 'string' || typeof payloadB64 !== 'string' || typeof signatureB64 !== 'string') {
    throw new JwsError('malformed', 'a flattened JWS has string members "protected", "payload" and "signature"');
  }
  const header = decodeJson(protectedB64, 'protected header');
  if (!isRecord(header)) throw new JwsError('malformed', 'the protected header is not a JSON object');
  if (typeof header.alg !== 'string') throw new JwsError('malformed', 'the protected header has no "alg"');
  if (!algorithms.includes(header.alg)) {
    throw new JwsError('badSignatureAlgorithm', `JWS algorithm "${header.alg.slice(0, 32)}" is not accepted`, algorithms);
  }
  for (const name of ['nonce', 'url', 'kid'] as const) {
    if (header[name] !== undefined && typeof header[name] !== 'string')
      throw new JwsError('malformed', `the header's "${name}" is not a string`);
  }
  if (header.jwk !== undefined && !isRecord(header.jwk)) throw new JwsError('malformed', 'the header\'s "jwk" is not an object');
  let payloadText: string;
  try {
    payloadText = new TextDecoder('utf-8', { fatal: true }).decode(base64urlDecodeField(payloadB64, 'payload'));
  } catch (err) {
    throw err instanceof JwsError ? err : new JwsError('malformed', 'the JWS payload is not UTF-8');
  }
  return {
    protected: header as JwsProtectedHeader,
    payloadText,
    signingInput: Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'),
    signature: base64urlDecodeField(signatureB64, 'signature'),
  };
}

function base64urlDecodeField(s: string, what: string): Buffer {
  try {
    return base64urlDecode(s);
  } catch {
    throw new JwsError('malformed', `the JWS ${what} is not base64url without padding`);
  }
}

function decodeJson(s: string, what: string): unknown {
  const bytes = base64urlDecodeField(s, what);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new JwsError('malformed', `the JWS ${what} is not UTF-8 JSON`);
  }
}

/**
 * The public key of a JWK, checked: a public key only (a `d` member is refused: a client that
 * sends its private key has a bug we must not reward), of a kind an account may use.
 */
export function jwkPublicKey(jwk: JsonWebKey): KeyObject {
  if (!isRecord(jwk) || typeof jwk.kty !== 'string') throw new JwsError('malformed', 'the JWK has no "kty"');
  if ('d' in jwk || 'k' in jwk) throw new JwsError('badPublicKey', 'the JWK holds private or symmetric key material');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
  } catch {
    throw new JwsError('badPublicKey', 'the JWK is not a valid public key');
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new JwsError('badPublicKey', `RSA account keys must be at least ${MIN_RSA_BITS} bits`);
  }
  if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') throw new JwsError('badPublicKey', `unsupported key type ${type}`);
  return key;
}

/**
 * Whether the signature verifies with `key` under the header's algorithm. Throws JwsError when
 * the key does not fit the algorithm (an ES256 header with an RSA key) or is no usable key;
 * returns false for a signature that does not verify.
 */
export function verifyJwsSignature(jws: ParsedJws, key: JsonWebKey): boolean {
  const rule = ALGORITHMS[jws.protected.alg as JwsAlgorithm];
  if (!rule)
    throw new JwsError(
      'badSignatureAlgorithm',
      `JWS algorithm "${String(jws.protected.alg).slice(0, 32)}" is not accepted`,
      JWS_ALGORITHMS,
    );
  if (key.kty !== rule.kty || (rule.crv !== undefined && key.crv !== rule.crv)) {
    throw new JwsError('badPublicKey', `a ${jws.protected.alg} signature needs a ${rule.kty}${rule.crv ? ` ${rule.crv}` : ''} key`);
  }
  const publicKey = jwkPublicKey(key);
  if (rule.ecSignatureLength !== undefined && jws.signature.length !== rule.ecSignatureLength) return false;
  try {
    if (rule.kty === 'EC') return nodeVerify(rule.hash, jws.signingInput, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jws.signature);
    if (rule.pss) {
      return nodeVerify(
        rule.hash,
        jws.signingInput,
        { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        jws.signature,
      );
    }
    return nodeVerify(rule.hash, jws.signingInput, publicKey, jws.signature);
  } catch {
    return false;
  }
}

/** The members RFC 7638 hashes, per key type, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

/** RFC 7638 thumbprint: SHA-256 over the required members in order, no whitespace, base64url. */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const members = THUMBPRINT_MEMBERS[String(jwk.kty)];
  if (!members) throw new JwsError('badPublicKey', `no thumbprint for key type "${String(jwk.kty).slice(0, 16)}"`);
  const record = jwk as Record<string, unknown>;
  for (const m of members) if (typeof record[m] !== 'string') throw new JwsError('badPublicKey', `the JWK has no "${m}"`);
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(record[m])}`).join(',')}}`;
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

/** The DER SubjectPublicKeyInfo of a JWK: what revocation by certificate key compares with the certificate's. */
export function jwkToSpkiDer(jwk: JsonWebKey): Buffer {
  return jwkPublicKey(jwk).export({ type: 'spki', format: 'der' });
}

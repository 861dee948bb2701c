/**
 * PKCS#12 (`.p12` / `.pfx`, RFC 7292): one file holding a private key, its certificate and the
 * issuing chain, protected by a password. This module decides the layout; the password-based
 * cryptography lives in pkcs12-crypto.ts.
 *
 * Layout, the one OpenSSL and Java write, so every reader finds what it expects:
 *   PFX v3, MAC over the AuthenticatedSafe
 *   AuthenticatedSafe
 *     [0] EncryptedData: cert bags (leaf first, with the key's attributes; then the chain)
 *     [1] Data:          one shrouded key bag (the key is encrypted inside its bag, so
 *                        encrypting its SafeContents again would add nothing)
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { BundleError, certificateSpki, readCertificate, requireBytes } from './inputs.ts';
import { encryptPbes2, encryptPbeSha1TripleDes, pkcs12Mac, type PasswordEncrypted } from './pkcs12-crypto.ts';

export interface Pkcs12Params {
  /** The leaf's private key, unencrypted PKCS#8 DER. Must match `certificate`. */
  privateKeyPkcs8: Uint8Array;
  /** The leaf certificate, DER. */
  certificate: Uint8Array;
  /** The issuing certificates, DER, the leaf's issuer first. May be empty; must not repeat the leaf. */
  chain: Uint8Array[];
  /** Protects the key, the certificates and the MAC. Must not be empty. */
  password: string;
  /** Alias shown by keytool, Windows and macOS. Default: none. */
  friendlyName?: string;
  /**
   * Default false: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC, which
   * OpenSSL 3 and Java 17 read as is. true: pbeWithSHAAnd3-KeyTripleDES-CBC and an HMAC-SHA1
   * MAC, for readers that predate PBES2 in PKCS#12 (Java 8 < 8u301, older Windows and macOS).
   */
  legacy?: boolean;
  /** Iterations for every key derivation and the MAC. Default 2048, OpenSSL 3's default. */
  iterations?: number;
}

export const PKCS12_DEFAULT_ITERATIONS = 2048;
/** Java 17's keystore refuses more when reading ("cert PBE iteration count too large"; checked with keytool). */
export const PKCS12_MAX_ITERATIONS = 5_000_000;

const OIDS = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

type Encrypt = (plaintext: Uint8Array, password: string, iterations: number) => PasswordEncrypted;

/**
 * Builds a DER PFX. Synchronous: at the default 2048 iterations it blocks for roughly 10-30 ms
 * (the PKCS#12 KDF is hash-per-iteration in JS); time grows linearly with `iterations`, so a
 * caller choosing a count far above the default should run it off the request path.
 *
 * Throws BundleError, naming the field, for a malformed key or certificate, a key that does not
 * belong to the certificate, an empty password, or an out-of-range iteration count.
 */
export function buildPkcs12(params: Pkcs12Params): Uint8Array {
  const p = validate(params);
  const encrypt: Encrypt = p.legacy ? encryptPbeSha1TripleDes : encryptPbes2;

  // localKeyId ties the key to its certificate; readers pair them by it. Its value is opaque;
  // the SHA-1 of the certificate is what OpenSSL uses.
  const localKeyId = createHash('sha1').update(p.certificate).digest();
  const attributes = bagAttributes(localKeyId, p.friendlyName);

  const certBags = [certBag(p.certificate, attributes), ...p.chain.map((der) => certBag(der, undefined))];
  const keyBag = shroudedKeyBag(encrypt(p.privateKeyPkcs8, p.password, p.iterations), attributes);

  const authenticatedSafe = new pkijs.AuthenticatedSafe({
    safeContents: [
      encryptedContentInfo(encrypt(safeContentsDer(certBags), p.password, p.iterations)),
      dataContentInfo(safeContentsDer([keyBag])),
    ],
  });
  const authSafeDer = new Uint8Array(authenticatedSafe.toSchema().toBER());

  const pfx = new pkijs.PFX({
    version: 3,
    authSafe: dataContentInfo(authSafeDer),
    macData: pkcs12Mac(authSafeDer, p.password, p.legacy ? 'sha1' : 'sha256', p.iterations),
  });
  return new Uint8Array(pfx.toSchema().toBER());
}

interface ValidParams {
  privateKeyPkcs8: Uint8Array;
  certificate: Uint8Array;
  chain: Uint8Array[];
  password: string;
  friendlyName: string | undefined;
  legacy: boolean;
  iterations: number;
}

function validate(params: Pkcs12Params): ValidParams {
  if (typeof params !== 'object' || params === null) throw new BundleError('buildPkcs12 needs a params object');

  const { password } = params;
  if (typeof password !== 'string') throw new BundleError('password must be a string');
  if (password.length === 0) throw new BundleError('password must not be empty: readers treat an empty password inconsistently');
  // BMPString ends at the first NUL, and a lone surrogate has no UTF-8 form: either would make
  // the MAC password and the PBES2 password differ.
  if (password.includes('\u0000')) throw new BundleError('password must not contain NUL characters');
  if (/\p{Cs}/u.test(password)) throw new BundleError('password contains an unpaired UTF-16 surrogate');

  const leaf = readCertificate(params.certificate, 'certificate');
  const certificate = params.certificate;
  const privateKey = readPrivateKey(params.privateKeyPkcs8);
  if (!sameKey(privateKey, certificateSpki(leaf))) {
    throw new BundleError("privateKeyPkcs8 does not belong to the certificate's public key");
  }

  if (!Array.isArray(params.chain)) throw new BundleError('chain must be an array of DER certificates (it may be empty)');
  params.chain.forEach((der, i) => {
    readCertificate(der, `chain[${i}]`);
    if (Buffer.from(der).equals(certificate)) {
      throw new BundleError(`chain[${i}] is the leaf certificate itself; chain holds only its issuers`);
    }
  });

  const { friendlyName } = params;
  if (friendlyName !== undefined && (typeof friendlyName !== 'string' || friendlyName.length === 0)) {
    throw new BundleError('friendlyName, when given, must be a non-empty string');
  }
  if (params.legacy !== undefined && typeof params.legacy !== 'boolean') throw new BundleError('legacy must be a boolean');

  const iterations = params.iterations ?? PKCS12_DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > PKCS12_MAX_ITERATIONS) {
    throw new BundleError(`iterations must be an integer from 1 to ${PKCS12_MAX_ITERATIONS}, got ${iterations}`);
  }

  return {
    privateKeyPkcs8: params.privateKeyPkcs8,
    certificate,
    chain: params.chain,
    password,
    friendlyName,
    legacy: params.legacy ?? false,
    iterations,
  };
}

function readPrivateKey(value: unknown): KeyObject {
  const der = requireBytes(value, 'privateKeyPkcs8');
  try {
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch {
    throw new BundleError('privateKeyPkcs8 is not an unencrypted PKCS#8 private key (DER)');
  }
}

/** Compares through node's canonical SPKI export, so point compression or parameter spelling do not matter. */
function sameKey(privateKey: KeyObject, spkiDer: Uint8Array): boolean {
  let certKey: KeyObject;
  try {
    certKey = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch {
    throw new BundleError("certificate's public key is of a type this engine cannot read");
  }
  const fromPrivate = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return fromPrivate.equals(certKey.export({ format: 'der', type: 'spki' }));
}

/** friendlyName and localKeyId, in DER SET OF order (sorted by encoding). */
function bagAttributes(localKeyId: Uint8Array, friendlyName: string | undefined): pkijs.Attribute[] {
  const attributes = [new pkijs.Attribute({ type: OIDS.localKeyId, values: [new asn1js.OctetString({ valueHex: localKeyId })] })];
  if (friendlyName !== undefined) {
    attributes.push(new pkijs.Attribute({ type: OIDS.friendlyName, values: [new asn1js.BmpString({ value: friendlyName })] }));
  }
  const encoded = attributes.map((a) => ({ a, der: Buffer.from(a.toSchema().toBER()) }));
  return encoded.sort((x, y) => Buffer.compare(x.der, y.der)).map((e) => e.a);
}

function certBag(der: Uint8Array, attributes: pkijs.Attribute[] | undefined): pkijs.SafeBag {
  return new pkijs.SafeBag({
    bagId: OIDS.certBag,
    bagValue: new pkijs.CertBag({ certId: OIDS.x509Certificate, certValue: new asn1js.OctetString({ valueHex: der }) }),
    ...(attributes ? { bagAttributes: attributes } : {}),
  });
}

function shroudedKeyBag(encrypted: PasswordEncrypted, attributes: pkijs.Attribute[]): pkijs.SafeBag {
  return new pkijs.SafeBag({
    bagId: OIDS.pkcs8ShroudedKeyBag,
    bagValue: new pkijs.PKCS8ShroudedKeyBag({
      encryptionAlgorithm: encrypted.algorithm,
      encryptedData: new asn1js.OctetString({ valueHex: encrypted.ciphertext }),
    }),
    bagAttributes: attributes,
  });
}

function safeContentsDer(bags: pkijs.SafeBag[]): Uint8Array {
  return new Uint8Array(new pkijs.SafeContents({ safeBags: bags }).toSchema().toBER());
}

function dataContentInfo(content: Uint8Array): pkijs.ContentInfo {
  return new pkijs.ContentInfo({ contentType: OIDS.data, content: new asn1js.OctetString({ valueHex: content }) });
}

function encryptedContentInfo(encrypted: PasswordEncrypted): pkijs.ContentInfo {
  const encryptedData = new pkijs.EncryptedData({
    version: 0,
    encryptedContentInfo: new pkijs.EncryptedContentInfo({
      contentType: OIDS.data,
      contentEncryptionAlgorithm: encrypted.algorithm,
      encryptedContent: new asn1js.OctetString({ valueHex: encrypted.ciphertext }),
      // pkijs otherwise splits the ciphertext into a constructed, indefinite-length
      // OCTET STRING: valid BER, but not DER.
      disableSplit: true,
    }),
  });
  return new pkijs.ContentInfo({ contentType: OIDS.encryptedData, content: encryptedData.toSchema() });
}

/**
 * Password-based protection for PKCS#12: the content encryption schemes and the integrity MAC.
 * Everything here is synchronous node:crypto. pkijs has a PFX encoder, but it runs through
 * WebCrypto (async, no Triple-DES, no PKCS#12 KDF), so the cryptography is done here and pkijs
 * is used only for the ASN.1 structures.
 *
 * Two password encodings are in play and mixing them up yields files that fail with
 * "Mac verify error" in one reader and not another:
 * - the PKCS#12 KDF (MAC key, legacy PBE keys) takes the password as a BMPString, i.e.
 *   UTF-16BE followed by two zero bytes (RFC 7292 appendix B.1);
 * - PBES2/PBKDF2 takes the password's UTF-8 bytes, as OpenSSL 3 and Java both do.
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../oids.ts';

/** Object identifiers of the password-based algorithms (RFC 8018, RFC 7292). */
export const PBE_OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  pbeWithShaAnd3KeyTripleDesCbc: '1.2.840.113549.1.12.1.3',
} as const;

export type Pkcs12Hash = 'sha1' | 'sha256';

/** What one encryption produced: the AlgorithmIdentifier a reader needs, and the ciphertext. */
export interface PasswordEncrypted {
  algorithm: pkijs.AlgorithmIdentifier;
  ciphertext: Uint8Array;
}

/** The password as a BMPString with its terminating NUL: UTF-16BE plus 0x00 0x00. */
export function bmpPassword(password: string): Uint8Array {
  const out = new Uint8Array(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) {
    // charCodeAt walks UTF-16 code units, so characters beyond the BMP become surrogate
    // pairs, which is what OpenSSL (OPENSSL_utf82uni) and Java (char[]) feed the KDF.
    const unit = password.charCodeAt(i);
    out[2 * i] = unit >> 8;
    out[2 * i + 1] = unit & 0xff;
  }
  return out;
}

/** Purpose byte of the PKCS#12 KDF (RFC 7292 B.3). */
export const KDF_PURPOSE = { encryptionKey: 1, iv: 2, macKey: 3 } as const;

export interface Pkcs12KdfParams {
  hash: Pkcs12Hash;
  /** Already BMP-encoded (see bmpPassword). */
  password: Uint8Array;
  salt: Uint8Array;
  iterations: number;
  purpose: (typeof KDF_PURPOSE)[keyof typeof KDF_PURPOSE];
  length: number;
}

/** The PKCS#12 key derivation function, RFC 7292 appendix B.2. */
export function pkcs12Kdf(p: Pkcs12KdfParams): Uint8Array {
  const u = p.hash === 'sha1' ? 20 : 32; // hash output bytes
  const v = 64; // hash block bytes, the same for SHA-1 and SHA-256
  const D = new Uint8Array(v).fill(p.purpose);
  const I = concat(repeatToBlocks(p.salt, v), repeatToBlocks(p.password, v));

  const out = new Uint8Array(p.length);
  for (let filled = 0; filled < p.length; filled += u) {
    let A = createHash(p.hash).update(D).update(I).digest();
    for (let r = 1; r < p.iterations; r++) A = createHash(p.hash).update(A).digest();
    out.set(A.subarray(0, Math.min(u, p.length - filled)), filled);
    if (filled + u >= p.length) break;
    // Next round's I: every v-byte block I_j becomes (I_j + B + 1) mod 2^(8v),
    // where B is A repeated to v bytes.
    const B = repeatToLength(A, v);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return out;
}

/**
 * PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC: what OpenSSL 3 and Java 17 write by default
 * and read without legacy options. keyLength is left out of the PBKDF2 parameters because
 * AES-256 fixes it, which is also how OpenSSL writes it.
 */
export function encryptPbes2(plaintext: Uint8Array, password: string, iterations: number): PasswordEncrypted {
  // 16-byte salt: the 128 bits NIST SP 800-132 asks for (OpenSSL 3.0 itself writes 8).
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = concat(cipher.update(plaintext), cipher.final());

  const kdf = new pkijs.AlgorithmIdentifier({
    algorithmId: PBE_OID.pbkdf2,
    algorithmParams: new pkijs.PBKDF2Params({
      salt: new asn1js.OctetString({ valueHex: salt }),
      iterationCount: iterations,
      prf: new pkijs.AlgorithmIdentifier({ algorithmId: PBE_OID.hmacWithSha256, algorithmParams: new asn1js.Null() }),
    }).toSchema(),
  });
  const scheme = new pkijs.AlgorithmIdentifier({
    algorithmId: PBE_OID.aes256Cbc,
    algorithmParams: new asn1js.OctetString({ valueHex: iv }),
  });
  const algorithm = new pkijs.AlgorithmIdentifier({
    algorithmId: PBE_OID.pbes2,
    algorithmParams: new pkijs.PBES2Params({ keyDerivationFunc: kdf, encryptionScheme: scheme }).toSchema(),
  });
  return { algorithm, ciphertext };
}

/**
 * pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C): key and IV from the PKCS#12 KDF over
 * SHA-1. Readers that predate PBES2 in PKCS#12 (Java 8 before 8u301, Windows before Server
 * 2019, macOS Keychain, older OpenSSL) understand only this family.
 */
export function encryptPbeSha1TripleDes(plaintext: Uint8Array, password: string, iterations: number): PasswordEncrypted {
  // 8 bytes: the salt length these legacy readers have always been given.
  const salt = randomBytes(8);
  const bmp = bmpPassword(password);
  const kdf = { hash: 'sha1', password: bmp, salt, iterations } as const;
  const key = pkcs12Kdf({ ...kdf, purpose: KDF_PURPOSE.encryptionKey, length: 24 });
  const iv = pkcs12Kdf({ ...kdf, purpose: KDF_PURPOSE.iv, length: 8 });
  const cipher = createCipheriv('des-ede3-cbc', key, iv);
  const ciphertext = concat(cipher.update(plaintext), cipher.final());

  // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }; pkijs has no class.
  const params = new asn1js.Sequence({
    value: [new asn1js.OctetString({ valueHex: salt }), new asn1js.Integer({ value: iterations })],
  });
  const algorithm = new pkijs.AlgorithmIdentifier({ algorithmId: PBE_OID.pbeWithShaAnd3KeyTripleDesCbc, algorithmParams: params });
  return { algorithm, ciphertext };
}

/**
 * The PFX integrity MAC (RFC 7292 section 5.1 and appendix B): HMAC over the AuthenticatedSafe
 * bytes, keyed by the PKCS#12 KDF with the same hash. The digest AlgorithmIdentifier carries an
 * explicit NULL, as OpenSSL writes it.
 */
export function pkcs12Mac(data: Uint8Array, password: string, hash: Pkcs12Hash, iterations: number): pkijs.MacData {
  const salt = randomBytes(hash === 'sha1' ? 8 : 16);
  const key = pkcs12Kdf({
    hash,
    password: bmpPassword(password),
    salt,
    iterations,
    purpose: KDF_PURPOSE.macKey,
    length: hash === 'sha1' ? 20 : 32,
  });
  const mac = createHmac(hash, key).update(data).digest();
  return new pkijs.MacData({
    mac: new pkijs.DigestInfo({
      digestAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: hash === 'sha1' ? OID.sha1 : OID.sha256,
        algorithmParams: new asn1js.Null(),
      }),
      digest: new asn1js.OctetString({ valueHex: mac }),
    }),
    macSalt: new asn1js.OctetString({ valueHex: salt }),
    // iterations is DEFAULT 1, and DER leaves out a field equal to its default.
    ...(iterations === 1 ? {} : { iterations }),
  });
}

/** `bytes` repeated and cut to the next multiple of `v` at or above its length (empty stays empty). */
function repeatToBlocks(bytes: Uint8Array, v: number): Uint8Array {
  return repeatToLength(bytes, v * Math.ceil(bytes.length / v));
}

function repeatToLength(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = bytes[i % bytes.length];
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

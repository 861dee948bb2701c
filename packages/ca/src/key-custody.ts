/** Where CA private keys live: encrypted under the key-encryption key (AES-256-GCM), unwrapped to sign. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateKey, SoftwareSigner, type KeyAlgorithm, type Signer } from '@anvil/pki';

/**
 * CA private keys at rest: AES-256-GCM under a key-encryption key (KEK). The stored blob is
 * version(1) | iv(12) | tag(16) | ciphertext, with the issuer name as additional data so a
 * blob cannot be swapped between issuers unnoticed.
 */
export class KeyEncryptionKey {
  private constructor(private readonly key: Buffer) {}

  /** From `ANVIL_KEK` (64 hex chars or base64 of 32 bytes). */
  static fromString(value: string): KeyEncryptionKey {
    const trimmed = value.trim();
    const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
    if (key.length !== 32) throw new Error('ANVIL_KEK must be 32 bytes, as 64 hex characters or base64');
    return new KeyEncryptionKey(key);
  }

  /** Reads the KEK file, creating it (mode 0600) on first start. */
  static loadOrCreate(path: string): { kek: KeyEncryptionKey; created: boolean } {
    if (existsSync(path)) {
      const mode = statSync(path).mode & 0o777;
      if (mode & 0o077) chmodSync(path, 0o600); // tighten what a copy or umask loosened
      return { kek: KeyEncryptionKey.fromString(readFileSync(path, 'utf8')), created: false };
    }
    mkdirSync(dirname(path), { recursive: true });
    const key = randomBytes(32);
    writeFileSync(path, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return { kek: new KeyEncryptionKey(key), created: true };
  }

  static random(): KeyEncryptionKey {
    return new KeyEncryptionKey(randomBytes(32));
  }

  encrypt(plaintext: Uint8Array, context: string): Uint8Array {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return new Uint8Array(Buffer.concat([Buffer.of(1), iv, cipher.getAuthTag(), body]));
  }

  decrypt(blob: Uint8Array, context: string): Uint8Array {
    const buf = Buffer.from(blob);
    if (buf[0] !== 1 || buf.length < 29) throw new Error('unknown key blob version');
    const decipher = createDecipheriv('aes-256-gcm', this.key, buf.subarray(1, 13));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(buf.subarray(13, 29));
    return new Uint8Array(Buffer.concat([decipher.update(buf.subarray(29)), decipher.final()]));
  }
}

/** What an issuer row keeps of its key: the software blob, or where a token holds it. */
export interface CustodyEntry {
  encryptedKey: Uint8Array | null;
  /** null for a software key; `pkcs11:token=…;object=…;id=…` (RFC 7512) for a token key. */
  keyRef: string | null;
}

/** What custody is given to make a signer: the issuer row, or (while its certificate is made) the fresh key's SPKI. */
export interface CustodyIssuer extends CustodyEntry {
  name: string;
  keyAlgorithm: string;
  certificateDer?: Uint8Array;
  spkiDer?: Uint8Array;
}

/** Where issuer keys come from: software (below) or a PKCS#11 token (custody/pkcs11.ts). */
export interface KeyCustody {
  /** Makes a new issuer key where this custody puts new keys (in software, or on the token, never leaving it). */
  generate(issuerName: string, keyAlgorithm: KeyAlgorithm): Promise<CustodyEntry & { spkiDer: Uint8Array }>;
  /** Stores a private key made elsewhere (an imported CA) in software and returns what the issuer row keeps. */
  wrap(issuerName: string, pkcs8Der: Uint8Array): CustodyEntry;
  signer(issuer: CustodyIssuer): Signer;
  /** The decrypted PKCS#8 of a software key, for the encrypted backup; null for a key that never leaves its token. */
  softwareKey(issuer: CustodyIssuer): Uint8Array | null;
  /** Deletes a key `generate` made whose issuer was never stored (a token key would stay on the token, orphaned). */
  discard?(entry: CustodyEntry): Promise<void>;
  /** Only on a token: its key for a CA certificate imported without its private key (by `keyRef`, or found by the public key). */
  tokenKey?(spkiDer: Uint8Array, keyRef?: string): Promise<TokenKey>;
}

/** A key found on the token for an imported CA certificate, proven to be the certificate's. */
export interface TokenKey {
  keyRef: string;
  keyAlgorithm: KeyAlgorithm;
}

/**
 * Makes a new issuer key and hands it to `use`, which stores the issuer. When `use` fails, the key
 * is discarded (best effort: the failure of `use` is what the caller sees), so a refused or lost
 * issuer leaves no key on a token.
 */
export async function withNewKey<T>(
  custody: KeyCustody,
  issuerName: string,
  keyAlgorithm: KeyAlgorithm,
  use: (key: CustodyEntry & { spkiDer: Uint8Array }) => Promise<T>,
): Promise<T> {
  const key = await custody.generate(issuerName, keyAlgorithm);
  try {
    return await use(key);
  } catch (err) {
    await custody.discard?.(key).catch(() => {});
    throw err;
  }
}

export class SoftwareKeyCustody implements KeyCustody {
  constructor(private readonly kek: KeyEncryptionKey) {}

  async generate(issuerName: string, keyAlgorithm: KeyAlgorithm) {
    const key = await generateKey(keyAlgorithm);
    return { ...this.wrap(issuerName, key.pkcs8Der), spkiDer: key.spkiDer };
  }

  wrap(issuerName: string, pkcs8Der: Uint8Array) {
    return { encryptedKey: this.kek.encrypt(pkcs8Der, `issuer:${issuerName}`), keyRef: null };
  }

  signer(issuer: CustodyIssuer): Signer {
    return new SoftwareSigner(issuer.keyAlgorithm as KeyAlgorithm, this.pkcs8(issuer));
  }

  softwareKey(issuer: CustodyIssuer): Uint8Array | null {
    return issuer.encryptedKey ? this.pkcs8(issuer) : null;
  }

  private pkcs8(issuer: { name: string; encryptedKey: Uint8Array | null }): Uint8Array {
    if (!issuer.encryptedKey) throw new Error(`issuer ${issuer.name} has no software key`);
    let pkcs8: Uint8Array;
    try {
      pkcs8 = this.kek.decrypt(issuer.encryptedKey, `issuer:${issuer.name}`);
    } catch {
      throw new Error(
        `cannot decrypt the private key of issuer "${issuer.name}": the key-encryption key (ANVIL_KEK, or kek.key in ANVIL_DATA_DIR) is not the one it was stored with. Restore that key; the database alone cannot be used.`,
      );
    }
    return pkcs8;
  }
}

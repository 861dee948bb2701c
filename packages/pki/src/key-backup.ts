/** The CA key backup file: issuer certificates with their software keys as encrypted PKCS#8 (PBKDF2 + AES-256-CBC), written and checked. */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';

/*
 * JSON rather than one PEM file: the restore needs each issuer's place in the hierarchy (name,
 * parent, kind) beside its certificate and key. Each key is an ordinary `ENCRYPTED PRIVATE KEY`
 * PEM, so `openssl pkey -passin` reads it without Anvil, and the passphrase never leaves the
 * operator: the file alone is no key.
 */

export const KEY_BACKUP_FORMAT = 'anvil-ca-backup';
export const KEY_BACKUP_MIN_PASSPHRASE = 12;

export interface KeyBackupIssuer {
  name: string;
  kind: 'root' | 'intermediate';
  /** The parent issuer's name (null for a root); parents come before their children. */
  parent: string | null;
  keyAlgorithm: string;
  subject: string;
  serial: string;
  subjectKeyId: string;
  notBefore: string;
  notAfter: string;
  /** PEM. */
  certificate: string;
  /** An imported issuer's external chain (PEM), as the issuer row keeps it. */
  externalChain?: string | null;
  /** `ENCRYPTED PRIVATE KEY` PEM; null for a key held on a PKCS#11 token (then keyRef says where). */
  privateKey: string | null;
  keyRef: string | null;
}

export interface KeyBackup {
  format: typeof KEY_BACKUP_FORMAT;
  version: 1;
  createdAt: string;
  issuers: KeyBackupIssuer[];
}

export type OpenedBackupIssuer = KeyBackupIssuer & { pkcs8Der: Uint8Array | null; certificateDer: Uint8Array };

/** Why a backup cannot be used; `code` is what the API and the CLI report. */
export class KeyBackupError extends Error {
  constructor(
    readonly code: 'backup_malformed' | 'wrong_passphrase' | 'backup_key_mismatch' | 'weak_passphrase',
    message: string,
  ) {
    super(message);
  }
}

export function checkBackupPassphrase(passphrase: string): void {
  if (passphrase.length < KEY_BACKUP_MIN_PASSPHRASE) {
    throw new KeyBackupError('weak_passphrase', `the backup passphrase must be at least ${KEY_BACKUP_MIN_PASSPHRASE} characters`);
  }
}

/** PKCS#8 DER -> EncryptedPrivateKeyInfo PEM (node/OpenSSL: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC). */
export function encryptPkcs8(pkcs8Der: Uint8Array, passphrase: string): string {
  return createPrivateKey({ key: Buffer.from(pkcs8Der), format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    .toString();
}

/** Parses a backup and decrypts every key, checking each against its certificate. Nothing is kept on failure. */
export function openKeyBackup(text: string, passphrase: string): OpenedBackupIssuer[] {
  let backup: KeyBackup;
  try {
    backup = JSON.parse(text);
  } catch {
    throw new KeyBackupError('backup_malformed', 'the backup is not JSON (an Anvil CA backup is written by `anvil ca export`)');
  }
  if (backup?.format !== KEY_BACKUP_FORMAT || backup.version !== 1 || !Array.isArray(backup.issuers) || backup.issuers.length === 0) {
    throw new KeyBackupError('backup_malformed', `not an Anvil CA backup (format "${KEY_BACKUP_FORMAT}", version 1, with issuers)`);
  }
  const seen = new Set<string>();
  return backup.issuers.map((issuer) => {
    if (
      typeof issuer?.name !== 'string' ||
      typeof issuer.certificate !== 'string' ||
      (issuer.parent !== null && !seen.has(issuer.parent))
    ) {
      throw new KeyBackupError('backup_malformed', `backup entry "${String(issuer?.name)}" is incomplete or comes before its parent`);
    }
    seen.add(issuer.name);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(issuer.certificate);
    } catch {
      throw new KeyBackupError('backup_malformed', `the certificate of "${issuer.name}" in the backup does not parse`);
    }
    let pkcs8Der: Uint8Array | null = null;
    if (issuer.privateKey !== null) {
      let key: ReturnType<typeof createPrivateKey>;
      try {
        key = createPrivateKey({ key: issuer.privateKey, format: 'pem', passphrase });
      } catch {
        // OpenSSL cannot tell a wrong passphrase from a damaged key: both fail the padding check.
        throw new KeyBackupError(
          'wrong_passphrase',
          `the key of "${issuer.name}" does not decrypt: wrong passphrase (or a damaged backup)`,
        );
      }
      const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
      if (!spki.equals(cert.publicKey.export({ format: 'der', type: 'spki' }))) {
        throw new KeyBackupError('backup_key_mismatch', `the key of "${issuer.name}" in the backup does not match its certificate`);
      }
      pkcs8Der = new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
    } else if (!issuer.keyRef) {
      throw new KeyBackupError('backup_malformed', `backup entry "${issuer.name}" has neither a key nor a token reference`);
    }
    return { ...issuer, pkcs8Der, certificateDer: new Uint8Array(cert.raw) };
  });
}

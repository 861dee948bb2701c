/**
 * Backup and restore of the CA keys. Export: every software key as encrypted PKCS#8 beside its
 * issuer certificate (the file format is @anvil/pki's key-backup.ts). Restore: into an EMPTY
 * database only, at the server's first start (apps/server/src/custody.ts reads
 * ANVIL_RESTORE_FILE / ANVIL_RESTORE_PASSPHRASE_FILE, which `anvil ca import` prepares), each key
 * re-wrapped under this installation's KEK. What a backup holds is the hierarchy and its keys;
 * issued certificates, CRL numbers and tokens live in the database's own backups.
 */
import { createHash } from 'node:crypto';
import {
  checkBackupPassphrase,
  encryptPkcs8,
  KEY_BACKUP_FORMAT,
  KeyBackupError,
  openKeyBackup,
  toPem,
  type KeyBackup,
  type KeyBackupIssuer,
} from '@anvil/pki';
import { audit, type Actor } from '../audit.ts';
import { CaError } from '../errors.ts';
import type { LoadedIssuer } from '../issuers.ts';
import type { KeyCustody } from '../key-custody.ts';
import type { Store } from '../store.ts';

/** The setting that remembers which backup a database was restored from (a restart with the same file is no error). */
const RESTORED_SETTING = 'restored_key_backup';

export function keyBackupError(err: unknown): never {
  if (err instanceof KeyBackupError) throw new CaError('invalid', err.code, err.message);
  throw err;
}

/** Builds the backup (parents first). Token keys are listed by reference: they cannot leave the token. */
export function createKeyBackup(issuers: LoadedIssuer[], custody: KeyCustody, passphrase: string, now: Date): KeyBackup {
  try {
    checkBackupPassphrase(passphrase);
  } catch (err) {
    keyBackupError(err);
  }
  const byId = new Map(issuers.map((i) => [i.record.id, i]));
  const ordered: LoadedIssuer[] = [];
  const visit = (i: LoadedIssuer) => {
    if (ordered.includes(i)) return;
    if (i.record.parentId && byId.has(i.record.parentId)) visit(byId.get(i.record.parentId)!);
    ordered.push(i);
  };
  issuers.forEach(visit);
  return {
    format: KEY_BACKUP_FORMAT,
    version: 1,
    createdAt: now.toISOString(),
    issuers: ordered.map((i): KeyBackupIssuer => {
      const r = i.record;
      const pkcs8 = custody.softwareKey(r);
      return {
        name: r.name,
        kind: r.kind,
        parent: r.parentId ? (byId.get(r.parentId)?.record.name ?? null) : null,
        keyAlgorithm: r.keyAlgorithm,
        subject: r.subject,
        serial: r.serial,
        subjectKeyId: r.subjectKeyId,
        notBefore: r.notBefore.toISOString(),
        notAfter: r.notAfter.toISOString(),
        certificate: toPem(r.certificateDer, 'CERTIFICATE'),
        externalChain: r.externalChain ?? null,
        privateKey: pkcs8 ? encryptPkcs8(pkcs8, passphrase) : null,
        keyRef: pkcs8 ? null : r.keyRef,
      };
    }),
  };
}

/**
 * Restores a backup into a database without issuers, in one transaction with its audit rows.
 * A wrong passphrase or a key that does not match its certificate refuses before anything is
 * written; a database that already has issuers is refused, unless it was restored from this very
 * backup (a restart with the variables still set).
 */
export async function restoreKeyBackup(
  deps: { store: Store; custody: KeyCustody },
  text: string,
  passphrase: string,
  actor: Actor,
): Promise<{ restored: string[]; alreadyRestored: boolean }> {
  const opened = (() => {
    try {
      return openKeyBackup(text, passphrase);
    } catch (err) {
      return keyBackupError(err);
    }
  })();
  const digest = createHash('sha256').update(text).digest('hex');
  return deps.store.withStartupLock(() =>
    deps.store.transaction(async (tx) => {
      const existing = await tx.listIssuers();
      if (existing.length) {
        if ((await tx.getSetting<string>(RESTORED_SETTING)) === digest) return { restored: [], alreadyRestored: true };
        throw new CaError(
          'conflict',
          'database_not_empty',
          `the database already holds ${existing.length} issuer(s): a CA backup is restored only into an empty data directory / database`,
        );
      }
      const ids = new Map<string, string>();
      for (const i of opened) {
        const entry = i.pkcs8Der ? deps.custody.wrap(i.name, i.pkcs8Der) : { encryptedKey: null, keyRef: i.keyRef };
        // A token key must be on the configured token: the signer checks it now, not at the first issuance.
        deps.custody.signer({ name: i.name, keyAlgorithm: i.keyAlgorithm, ...entry, certificateDer: i.certificateDer });
        const row = await tx.insertIssuer({
          name: i.name,
          kind: i.kind,
          parentId: i.parent ? ids.get(i.parent)! : null,
          subject: i.subject,
          keyAlgorithm: i.keyAlgorithm,
          encryptedKey: entry.encryptedKey,
          keyRef: entry.keyRef,
          ...(i.externalChain ? { externalChain: i.externalChain } : {}),
          certificateDer: i.certificateDer,
          serial: i.serial,
          subjectKeyId: i.subjectKeyId,
          notBefore: new Date(i.notBefore),
          notAfter: new Date(i.notAfter),
        });
        ids.set(i.name, row.id);
        await tx.appendAudit({
          ...audit(actor),
          action: 'issuer.restore',
          target: i.name,
          outcome: 'success',
          details: { kind: i.kind, keyAlgorithm: i.keyAlgorithm, key: i.pkcs8Der ? 'software' : 'pkcs11', backupSha256: digest },
        });
      }
      await tx.putSetting(RESTORED_SETTING, digest);
      return { restored: opened.map((i) => i.name), alreadyRestored: false };
    }),
  );
}

/**
 * Which custody holds the CA keys, from the configuration: software keys under the KEK, and, when
 * ANVIL_PKCS11_MODULE is set, a PKCS#11 token beside them (ANVIL_CA_KEY_STORE=pkcs11 makes new CA
 * keys there). Also the first-start restore of a CA key backup (ANVIL_RESTORE_FILE), which needs
 * the custody to re-wrap its keys. Every failure here stops start-up with a plain message (the
 * caller prints it without a stack); no PIN or passphrase is ever part of one.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CaError, restoreKeyBackup, SoftwareKeyCustody, type KeyCustody, type KeyEncryptionKey, type Store } from '@anvil/ca';
import type { Logger } from 'pino';
import type { Config } from './config.ts';

function secretFile(path: string, what: string): string {
  try {
    // A trailing newline is how editors and `echo` write files; it is never part of a PIN or passphrase.
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`cannot read ${what} from ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

export async function createCustody(config: Config, kek: KeyEncryptionKey, deps: { store: Store; log: Logger }): Promise<KeyCustody> {
  const software = new SoftwareKeyCustody(kek);
  let custody: KeyCustody = software;
  const p11 = config.custody.pkcs11;
  if (p11) {
    const pin = p11.pinFile !== undefined ? secretFile(p11.pinFile, 'the PKCS#11 PIN (ANVIL_PKCS11_PIN_FILE)') : p11.pin!;
    // Loaded only when configured: the native addon is not needed by software-only installations.
    const { Pkcs11KeyCustody } = await import('@anvil/ca/pkcs11');
    const token = Pkcs11KeyCustody.open(
      {
        module: p11.module,
        tokenLabel: p11.tokenLabel,
        slot: p11.slot,
        pin,
        generateOn: config.custody.keyStore === 'pkcs11' ? 'token' : 'software',
        sessions: p11.sessions,
      },
      software,
    );
    deps.log.info({ module: p11.module, tokenLabel: token.tokenLabel, newKeys: config.custody.keyStore }, 'PKCS#11 token ready');
    custody = token;
  }
  // ANVIL_RESTORE_FILE, or what `anvil ca import` laid into the data directory (removed once restored).
  const laid = {
    file: join(resolve(config.dataDir), 'restore', 'backup.json'),
    passphraseFile: join(resolve(config.dataDir), 'restore', 'passphrase'),
  };
  const restore = config.custody.restore ?? (existsSync(laid.file) ? laid : undefined);
  if (restore) {
    let text: string;
    try {
      text = readFileSync(restore.file, 'utf8');
    } catch (err) {
      throw new Error(
        `cannot read the CA backup ANVIL_RESTORE_FILE=${restore.file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      );
    }
    const passphrase = secretFile(restore.passphraseFile, 'the backup passphrase (ANVIL_RESTORE_PASSPHRASE_FILE)');
    try {
      const result = await restoreKeyBackup({ store: deps.store, custody }, text, passphrase, {
        id: 'restore',
        name: 'restore',
        source: null,
      });
      if (result.alreadyRestored)
        deps.log.info({ file: restore.file }, 'the database was restored from this CA backup before; nothing to do');
      else deps.log.info({ file: restore.file, issuers: result.restored }, 'restored the CA from its backup');
      // The passphrase must not outlive the restore on disk; the keys are under this KEK now.
      if (restore === laid) rmSync(dirname(laid.file), { recursive: true, force: true });
    } catch (err) {
      if (err instanceof CaError) throw new Error(`cannot restore the CA backup ${restore.file}: ${err.message} (${err.code})`);
      throw err;
    }
  }
  return custody;
}

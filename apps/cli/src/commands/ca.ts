/**
 * `anvil ca export` and `anvil ca import`: the CA key backup (issue 14, item 6).
 *
 * The CLI talks to the API only (ARCHITECTURE.md), so the two halves meet in files:
 * - export: POST /api/v1/issuers/backup {passphrase} (admin token, audited) writes every software
 *   CA key as encrypted PKCS#8 (PBKDF2 + AES-256-CBC, `openssl pkey` reads it) with the issuer
 *   certificates, to a file of mode 0600.
 * - import: checks the backup here (every key decrypts with the passphrase and matches its
 *   certificate; a wrong passphrase writes nothing), then lays it into an EMPTY data directory as
 *   `restore/backup.json` + `restore/passphrase` (0600). The server's first start on that directory
 *   restores the hierarchy into its empty database instead of creating a new CA, re-wraps the
 *   keys under its own KEK and deletes the restore/ directory (apps/server/src/custody.ts).
 *   For a server whose data directory is elsewhere, ANVIL_RESTORE_FILE and
 *   ANVIL_RESTORE_PASSPHRASE_FILE name the two files instead.
 * The passphrase comes from a file or ANVIL_BACKUP_PASSPHRASE, never a flag (flags show in ps).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkBackupPassphrase, KeyBackupError, openKeyBackup, type KeyBackup } from '@anvil/pki';
import { Command } from 'commander';
import { contextOf } from '../context.ts';
import { CliError } from '../errors.ts';

function passphraseOf(opts: { passphraseFile?: string }): string {
  if (opts.passphraseFile) {
    try {
      return readFileSync(opts.passphraseFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new CliError(`cannot read the passphrase file ${opts.passphraseFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  }
  const env = process.env.ANVIL_BACKUP_PASSPHRASE;
  if (env) return env;
  throw new CliError('give the backup passphrase with --passphrase-file FILE or ANVIL_BACKUP_PASSPHRASE');
}

function backupError(err: unknown): never {
  if (err instanceof KeyBackupError) throw new CliError(`${err.message} (${err.code}); nothing was written`, 1);
  throw err;
}

export function caCommand(): Command {
  const ca = new Command('ca').description('the CA keys: encrypted backup (export) and restore into a new data directory (import)');
  ca.command('export')
    .description('write an encrypted backup of every software CA key with the issuer certificates (admin token)')
    .requiredOption('-o, --out <file>', 'where to write the backup (mode 0600; refused if it exists)')
    .option('--passphrase-file <file>', 'file holding the passphrase, at least 12 characters (or ANVIL_BACKUP_PASSPHRASE)')
    .action(async (opts: { out: string; passphraseFile?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const passphrase = passphraseOf(opts);
      try {
        checkBackupPassphrase(passphrase);
      } catch (err) {
        backupError(err);
      }
      if (existsSync(opts.out)) throw new CliError(`${opts.out} exists; choose another file (a backup is never overwritten)`);
      const backup = await ctx.client.json<KeyBackup>('POST', '/api/v1/issuers/backup', { body: { passphrase } });
      writeFileSync(opts.out, `${JSON.stringify(backup, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      const keys = backup.issuers.filter((i) => i.privateKey).length;
      const onToken = backup.issuers.filter((i) => !i.privateKey).map((i) => i.name);
      ctx.out(
        `wrote ${opts.out}: ${backup.issuers.length} issuer(s), ${keys} software key(s)` +
          (onToken.length ? `; on the PKCS#11 token, by reference only: ${onToken.join(', ')}` : ''),
      );
    });
  ca.command('import')
    .description('check a backup and lay it into an empty data directory; the server restores it at its first start there')
    .argument('<backup>', 'a file written by `anvil ca export`')
    .requiredOption('--data-dir <dir>', 'the new, empty ANVIL_DATA_DIR')
    .option('--passphrase-file <file>', 'file holding the passphrase (or ANVIL_BACKUP_PASSPHRASE)')
    .option('--check', 'only check the backup and the passphrase; write nothing')
    .action(async (file: string, opts: { dataDir: string; passphraseFile?: string; check?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      }
      const passphrase = passphraseOf(opts);
      let issuers: ReturnType<typeof openKeyBackup>;
      try {
        issuers = openKeyBackup(text, passphrase);
      } catch (err) {
        backupError(err);
      }
      const summary = issuers
        .map((i) => `${i.name} (${i.kind}, ${i.keyAlgorithm}, ${i.pkcs8Der ? 'software key' : 'PKCS#11 token key'})`)
        .join(', ');
      if (opts.check) {
        ctx.out(`backup OK: ${summary}`);
        return;
      }
      const dir = resolve(opts.dataDir);
      if (existsSync(dir) && readdirSync(dir).length) {
        throw new CliError(`${dir} is not empty: a backup is restored only into an empty data directory; nothing was written`);
      }
      mkdirSync(join(dir, 'restore'), { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      writeFileSync(join(dir, 'restore', 'backup.json'), text, { mode: 0o600, flag: 'wx' });
      writeFileSync(join(dir, 'restore', 'passphrase'), passphrase, { mode: 0o600, flag: 'wx' });
      ctx.out(`laid ${summary} into ${dir}/restore; start the server with ANVIL_DATA_DIR=${dir} (and an empty database) to restore it`);
    });
  return ca;
}

/**
 * `anvil ca export` / `anvil ca import` against real server processes: an Anvil's software CA keys
 * are exported encrypted (openssl reads each key with the passphrase, and finds PBES2 / PBKDF2 /
 * AES-256-CBC), a wrong passphrase and a non-empty directory are refused with nothing written, the
 * backup is laid into an empty data directory, and a new server started there restores the same
 * hierarchy (not a new CA) and issues a certificate that `openssl verify` accepts against the
 * ORIGINAL trust bundle. A database that already has its own CA refuses the restore at start-up.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedStart, startServer, type ServerProcess } from '../support/server-process.ts';
import { haveTool, run, tempDir } from '../support/tools.ts';
import { anvilCli } from './cli-runner.ts';

const TOKEN = 'anvil_backup_admin_token_0123456789';
const PASSPHRASE = 'correct battery horse staple 42';

describe.runIf(haveTool('openssl'))('CA key backup and restore', () => {
  const dir = tempDir('anvil-backup-');
  const original = join(dir, 'original');
  const restored = join(dir, 'restored');
  const backupFile = join(dir, 'backup.json');
  const passFile = join(dir, 'pass');
  const wrongFile = join(dir, 'wrong');
  let a: ServerProcess;
  let trustBundle = '';
  const issuerPems: Record<string, string> = {};

  beforeAll(async () => {
    writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    writeFileSync(wrongFile, 'not the passphrase at all\n', { mode: 0o600 });
    a = await startServer({ ANVIL_DATA_DIR: original }, TOKEN);
    if (a.child.exitCode !== null) throw new Error(`the server did not start:\n${a.output()}`);
    trustBundle = await (await fetch(`${a.base}/pki/trust-bundle.pem`)).text();
    for (const name of ['root-ca', 'issuing-ca']) issuerPems[name] = await (await fetch(`${a.base}/pki/issuers/${name}.pem`)).text();
  }, 330_000);

  afterAll(async () => {
    await a?.stop();
  });

  it('refuses a short passphrase with weak_passphrase (API) and before any request (CLI)', async () => {
    const res = await a.api('POST', '/api/v1/issuers/backup', { passphrase: 'short' });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('weak_passphrase');
    const cli = await anvilCli(['ca', 'export', '-o', join(dir, 'never.json')], {
      ANVIL_URL: a.base,
      ANVIL_TOKEN: TOKEN,
      ANVIL_BACKUP_PASSPHRASE: 'short',
    });
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('weak_passphrase');
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
  });

  it('exports every software key as encrypted PKCS#8 that openssl reads with the passphrase only', async () => {
    const cli = await anvilCli(['ca', 'export', '-o', backupFile, '--passphrase-file', passFile], {
      ANVIL_URL: a.base,
      ANVIL_TOKEN: TOKEN,
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('2 issuer(s), 2 software key(s)');
    expect(readFileSync(backupFile, 'utf8')).not.toContain(PASSPHRASE);
    const backup = JSON.parse(readFileSync(backupFile, 'utf8'));
    expect(backup.issuers.map((i: { name: string }) => i.name)).toEqual(['root-ca', 'issuing-ca']);
    for (const issuer of backup.issuers) {
      expect(issuer.privateKey).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
      const keyFile = join(dir, `${issuer.name}.key.pem`);
      writeFileSync(keyFile, issuer.privateKey);
      const params = run('openssl', ['asn1parse', '-in', keyFile]);
      expect(params.out).toContain('PBES2');
      expect(params.out).toContain('PBKDF2');
      expect(params.out).toContain('aes-256-cbc');
      // The key decrypts with the passphrase and is the CA certificate's key.
      const pub = run('openssl', ['pkey', '-in', keyFile, '-passin', `file:${passFile}`, '-pubout']);
      expect(pub.status, pub.out).toBe(0);
      const certFile = join(dir, `${issuer.name}.crt.pem`);
      writeFileSync(certFile, issuerPems[issuer.name]);
      expect(run('openssl', ['x509', '-in', certFile, '-pubkey', '-noout']).out).toBe(pub.out);
      expect(run('openssl', ['pkey', '-in', keyFile, '-passin', `file:${wrongFile}`, '-noout']).status).not.toBe(0);
    }
    // audited
    const audit = await a.api('GET', '/api/v1/audit?action=issuer.backup');
    expect(JSON.stringify(audit.body)).toContain('issuer.backup');
  });

  it('import: a wrong passphrase is refused and writes nothing', async () => {
    const r = await anvilCli(['ca', 'import', backupFile, '--data-dir', restored, '--passphrase-file', wrongFile]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('wrong_passphrase');
    expect(r.stderr).not.toContain('not the passphrase at all');
    expect(existsSync(restored)).toBe(false);
  });

  it('import lays the backup into an empty data directory, and refuses a non-empty one', async () => {
    const ok = await anvilCli(['ca', 'import', backupFile, '--data-dir', restored, '--passphrase-file', passFile]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('root-ca (root, EC-P256, software key)');
    const again = await anvilCli(['ca', 'import', backupFile, '--data-dir', restored, '--passphrase-file', passFile]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('is not empty');
  });

  it('a server started on the restored directory has the same CA and issues certificates the original trust bundle verifies', async () => {
    const b = await startServer({ ANVIL_DATA_DIR: restored }, TOKEN);
    try {
      expect(b.child.exitCode, b.output()).toBeNull();
      expect(b.output()).toContain('restored the CA from its backup');
      expect(b.output()).not.toContain(PASSPHRASE);
      expect(existsSync(join(restored, 'restore'))).toBe(false); // the passphrase is gone from disk
      for (const name of ['root-ca', 'issuing-ca'])
        expect(await (await fetch(`${b.base}/pki/issuers/${name}.pem`)).text()).toBe(issuerPems[name]);
      const res = await b.api('POST', '/api/v1/certificates', {
        profile: 'client',
        subject: { CN: 'restored.partner.test' },
        sans: { dns: ['restored.partner.test'] },
      });
      expect(res.status, res.text).toBe(201);
      const leaf = join(dir, 'leaf.pem');
      const trust = join(dir, 'trust.pem');
      const chain = join(dir, 'chain.pem');
      writeFileSync(leaf, res.body.certificate);
      writeFileSync(trust, trustBundle);
      writeFileSync(chain, issuerPems['issuing-ca']);
      const verify = run('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', trust, '-untrusted', chain, leaf]);
      expect(verify.out).toContain(`${leaf}: OK`);
      const crl = join(dir, 'restored.crl');
      writeFileSync(crl, Buffer.from(await (await fetch(`${b.base}/pki/crl/issuing-ca.crl`)).arrayBuffer()));
      expect(run('openssl', ['crl', '-inform', 'DER', '-in', crl, '-CAfile', chain, '-verify', '-noout']).out).toContain('verify OK');
    } finally {
      await b.stop();
    }
  }, 330_000);

  it('a database with a CA of its own refuses the restore at start-up', async () => {
    await a.stop();
    const r = await failedStart(
      { ANVIL_DATA_DIR: original, ANVIL_RESTORE_FILE: backupFile, ANVIL_RESTORE_PASSPHRASE_FILE: passFile },
      TOKEN,
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('database_not_empty');
    expect(r.output).not.toContain(PASSPHRASE);
    expect(r.output).not.toMatch(/\n\s+at /);
  }, 330_000);
});

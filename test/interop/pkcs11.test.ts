/**
 * CA keys on a PKCS#11 token (SoftHSM2), through the real server process. The test initialises its
 * own token (SOFTHSM2_CONF in a temp dir), starts Anvil with ANVIL_CA_KEY_STORE=pkcs11 so the root
 * and the intermediate are generated ON the token at bootstrap, then checks with tools we did not
 * write: pkcs11-tool lists both private keys as sensitive and never extractable and its public keys
 * are the CA certificates' keys; a client certificate passes `openssl verify -x509_strict -purpose
 * sslclient`; a CRL passes `openssl crl -verify`; an OCSP answer (its responder certificate signed
 * by the token key) gives "Response verify OK". After a restart it signs again. A wrong PIN and a
 * missing token each stop start-up with a plain message (no stack, no PIN). A token that fails
 * during issuance is a 503 `hsm_unavailable` with nothing recorded.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase } from '../support/harness.ts';
import { createOpensslCa, keyAndCsr } from '../support/openssl-ca.ts';
import { failedStart, startServer, type ServerProcess } from '../support/server-process.ts';
import { haveTool, openssl, run, tempDir, writeFiles } from '../support/tools.ts';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const LABEL = 'anvil-interop';
const PIN = 'pin-7Hq2-never-shown';
const SO_PIN = 'so-pin-8812-never-shown';
const TOKEN = 'anvil_pkcs11_admin_token_0123456789';

const tools = haveTool('softhsm2-util') && haveTool('pkcs11-tool') && haveTool('openssl');
if (tools && !existsSync(MODULE)) {
  if (process.env.CI === 'true') throw new Error(`${MODULE} is missing: install Debian's softhsm2`);
  console.warn(`\n  !!! SKIPPING: ${MODULE} is missing\n`);
}
const ready = tools && existsSync(MODULE);

/** A certificate's subjectKeyIdentifier as `openssl ocsp -resp_text` prints a byKey Responder Id (hex, no colons). */
function subjectKeyId(certPath: string): string {
  const text = openssl('x509', '-in', certPath, '-noout', '-ext', 'subjectKeyIdentifier');
  return /\n\s*([0-9A-F:]+)\s*$/.exec(text)![1].replace(/:/g, '');
}

describe.runIf(ready)('CA keys on a PKCS#11 token (SoftHSM2)', () => {
  const dir = tempDir('anvil-pkcs11-');
  const tokenDir = join(dir, 'tokens');
  const conf = join(dir, 'softhsm2.conf');
  const pinFile = join(dir, 'pin');
  const dataDir = join(dir, 'data');
  let env: Record<string, string>;
  let server: ServerProcess;
  let files: Record<string, string>;

  const p11tool = (...args: string[]) =>
    execFileSync('pkcs11-tool', ['--module', MODULE, '--token-label', LABEL, ...args], {
      encoding: 'utf8',
      env: { ...process.env, SOFTHSM2_CONF: conf },
    });

  async function issue(cn: string, issuer?: string) {
    const res = await server.api('POST', '/api/v1/certificates', { profile: 'client', subject: { CN: cn }, sans: { dns: [cn] }, issuer });
    expect(res.status, res.text).toBe(201);
    const leaf = join(dir, `${cn}.pem`);
    writeFileSync(leaf, res.body.certificate);
    return { id: res.body.id as string, serial: res.body.serial as string, path: leaf };
  }

  async function fetchPki() {
    const bundle = await (await fetch(`${server.base}/pki/trust-bundle.pem`)).text();
    const issuing = await (await fetch(`${server.base}/pki/issuers/issuing-ca.pem`)).text();
    files = writeFiles(dir, { 'trust.pem': bundle, 'issuing.pem': issuing });
  }

  /** Revokes `leaf` after openssl verified it, then checks the token-signed CRL and OCSP answer say so. */
  async function verifyAll(
    leaf: { id: string; serial: string; path: string },
    ca = { trust: 'trust.pem', issuing: 'issuing.pem', crl: 'issuing-ca' },
  ) {
    const verify = run('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslclient',
      '-CAfile',
      files[ca.trust],
      '-untrusted',
      files[ca.issuing],
      leaf.path,
    ]);
    expect(verify.out).toContain(`${leaf.path}: OK`);
    expect((await server.api('POST', `/api/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const crl = Buffer.from(await (await fetch(`${server.base}/pki/crl/${ca.crl}.crl`)).arrayBuffer());
    writeFileSync(join(dir, 'issuing.crl'), crl);
    const crlCheck = run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      join(dir, 'issuing.crl'),
      '-CAfile',
      files[ca.issuing],
      '-verify',
      '-noout',
      '-text',
    ]);
    expect(crlCheck.out).toContain('verify OK');
    expect(crlCheck.out.replace(/:/g, '').toUpperCase()).toContain(`SERIAL NUMBER ${leaf.serial.toUpperCase().replace(/^(00)+/, '')}`);
    const revoked = run('openssl', [
      'verify',
      '-x509_strict',
      '-crl_check',
      '-CAfile',
      files[ca.trust],
      '-untrusted',
      files[ca.issuing],
      '-CRLfile',
      join(dir, 'issuing.crl'),
      leaf.path,
    ]);
    expect(revoked.out).toContain('certificate revoked');
    const ocsp = run('openssl', [
      'ocsp',
      '-issuer',
      files[ca.issuing],
      '-cert',
      leaf.path,
      '-url',
      `${server.base}/ocsp`,
      '-CAfile',
      files[ca.trust],
      // The CA's own key signs the answer (ANVIL_OCSP_SIGNER=auto with a token key): no responder certificate is sent.
      '-verify_other',
      files[ca.issuing],
      '-resp_text',
    ]);
    expect(ocsp.out).toContain('Response verify OK');
    expect(ocsp.out).toContain(`Responder Id: ${subjectKeyId(files[ca.issuing])}`);
    expect(ocsp.out).not.toContain('BEGIN CERTIFICATE');
    expect(ocsp.out).toContain(`${leaf.path}: revoked`);
  }

  beforeAll(async () => {
    writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    execFileSync('mkdir', ['-p', tokenDir]);
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', LABEL, '--pin', PIN, '--so-pin', SO_PIN], {
      env: { ...process.env, SOFTHSM2_CONF: conf },
    });
    writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
    env = {
      SOFTHSM2_CONF: conf,
      ANVIL_DATA_DIR: dataDir,
      ANVIL_CA_KEY_STORE: 'pkcs11',
      ANVIL_PKCS11_MODULE: MODULE,
      ANVIL_PKCS11_TOKEN_LABEL: LABEL,
      ANVIL_PKCS11_PIN_FILE: pinFile,
    };
    server = await startServer(env, TOKEN);
    if (server.child.exitCode !== null) throw new Error(`the server did not start:\n${server.output()}`);
    await fetchPki();
  }, 330_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('bootstrap made both CA keys on the token: sensitive, never extractable, and they are the certificates keys', async () => {
    expect(server.output()).toContain('PKCS#11 token ready');
    expect(server.output()).not.toContain(PIN);
    const objects = p11tool('--login', '--pin', PIN, '--list-objects', '--type', 'privkey');
    for (const name of ['root-ca', 'issuing-ca']) {
      const block = objects.split(/\n(?=Private Key Object)/).find((b) => b.includes(`label:      anvil-${name}`));
      expect(block, objects).toBeDefined();
      expect(block).toMatch(/Access:.*\bsensitive\b/);
      expect(block).toMatch(/Access:.*never extractable/);
      expect(block).not.toMatch(/Access:[^\n]*(?<!never )extractable,? local|Access:\s*extractable/);
      // The token's public key is the one in the CA certificate.
      const pub = join(dir, `${name}.pub.der`);
      p11tool('--read-object', '--type', 'pubkey', '--label', `anvil-${name}`, '-o', pub);
      const fromToken = openssl('pkey', '-pubin', '-inform', 'DER', '-in', pub, '-outform', 'PEM');
      const certPem = join(dir, `${name}.pem`);
      writeFileSync(certPem, await (await fetch(`${server.base}/pki/issuers/${name}.pem`)).text());
      expect(openssl('x509', '-in', certPem, '-pubkey', '-noout')).toBe(fromToken);
    }
    // Software custody left no key in the database rows: nothing to decrypt, the token signs.
    const backup = await server.api('POST', '/api/v1/issuers/backup', { passphrase: 'backup passphrase 1234' });
    expect(backup.status, backup.text).toBe(200);
    for (const i of backup.body.issuers) {
      expect(i.privateKey).toBeNull();
      expect(i.keyRef).toMatch(new RegExp(`^pkcs11:token=${LABEL};object=anvil-${i.name};id=(%[0-9a-f]{2})+$`));
    }
  });

  it('issues a client certificate, signs a CRL and an OCSP answer with the token key (openssl verifies each)', async () => {
    await verifyAll(await issue('first.partner.test'));
  });

  it('after a restart the token keys sign again', async () => {
    await server.stop();
    server = await startServer(env, TOKEN);
    expect(server.child.exitCode, server.output()).toBeNull();
    await fetchPki();
    await verifyAll(await issue('second.partner.test'));
  }, 330_000);

  describe('a CA whose key is already on the token is imported without its key', () => {
    const ext = (name: string) => join(dir, name);

    beforeAll(() => {
      // The key is made on the token by a tool we did not write; an external root (openssl) certifies its public key.
      p11tool('--login', '--pin', PIN, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'partner-ca', '--id', '4242');
      p11tool('--read-object', '--type', 'pubkey', '--id', '4242', '-o', ext('token.pub.der'));
      openssl('pkey', '-pubin', '-inform', 'DER', '-in', ext('token.pub.der'), '-out', ext('token.pub.pem'));
      // An external root (openssl) certifies the token's public key; stray-int is of the CSR's own key, not on the token.
      const root = createOpensslCa(ext('ext-ca'), 'Partner Root');
      const { csrPem } = keyAndCsr(dir, 'throwaway', '/O=Partner/CN=Partner Token CA');
      writeFileSync(ext('ext-root.pem'), root.rootPem);
      writeFileSync(ext('token-int.pem'), root.certifyKey(csrPem, ext('token.pub.pem')));
      writeFileSync(ext('stray-int.pem'), root.sign(csrPem));
      files = { ...files, 'ext-root.pem': ext('ext-root.pem'), 'token-int.pem': ext('token-int.pem') };
    });

    const importIt = (name: string, cert: string, extra: Record<string, string> = {}) =>
      server.api('POST', '/api/v1/issuers/import', {
        name,
        certificate: readFileSync(ext(cert), 'utf8'),
        chain: readFileSync(ext('ext-root.pem'), 'utf8'),
        ...extra,
      });

    it("refuses what is not the certificate's key on the token, each with its code, importing nothing", async () => {
      const issuersBefore = (await server.api('GET', '/api/v1/issuers')).text;
      const rootRef = (await server.api('POST', '/api/v1/issuers/backup', { passphrase: 'backup passphrase 1234' })).body.issuers.find(
        (i: { name: string }) => i.name === 'root-ca',
      ).keyRef as string;
      const cases: [string, Record<string, string>, string][] = [
        ['stray-int.pem', {}, 'key_not_on_token'],
        ['token-int.pem', { keyRef: 'not-a-uri' }, 'malformed_key_ref'],
        ['token-int.pem', { keyRef: rootRef.replace(`token=${LABEL}`, 'token=other-token') }, 'key_ref_unusable'],
        ['token-int.pem', { keyRef: rootRef }, 'key_mismatch'],
        ['token-int.pem', { keyRef: rootRef, privateKey: readFileSync(join(dir, 'throwaway.key'), 'utf8') }, 'key_ref_conflict'],
      ];
      for (const [cert, extra, code] of cases) {
        const res = await importIt('refused-int', cert, extra);
        expect(res.status, `${code}: ${res.text}`).toBe(422);
        expect(res.body.code).toBe(code);
        expect(res.text).not.toContain(PIN);
      }
      expect((await server.api('GET', '/api/v1/issuers')).text).toBe(issuersBefore);
    });

    it("finds the key by the certificate's public key, and the token key signs its certificates, CRL and OCSP answers", async () => {
      const res = await importIt('token-int', 'token-int.pem');
      expect(res.status, res.text).toBe(201);
      const backup = await server.api('POST', '/api/v1/issuers/backup', { passphrase: 'backup passphrase 1234' });
      const row = backup.body.issuers.find((i: { name: string }) => i.name === 'token-int');
      expect(row.privateKey).toBeNull();
      expect(row.keyRef).toBe(`pkcs11:token=${LABEL};object=partner-ca;id=%42%42`);
      const leaf = await issue('imported.partner.test', 'token-int');
      await verifyAll(leaf, { trust: 'ext-root.pem', issuing: 'token-int.pem', crl: 'token-int' });
    });
  });

  it('issuers created at once under one name: one is made, the others are refused and leave no key on the token', async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () => server.api('POST', '/api/v1/issuers', { name: 'raced-ca', kind: 'intermediate' })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses, results.map((r) => r.text).join('\n')).toEqual([201, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.code).toBe('issuer_exists');
    const objects = p11tool('--login', '--pin', PIN, '--list-objects', '--type', 'privkey');
    expect(objects.split('label:      anvil-raced-ca').length - 1).toBe(1);
  });

  it('a token failing during issuance is a 503 hsm_unavailable, and nothing is recorded as issued', async () => {
    const before = (await server.api('GET', '/api/v1/certificates?limit=100')).body.items.length;
    // The token's files vanish under the running server: SoftHSM refuses the next operation.
    const [tokenUuid] = readdirSync(tokenDir);
    renameSync(join(tokenDir, tokenUuid), join(dir, 'token-away'));
    try {
      const res = await server.api('POST', '/api/v1/certificates', {
        profile: 'client',
        subject: { CN: 'third.partner.test' },
        sans: { dns: ['third.partner.test'] },
      });
      expect(res.status, res.text).toBe(503);
      expect(res.body.code).toBe('hsm_unavailable');
      expect(res.text).not.toContain(PIN);
      expect((await server.api('GET', '/api/v1/certificates?limit=100')).body.items.length).toBe(before);
    } finally {
      renameSync(join(dir, 'token-away'), join(tokenDir, tokenUuid));
    }
    await server.stop();
  }, 330_000);

  it('sessions signing at the same time never corrupt the module (C_Initialize with CKF_OS_LOCKING_OK)', () => {
    // Before the fix, 2 of 3 such runs died in SoftHSM2 (SIGSEGV or "malloc(): unaligned tcache chunk").
    for (let round = 0; round < 3; round++) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/pkcs11-sign-load.ts'], {
        encoding: 'utf8',
        env: { ...process.env, SOFTHSM2_CONF: conf, PKCS11_MODULE: MODULE, PKCS11_TOKEN_LABEL: LABEL, PKCS11_PIN: PIN, SECONDS: '2' },
      });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      expect(r.stdout).toMatch(/^signatures [1-9]\d* in \d+ ms/);
    }
  }, 120_000);

  it('two worker processes on PostgreSQL issue and answer OCSP on one token at once', async () => {
    const db = await freshPostgresDatabase('anvil_pkcs11');
    const workers = await startServer(
      { ...env, ANVIL_DATA_DIR: join(dir, 'data-workers'), DATABASE_URL: db.url, ANVIL_WORKERS: '2' },
      TOKEN,
    );
    try {
      expect(workers.child.exitCode, workers.output()).toBeNull();
      const results = await Promise.all(
        Array.from({ length: 48 }, (_, i) =>
          workers.api('POST', '/api/v1/certificates', {
            profile: 'client',
            subject: { CN: `w${i}.partner.test` },
            sans: { dns: [`w${i}.partner.test`] },
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
      // Both workers signed: their access lines name their pids.
      expect(new Set(workers.output().match(/"pid":\d+/g)).size).toBeGreaterThanOrEqual(3);
      server = workers;
      await fetchPki();
      writeFileSync(join(dir, 'w0.pem'), results[0].body.certificate);
      await verifyAll({ id: results[0].body.id, serial: results[0].body.serial, path: join(dir, 'w0.pem') });
      expect(workers.child.exitCode).toBeNull();
      expect(workers.output()).not.toMatch(/SIGSEGV|SIGABRT|tcache|a worker process exited/i);
    } finally {
      await workers.stop();
      await db.drop();
    }
  }, 330_000);

  it('a wrong PIN stops start-up with a plain message, without the PIN', async () => {
    const wrong = join(dir, 'wrong-pin');
    writeFileSync(wrong, 'not-the-pin-4242\n', { mode: 0o600 });
    const r = await failedStart({ ...env, ANVIL_PKCS11_PIN_FILE: wrong }, TOKEN);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(
      `PKCS#11 token "${LABEL}": the PIN (ANVIL_PKCS11_PIN or ANVIL_PKCS11_PIN_FILE) is wrong (CKR_PIN_INCORRECT)`,
    );
    expect(r.output).not.toContain('not-the-pin-4242');
    expect(r.output).not.toContain(PIN);
    expect(r.output).not.toMatch(/\n\s+at /); // no stack
  }, 330_000);

  it('a missing token stops start-up and names the tokens present', async () => {
    const r = await failedStart({ ...env, ANVIL_PKCS11_TOKEN_LABEL: 'no-such-token' }, TOKEN);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('no PKCS#11 token labelled "no-such-token"');
    expect(r.output).toContain(`"${LABEL}"`);
    expect(r.output).not.toContain(PIN);
    expect(r.output).not.toMatch(/\n\s+at /);
  }, 330_000);
});

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
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  async function issue(cn: string) {
    const res = await server.api('POST', '/api/v1/certificates', { profile: 'client', subject: { CN: cn }, sans: { dns: [cn] } });
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

  async function verifyAll(leaf: { id: string; serial: string; path: string }) {
    const verify = run('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslclient',
      '-CAfile',
      files['trust.pem'],
      '-untrusted',
      files['issuing.pem'],
      leaf.path,
    ]);
    expect(verify.out).toContain(`${leaf.path}: OK`);
    expect((await server.api('POST', `/api/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const crl = Buffer.from(await (await fetch(`${server.base}/pki/crl/issuing-ca.crl`)).arrayBuffer());
    writeFileSync(join(dir, 'issuing.crl'), crl);
    const crlCheck = run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      join(dir, 'issuing.crl'),
      '-CAfile',
      files['issuing.pem'],
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
      files['trust.pem'],
      '-untrusted',
      files['issuing.pem'],
      '-CRLfile',
      join(dir, 'issuing.crl'),
      leaf.path,
    ]);
    expect(revoked.out).toContain('certificate revoked');
    const ocsp = run('openssl', [
      'ocsp',
      '-issuer',
      files['issuing.pem'],
      '-cert',
      leaf.path,
      '-url',
      `${server.base}/ocsp`,
      '-CAfile',
      files['trust.pem'],
    ]);
    expect(ocsp.out).toContain('Response verify OK');
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

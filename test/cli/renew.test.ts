/** `anvil renew` (the real binary) against a listening test Anvil with its mTLS listener. */
// Same key and new key, leaf-only and full-chain files, the cron window, and every refusal leaving
// the files as they were, with the documented exit statuses (0, 1, 2, 3).
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { copyFileSync, chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, freePort, type TestAnvil } from '../support/harness.ts';
import { run, tempDir, writeFiles } from '../support/tools.ts';
import { anvilCli } from './cli-runner.ts';

interface Issued {
  id: string;
  serial: string;
  certificate: string;
  chain: string;
  fullchain: string;
  privateKey: string;
}

let anvil: TestAnvil;
let trustBundle: string;
let work: string;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true, mtls: true });
  trustBundle = await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text();
  work = tempDir('anvil-renew-');
  writeFiles(work, { 'trust-bundle.pem': trustBundle });
});
afterAll(async () => {
  await anvil?.close();
});

const env = () => ({ ANVIL_URL: anvil.publicUrl, ANVIL_MTLS_URL: `https://127.0.0.1:${anvil.mtls!.port}` });

let counter = 0;
/** A client certificate in its own directory: key.pem (0600) and cert.pem (the full chain, or the leaf with `leafOnly`). */
async function issued(opts: { leafOnly?: boolean } = {}): Promise<{ cert: Issued; dir: string; certPath: string; keyPath: string }> {
  const n = ++counter;
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: `renew-partner-${n}` },
    sans: { dns: [`p${n}.partner.test`], uri: [`spiffe://prod.example/p${n}`] },
  });
  expect(res.status).toBe(201);
  const cert = (await res.json()) as Issued;
  const dir = tempDir('anvil-renew-cert-');
  const paths = writeFiles(dir, { 'cert.pem': opts.leafOnly ? cert.certificate : cert.fullchain, 'key.pem': cert.privateKey });
  chmodSync(paths['key.pem'], 0o600);
  chmodSync(paths['cert.pem'], 0o644);
  return { cert, dir, certPath: paths['cert.pem'], keyPath: paths['key.pem'] };
}

const read = (path: string) => readFileSync(path, 'utf8');
const mode = (path: string) => statSync(path).mode & 0o777;
const blocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
const spki = (key: Parameters<typeof createPublicKey>[0]) => createPublicKey(key).export({ format: 'der', type: 'spki' });

function verifies(leafPem: string, chainPem: string): { status: number; out: string } {
  const dir = tempDir('anvil-renew-verify-');
  const p = writeFiles(dir, { 'leaf.pem': leafPem, 'chain.pem': chainPem });
  return run('openssl', [
    'verify',
    '-x509_strict',
    '-purpose',
    'sslclient',
    '-CAfile',
    join(work, 'trust-bundle.pem'),
    '-untrusted',
    p['chain.pem'],
    p['leaf.pem'],
  ]);
}

describe('anvil renew', () => {
  it('same key, full-chain cert file: cert replaced with a new full chain, key untouched, same subject and names', async () => {
    const { cert, certPath, keyPath, dir } = await issued();
    const keyBefore = read(keyPath);
    const keyStat = statSync(keyPath);
    const old = new X509Certificate(cert.certificate);
    copyFileSync(certPath, join(dir, 'old-cert.pem'));

    const r = await anvilCli(['renew', '--cert', certPath, '--key', keyPath, '--fullchain', join(dir, 'fullchain.pem')], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^renewed /m);
    expect(r.stdout).not.toContain('PRIVATE KEY');

    expect(read(keyPath)).toBe(keyBefore);
    expect(statSync(keyPath).ino).toBe(keyStat.ino); // not even rewritten
    const text = read(certPath);
    expect(blocks(text)).toBe(2);
    const renewed = new X509Certificate(text);
    expect(renewed.serialNumber).not.toBe(old.serialNumber);
    expect(renewed.subject).toBe(old.subject);
    expect(renewed.subjectAltName).toBe(old.subjectAltName);
    expect(renewed.issuer).toBe(old.issuer);
    expect(renewed.checkPrivateKey(createPrivateKey(keyBefore))).toBe(true);
    expect(mode(certPath)).toBe(0o644);
    expect(mode(keyPath)).toBe(0o600);
    expect(read(join(dir, 'fullchain.pem'))).toBe(text);
    expect(mode(join(dir, 'fullchain.pem'))).toBe(0o644);

    const chain = text.slice(text.indexOf('-----BEGIN CERTIFICATE-----', 1));
    const v = verifies(renewed.toString(), chain);
    expect(v.status, v.out).toBe(0);
    // No temporary files left beside the targets.
    expect(
      run('ls', ['-A', dir])
        .out.split('\n')
        .filter((f) => f.endsWith('.tmp')),
    ).toEqual([]);

    // The old certificate is superseded now: renewing it again is refused, and nothing changes.
    const again = await anvilCli(['renew', '--cert', join(dir, 'old-cert.pem'), '--key', keyPath], env());
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toContain('code: certificate_not_accepted (HTTP 403)');
    expect(again.stderr).toContain('reason: superseded');
    expect(read(join(dir, 'old-cert.pem'))).toBe(cert.fullchain);
    expect(read(certPath)).toBe(text);
  });

  it('leaf-only cert file: the chain is fetched from the server, the leaf written back alone, --chain written', async () => {
    const { cert, certPath, keyPath, dir } = await issued({ leafOnly: true });
    const chainPath = join(dir, 'chain.pem');
    const r = await anvilCli(['renew', '--cert', certPath, '--key', keyPath, '--chain', chainPath, '--if-expires-within', '3650d'], env());
    expect(r.code, r.stderr).toBe(0);
    const text = read(certPath);
    expect(blocks(text)).toBe(1);
    expect(new X509Certificate(text).serialNumber).not.toBe(new X509Certificate(cert.certificate).serialNumber);
    expect(read(chainPath)).toBe(cert.chain);
    expect(verifies(text, read(chainPath)).status).toBe(0);
  });

  it('--new-key: a fresh key of the same algorithm replaces key.pem (0600), and the certificate is for it', async () => {
    const { cert, certPath, keyPath } = await issued();
    const oldKey = read(keyPath);
    const r = await anvilCli(['renew', '--cert', certPath, '--key', keyPath, '--new-key', '--quiet'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const newKey = read(keyPath);
    expect(newKey).not.toBe(oldKey);
    expect(newKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(mode(keyPath)).toBe(0o600);
    const renewed = new X509Certificate(read(certPath));
    expect(renewed.publicKey.export({ format: 'der', type: 'spki' })).toEqual(spki(newKey));
    expect(renewed.checkPrivateKey(createPrivateKey(oldKey))).toBe(false);
    expect(createPublicKey(newKey).asymmetricKeyDetails).toEqual(new X509Certificate(cert.certificate).publicKey.asymmetricKeyDetails);
    expect(renewed.subject).toBe(new X509Certificate(cert.certificate).subject);
    expect(mode(certPath)).toBe(0o644);
  });

  it('--if-expires-within with plenty of time left: exit 0, nothing contacted, nothing changed', async () => {
    const { certPath, keyPath } = await issued();
    const before = [read(certPath), read(keyPath), statSync(certPath).mtimeMs];
    const dead = await freePort();
    const r = await anvilCli(['renew', '--cert', certPath, '--key', keyPath, '--if-expires-within', '30d', '--new-key'], {
      ANVIL_URL: `http://127.0.0.1:${dead}`,
      ANVIL_MTLS_URL: `https://127.0.0.1:${dead}`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('nothing to do');
    expect([read(certPath), read(keyPath), statSync(certPath).mtimeMs]).toEqual(before);
  });

  it('a revoked certificate: exit 2 with the problem code, files untouched', async () => {
    const { cert, certPath, keyPath } = await issued();
    const rev = await anvil.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
    expect(rev.status).toBeLessThan(300);
    const r = await anvilCli(['renew', '--cert', certPath, '--key', keyPath, '--new-key'], env());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('certificate_not_accepted');
    expect(r.stderr).toContain('reason: revoked');
    expect(read(certPath)).toBe(cert.fullchain);
    expect(read(keyPath)).toBe(cert.privateKey);
  });

  it('the wrong key for the certificate: exit 1, nothing changed', async () => {
    const a = await issued();
    const b = await issued();
    const r = await anvilCli(['renew', '--cert', a.certPath, '--key', b.keyPath], env());
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('does not belong to the certificate');
    expect(r.stderr).not.toContain('PRIVATE KEY');
    expect(read(a.certPath)).toBe(a.cert.fullchain);
    expect(read(b.keyPath)).toBe(b.cert.privateKey);
  });

  it('an unreachable mTLS listener: exit 3, nothing changed', async () => {
    const { cert, certPath, keyPath } = await issued();
    const dead = await freePort();
    const r = await anvilCli(['renew', '--cert', certPath, '--key', keyPath, '--ca-file', join(work, 'trust-bundle.pem'), '--new-key'], {
      ANVIL_URL: anvil.publicUrl,
      ANVIL_MTLS_URL: `https://127.0.0.1:${dead}`,
    });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('cannot reach the mTLS listener');
    expect(read(certPath)).toBe(cert.fullchain);
    expect(read(keyPath)).toBe(cert.privateKey);
  });

  it('a bad duration is a usage error (exit 1)', async () => {
    const { certPath, keyPath } = await issued();
    const r = await anvilCli(['renew', '--cert', certPath, '--key', keyPath, '--if-expires-within', 'soon'], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--if-expires-within soon');
  });
});

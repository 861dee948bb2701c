/**
 * Every bundle format, read by tools we did not write: OpenSSL for PKCS#12 and PKCS#7, Java's
 * keytool for PKCS#12 (modern and legacy) and PKCS#7, and a YAML parser plus OpenSSL for the
 * Kubernetes Secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';

const HAVE_OPENSSL = haveTool('openssl');
const HAVE_KEYTOOL = haveTool('keytool');

let anvil: TestAnvil;
let dir: string;
let trust: string;
beforeAll(async () => {
  anvil = await createTestAnvil();
  dir = tempDir('anvil-bundles-');
  trust = writeFiles(dir, { 'trust.pem': anvil.authority.trustBundlePem() })['trust.pem'];
});
afterAll(async () => {
  await anvil?.close();
});

const PASSWORD = 'Tr0ub4dor&3 with spaces';

async function issue(extra: Record<string, unknown>) {
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: 'partner-a' },
    sans: { dns: ['a.partner.test'], uri: ['spiffe://prod.example/partner-a'] },
    ...extra,
  });
  expect(res.status).toBe(201);
  return res.json();
}

describe.skipIf(!HAVE_OPENSSL)('PKCS#12 read by openssl', () => {
  it.each([
    ['modern', false, [], /PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/, /MAC: sha256/],
    ['legacy', true, ['-legacy'], /pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/, /MAC: sha1/],
  ] as const)('%s', async (name, legacy, flags, cipher, mac) => {
    const body = await issue({ pkcs12Password: PASSWORD, pkcs12Legacy: legacy, keyAlgorithm: 'EC-P384' });
    const p12 = writeFiles(dir, { [`${name}.p12`]: Buffer.from(body.pkcs12, 'base64') })[`${name}.p12`];
    const info = run('openssl', ['pkcs12', ...flags, '-info', '-nodes', '-in', p12, '-passin', `pass:${PASSWORD}`]);
    expect(info.status, info.out).toBe(0);
    expect(info.out).toMatch(cipher);
    expect(info.out).toMatch(mac);
    expect(info.out.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(info.out).toContain('-----BEGIN PRIVATE KEY-----');
    expect(info.out).toMatch(/friendlyName: partner-a/);

    // What it holds is what the JSON said: same leaf, same key, a chain that verifies.
    const leaf = run('openssl', ['pkcs12', ...flags, '-in', p12, '-passin', `pass:${PASSWORD}`, '-clcerts', '-nokeys']);
    const files = writeFiles(dir, { [`${name}-leaf.pem`]: leaf.out, [`${name}-chain.pem`]: body.chain });
    const fp = (args: string[]) => run('openssl', args).out.trim();
    const fingerprint = fp(['x509', '-in', files[`${name}-leaf.pem`], '-noout', '-fingerprint', '-sha256']);
    expect(fingerprint.replace(/^.*=/, '').replace(/:/g, '').toLowerCase()).toBe(body.fingerprintSha256.replace(/:/g, '').toLowerCase());
    const verify = run('openssl', [
      'verify',
      '-CAfile',
      trust,
      '-untrusted',
      files[`${name}-chain.pem`],
      '-purpose',
      'sslclient',
      files[`${name}-leaf.pem`],
    ]);
    expect(verify.out).toContain(': OK');
    const keyFromP12 = run('openssl', ['pkcs12', ...flags, '-in', p12, '-passin', `pass:${PASSWORD}`, '-nocerts', '-nodes']);
    const pub = (pem: string) => run('openssl', ['pkey', '-pubout'], pem).out;
    expect(pub(keyFromP12.out)).toBe(pub(body.privateKey));
  });

  it('refuses the wrong password (the MAC protects the file)', async () => {
    const body = await issue({ pkcs12Password: PASSWORD });
    const p12 = writeFiles(dir, { 'wrong.p12': Buffer.from(body.pkcs12, 'base64') })['wrong.p12'];
    const info = run('openssl', ['pkcs12', '-info', '-nodes', '-in', p12, '-passin', 'pass:not-the-password']);
    expect(info.status).not.toBe(0);
    expect(info.out).toMatch(/mac verify (error|failure)/i);
  });
});

describe.skipIf(!HAVE_KEYTOOL)('PKCS#12 read by Java keytool', () => {
  it.each([
    ['modern', false],
    ['legacy', true],
  ])('%s: one PrivateKeyEntry with chain length 2', async (name, legacy) => {
    const body = await issue({ pkcs12Password: PASSWORD, pkcs12Legacy: legacy, keyAlgorithm: 'RSA-2048' });
    const p12 = writeFiles(dir, { [`java-${name}.p12`]: Buffer.from(body.pkcs12, 'base64') })[`java-${name}.p12`];
    const list = run('keytool', ['-list', '-v', '-storetype', 'PKCS12', '-keystore', p12, '-storepass', PASSWORD]);
    expect(list.status, list.out).toBe(0);
    expect(list.out).toContain('Your keystore contains 1 entry');
    expect(list.out).toContain('Alias name: partner-a');
    expect(list.out).toContain('Entry type: PrivateKeyEntry');
    expect(list.out).toContain('Certificate chain length: 2');
    expect(list.out).toMatch(/Certificate\[1\]:\s+Owner: CN=partner-a/);
    expect(list.out).toMatch(/Certificate\[2\]:\s+Owner: CN=Anvil Issuing CA \(issuing-ca\), O=Anvil Test/);
  });
});

describe('PKCS#7 certs-only', () => {
  it.skipIf(!HAVE_OPENSSL)('openssl pkcs7 -print_certs lists leaf then intermediate (DER and PEM)', async () => {
    const body = await issue({});
    const der = Buffer.from(await (await anvil.api('GET', `/api/v1/certificates/${body.id}/bundle.p7b`)).arrayBuffer());
    const pem = await (await anvil.api('GET', `/api/v1/certificates/${body.id}/bundle.p7b.pem`)).text();
    const files = writeFiles(dir, { 'bundle.p7b': der, 'bundle.p7b.pem': pem });
    for (const [file, form] of [
      [files['bundle.p7b'], 'DER'],
      [files['bundle.p7b.pem'], 'PEM'],
    ]) {
      const out = run('openssl', ['pkcs7', '-inform', form, '-in', file, '-print_certs']);
      expect(out.status, out.out).toBe(0);
      const subjects = [...out.out.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]);
      expect(subjects).toEqual(['CN = partner-a', 'O = Anvil Test, CN = Anvil Issuing CA (issuing-ca)']);
      // The PEM blocks it prints are exactly the certificate and chain from the JSON.
      expect(out.out.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)?.join('')).toBe(body.fullchain);
    }
  });

  it.skipIf(!HAVE_KEYTOOL)('keytool -printcert reads it', async () => {
    const body = await issue({});
    const der = Buffer.from(await (await anvil.api('GET', `/api/v1/certificates/${body.id}/bundle.p7b`)).arrayBuffer());
    const file = writeFiles(dir, { 'java.p7b': der })['java.p7b'];
    const out = run('keytool', ['-printcert', '-file', file]);
    expect(out.status, out.out).toBe(0);
    expect(out.out).toMatch(/Certificate\[1\]:\s+Owner: CN=partner-a/);
    expect(out.out).toMatch(/Certificate\[2\]:\s+Owner: CN=Anvil Issuing CA/);
  });
});

describe.skipIf(!HAVE_OPENSSL)('Kubernetes Secret', () => {
  it('parses as YAML and its values are PEM that openssl accepts', async () => {
    const body = await issue({ kubernetesSecret: { namespace: 'payments' }, keyAlgorithm: 'Ed25519' });
    const secret = parseYaml(body.kubernetesSecret);
    expect(secret.kind).toBe('Secret');
    expect(secret.type).toBe('kubernetes.io/tls');
    const data: Record<string, string> = secret.data;
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    for (const value of Object.values(data)) expect(value).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const pem = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    const files = writeFiles(dir, { 'k8s-tls.crt': pem['tls.crt'], 'k8s-tls.key': pem['tls.key'], 'k8s-ca.crt': pem['ca.crt'] });

    // tls.crt is leaf + intermediate: verify the leaf against ca.crt with the rest as untrusted.
    const verify = run('openssl', ['verify', '-CAfile', files['k8s-ca.crt'], '-untrusted', files['k8s-tls.crt'], files['k8s-tls.crt']]);
    expect(verify.out).toContain(': OK');
    const certPub = run('openssl', ['x509', '-in', files['k8s-tls.crt'], '-noout', '-pubkey']).out;
    const keyPub = run('openssl', ['pkey', '-in', files['k8s-tls.key'], '-pubout']).out;
    expect(keyPub).toBe(certPub);
    expect(run('openssl', ['x509', '-in', files['k8s-ca.crt'], '-noout', '-subject']).out).toMatch(/Anvil Root CA/);
  });

  it('the downloaded secret.yaml parses and has no tls.key', async () => {
    const body = await issue({});
    const text = await (await anvil.api('GET', `/api/v1/certificates/${body.id}/secret.yaml`)).text();
    const secret = parseYaml(text);
    expect(secret.data['tls.key']).toBeUndefined();
    const crt = writeFiles(dir, { 'dl-tls.crt': Buffer.from(secret.data['tls.crt'], 'base64') })['dl-tls.crt'];
    expect(run('openssl', ['verify', '-CAfile', trust, '-untrusted', crt, crt]).out).toContain(': OK');
  });
});

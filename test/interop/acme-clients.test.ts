/**
 * Anvil's ACME server with real clients we did not write: certbot (standalone http-01, renew
 * --force-renewal, revoke: then the CRL lists the serial and OCSP answers revoked), lego (http-01,
 * tls-alpn-01, and External Account Binding against a profile that requires it), and Caddy
 * (acme_ca pointing at Anvil, then serving the certificate it got, fetched with curl --cacert).
 * Every certificate passes `openssl verify -x509_strict -purpose sslserver` against Anvil's root.
 *
 * The clients talk to this very process, so every tool runs asynchronously (a blocking spawn would
 * stall the server). Validation connects to 127.0.0.1 through the test settings (hosts map,
 * loopback allowed), on the ports the clients listen on. Under CI=true a missing tool fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, freePort, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';

const PROFILE = 'acme-interop';
const EAB_PROFILE = 'acme-interop-eab';
const NAMES = [
  'certbot.acme.test',
  'lego-http.acme.test',
  'lego-tls.acme.test',
  'lego-eab.eab.acme.test',
  'lego-outside.acme.test',
  'caddy.acme.test',
];

let anvil: TestAnvil;
let dir: string;
let httpPort = 0;
let tlsPort = 0;
let root = '';

const tools = {
  openssl: haveTool('openssl'),
  certbot: haveTool('certbot'),
  lego: haveTool('lego'),
  caddy: haveTool('caddy'),
  curl: haveTool('curl'),
};

/** Runs a tool without blocking the event loop (the server it talks to is this process). */
function runAsync(command: string, args: string[], env: Record<string, string> = {}, timeoutMs = 120_000) {
  return new Promise<{ status: number; out: string }>((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill(), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, out });
    });
  });
}

const directory = (profile = PROFILE) => `${anvil.publicUrl}/acme/${profile}/directory`;

beforeAll(async () => {
  dir = tempDir('anvil-acme-interop-');
  httpPort = await freePort();
  tlsPort = await freePort();
  anvil = await createTestAnvil({
    listen: true,
    // Test settings: loopback is allowed only here (the default refuses it).
    acmeValidation: {
      httpPort,
      tlsPort,
      hosts: new Map(NAMES.map((n) => [n, '127.0.0.1'])),
      allowedNetworks: ['127.0.0.0/8'],
      dnsResolver: null,
      timeoutMs: 5000,
    },
  });
  for (const [name, requireEab] of [
    [PROFILE, false],
    [EAB_PROFILE, true],
  ] as const) {
    const created = await anvil.api('POST', '/api/v1/profiles', {
      name,
      kind: 'server',
      policy: {
        sanTypes: ['dns'],
        dnsSuffixes: ['acme.test'],
        acme: { enabled: true, requireEab, challenges: ['http-01', 'tls-alpn-01'] },
      },
    });
    expect(created.status, await created.text()).toBe(201);
  }
  root = writeFiles(dir, { 'root.pem': anvil.authority.trustBundlePem() })['root.pem'];
}, 60_000);

afterAll(async () => {
  await anvil?.authority.acme.settled();
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

/** openssl verify -x509_strict -purpose sslserver of a full chain (leaf first) against Anvil's root; returns the leaf's serial. */
function verifyServerChain(fullchainPem: string, name: string): string {
  const certs = fullchainPem.match(PEM) ?? [];
  expect(certs.length, 'a leaf and its chain').toBeGreaterThanOrEqual(2);
  const files = writeFiles(dir, { 'v-leaf.pem': certs[0]!, 'v-chain.pem': certs.slice(1).join('') });
  const v = run('openssl', [
    'verify',
    '-x509_strict',
    '-purpose',
    'sslserver',
    '-CAfile',
    root,
    '-untrusted',
    files['v-chain.pem'],
    files['v-leaf.pem'],
  ]);
  expect(v.status, v.out).toBe(0);
  expect(v.out).toContain(': OK');
  const text = run('openssl', ['x509', '-in', files['v-leaf.pem'], '-noout', '-ext', 'subjectAltName', '-serial']).out;
  expect(text).toContain(`DNS:${name}`);
  return /serial=([0-9A-F]+)/.exec(text)![1];
}

describe.skipIf(!tools.certbot || !tools.openssl)('certbot', () => {
  const name = 'certbot.acme.test';
  const base = () => {
    const d = join(dir, 'certbot');
    return ['--config-dir', join(d, 'config'), '--work-dir', join(d, 'work'), '--logs-dir', join(d, 'logs'), '--non-interactive'];
  };
  const live = (file: string) => readFileSync(join(dir, 'certbot', 'config', 'live', name, file), 'utf8');

  it('gets a certificate with standalone http-01, renews it, and revokes it (CRL and OCSP agree)', async () => {
    const got = await runAsync('certbot', [
      'certonly',
      '--standalone',
      '--http-01-port',
      String(httpPort),
      '--http-01-address',
      '127.0.0.1',
      '--server',
      directory(),
      ...base(),
      '--register-unsafely-without-email',
      '--agree-tos',
      '-d',
      name,
    ]);
    expect(got.status, got.out).toBe(0);
    const first = verifyServerChain(live('fullchain.pem'), name);

    // Without a TTY certbot renew sleeps up to 8 minutes first, unless told not to.
    const renewed = await runAsync('certbot', ['renew', '--force-renewal', '--no-random-sleep-on-renew', ...base()]);
    expect(renewed.status, renewed.out).toBe(0);
    const second = verifyServerChain(live('fullchain.pem'), name);
    expect(second).not.toBe(first);

    const revoked = await runAsync('certbot', [
      'revoke',
      '--cert-path',
      join(dir, 'certbot', 'config', 'live', name, 'cert.pem'),
      '--reason',
      'keycompromise',
      '--no-delete-after-revoke',
      '--server',
      directory(),
      ...base(),
    ]);
    expect(revoked.status, revoked.out).toBe(0);

    // The CRL Anvil publishes lists the serial; OCSP says revoked.
    const issuerPem = live('chain.pem').match(PEM)![0];
    const files = writeFiles(dir, { 'cb-issuer.pem': issuerPem, 'cb-cert.pem': live('cert.pem') });
    const listed = await anvil.api('GET', `/api/v1/certificates?status=revoked&q=${name}`);
    const items = ((await listed.json()) as { items: Array<{ serial: string; issuer: string }> }).items;
    const row = items.find((i) => i.serial.toUpperCase().replace(/^0+/, '') === second.replace(/^0+/, ''));
    expect(row, JSON.stringify(items)).toBeTruthy();
    const crl = new Uint8Array(await (await fetch(`${anvil.publicUrl}/pki/crl/${row!.issuer}.crl`)).arrayBuffer());
    const crlPath = join(dir, 'cb.crl');
    writeFileSync(crlPath, crl);
    const crlText = run('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text']).out;
    expect(crlText).toContain(`Serial Number: ${second}`);
    expect(crlText).toContain('Key Compromise');
    const ocsp = await runAsync('openssl', [
      'ocsp',
      '-issuer',
      files['cb-issuer.pem'],
      '-cert',
      files['cb-cert.pem'],
      '-url',
      `${anvil.publicUrl}/ocsp`,
      '-CAfile',
      root,
      '-verify_other',
      files['cb-issuer.pem'],
    ]);
    expect(ocsp.out).toContain(`${files['cb-cert.pem']}: revoked`);
  }, 300_000);
});

describe.skipIf(!tools.lego || !tools.openssl)('lego', () => {
  const lego = (name: string, profile: string, extra: string[]) =>
    runAsync('lego', [
      '--accept-tos',
      '--email',
      'ops@acme.test',
      '--server',
      directory(profile),
      '--path',
      join(dir, `lego-${name}`),
      '--domains',
      name,
      ...extra,
      'run',
    ]);
  const certOf = (name: string) => readFileSync(join(dir, `lego-${name}`, 'certificates', `${name}.crt`), 'utf8');

  it('gets a certificate with http-01', async () => {
    const name = 'lego-http.acme.test';
    const r = await lego(name, PROFILE, ['--http', '--http.port', `127.0.0.1:${httpPort}`]);
    expect(r.status, r.out).toBe(0);
    verifyServerChain(certOf(name), name);
  }, 180_000);

  it('gets a certificate with tls-alpn-01', async () => {
    const name = 'lego-tls.acme.test';
    const r = await lego(name, PROFILE, ['--tls', '--tls.port', `127.0.0.1:${tlsPort}`]);
    expect(r.status, r.out).toBe(0);
    verifyServerChain(certOf(name), name);
  }, 180_000);

  it('binds its account with EAB where the profile requires it, and is refused without', async () => {
    const name = 'lego-eab.eab.acme.test';
    const refused = await lego(name, EAB_PROFILE, ['--http', '--http.port', `127.0.0.1:${httpPort}`]);
    expect(refused.status).not.toBe(0);
    expect(refused.out).toMatch(/externalAccountRequired|external account/i);
    const created = await anvil.api('POST', '/api/v1/acme/eab', {
      name: 'lego',
      profiles: [EAB_PROFILE],
      sanPatterns: ['*.eab.acme.test'],
    });
    expect(created.status).toBe(201);
    const { keyId, hmacKey } = (await created.json()) as { keyId: string; hmacKey: string };
    rmSync(join(dir, `lego-${name}`), { recursive: true, force: true });
    const r = await lego(name, EAB_PROFILE, ['--eab', '--kid', keyId, '--hmac', hmacKey, '--http', '--http.port', `127.0.0.1:${httpPort}`]);
    expect(r.status, r.out).toBe(0);
    verifyServerChain(certOf(name), name);
    const bound = (await (await anvil.api('GET', `/api/v1/acme/eab/${keyId}`)).json()) as { status: string };
    expect(bound.status).toBe('bound');

    // An account bound to *.eab.acme.test never gets a name outside it, though the profile allows it.
    const other = await anvil.api('POST', '/api/v1/acme/eab', {
      name: 'lego-2',
      profiles: [EAB_PROFILE],
      sanPatterns: ['*.eab.acme.test'],
    });
    const second = (await other.json()) as { keyId: string; hmacKey: string };
    const before = ((await (await anvil.api('GET', '/api/v1/certificates?limit=500')).json()) as { items: unknown[] }).items.length;
    const outside = await lego('lego-outside.acme.test', EAB_PROFILE, [
      '--eab',
      '--kid',
      second.keyId,
      '--hmac',
      second.hmacKey,
      '--http',
      '--http.port',
      `127.0.0.1:${httpPort}`,
    ]);
    expect(outside.status).not.toBe(0);
    expect(outside.out).toMatch(/rejectedIdentifier/);
    expect(outside.out).toContain('lego-outside.acme.test');
    const after = ((await (await anvil.api('GET', '/api/v1/certificates?limit=500')).json()) as { items: unknown[] }).items.length;
    expect(after).toBe(before);
  }, 240_000);
});

describe.skipIf(!tools.caddy || !tools.curl || !tools.openssl)('caddy', () => {
  let caddy: ChildProcess | undefined;
  afterAll(() => {
    if (caddy?.pid) caddy.kill();
  });

  it('gets its certificate from Anvil (acme_ca) and serves it', async () => {
    const name = 'caddy.acme.test';
    const home = join(dir, 'caddy');
    const caddyfile = join(dir, 'Caddyfile');
    writeFileSync(
      caddyfile,
      `{\n  admin off\n  acme_ca ${directory()}\n  email ops@acme.test\n  http_port ${httpPort}\n  https_port ${tlsPort}\n  skip_install_trust\n  storage file_system ${home}\n}\n${name} {\n  bind 127.0.0.1\n  respond "hello from caddy"\n}\n`,
    );
    let log = '';
    caddy = spawn('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') },
    });
    caddy.stdout?.on('data', (d) => (log += d));
    caddy.stderr?.on('data', (d) => (log += d));
    const url = `https://${name}:${tlsPort}/`;
    const curl = () =>
      runAsync('curl', ['-sS', '--max-time', '5', '--cacert', root, '--resolve', `${name}:${tlsPort}:127.0.0.1`, url], {}, 10_000);
    let answer = { status: -1, out: '' };
    for (let i = 0; i < 60 && answer.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      answer = await curl();
    }
    expect(answer.status, `${answer.out}\n--- caddy log ---\n${log.slice(-4000)}`).toBe(0);
    expect(answer.out).toBe('hello from caddy');
    const shown = await runAsync(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', name, '-showcerts'],
      {},
      15_000,
    );
    const served = (shown.out.match(PEM) ?? []).join('');
    verifyServerChain(served, name);
    expect(existsSync(home)).toBe(true);
  }, 180_000);
});

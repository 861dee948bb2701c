/**
 * Issued certificates judged by verifiers we did not write (issue 2): OpenSSL's `verify`
 * (x509_strict, per purpose) and `x509 -text`, GnuTLS's certtool, and real TLS handshakes
 * between `openssl s_server` (requiring a client certificate) and curl. Table-driven over
 * profile x key algorithm, under EC P-256, RSA-2048 and EC P-384 CAs. PGlite only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, freePort, type TestAnvil } from '../support/harness.ts';
import { haveTool, tempDir } from '../support/tools.ts';

const HAVE_OPENSSL = haveTool('openssl');
const HAVE_CERTTOOL = haveTool('certtool');
const HAVE_CURL = haveTool('curl');

type Profile = 'server' | 'client' | 'peer';
type KeyAlg = 'EC-P256' | 'EC-P384' | 'RSA-2048' | 'Ed25519';
const PROFILES: Profile[] = ['server', 'client', 'peer'];
const KEY_ALGORITHMS: KeyAlg[] = ['EC-P256', 'EC-P384', 'RSA-2048', 'Ed25519'];

const PURPOSES: Record<Profile, Array<'sslserver' | 'sslclient'>> = {
  server: ['sslserver'],
  client: ['sslclient'],
  peer: ['sslserver', 'sslclient'],
};
const EKU_TEXT: Record<Profile, string> = {
  server: 'TLS Web Server Authentication',
  client: 'TLS Web Client Authentication',
  peer: 'TLS Web Server Authentication, TLS Web Client Authentication',
};
const EKU_OID = { sslserver: '1.3.6.1.5.5.7.3.1', sslclient: '1.3.6.1.5.5.7.3.2' };

/** Every spawn has a timeout: nothing in this file may hang. */
function run(command: string, args: string[], timeout = 30_000): { status: number; out: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout });
  if (r.error) return { status: -1, out: `${r.error.message}\n${r.stdout ?? ''}${r.stderr ?? ''}` };
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

interface Issued {
  dir: string;
  leaf: string;
  chain: string;
  fullchain: string;
  key: string;
  trust: string;
  /** leaf + chain + root in one file, for certtool --verify-chain. */
  all: string;
  text: string;
  view: Record<string, any>;
}

let seq = 0;
async function issueTo(anvil: TestAnvil, base: string, profile: Profile, keyAlgorithm: KeyAlg): Promise<Issued> {
  const sans =
    profile === 'client'
      ? { dns: ['partner.example'], uri: ['spiffe://prod.example/ns/partners/sa/partner-a'], email: ['ops@partner.example'] }
      : { dns: ['localhost'], ip: ['127.0.0.1'] };
  const subject = profile === 'client' ? { CN: 'partner-a', O: 'Partner A' } : { CN: 'localhost' };
  const res = await anvil.api('POST', '/api/v1/certificates', { profile, keyAlgorithm, subject, sans });
  const view = (await res.json()) as Record<string, any>;
  expect(res.status, JSON.stringify(view)).toBe(201);
  // The trust bundle as a relying party fetches it: over HTTP, from the public /pki route.
  const trust = await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text();
  const dir = join(base, `${seq++}-${profile}-${keyAlgorithm}`);
  spawnSync('mkdir', ['-p', dir]);
  const files = {
    leaf: join(dir, 'leaf.pem'),
    chain: join(dir, 'chain.pem'),
    fullchain: join(dir, 'fullchain.pem'),
    key: join(dir, 'key.pem'),
    trust: join(dir, 'trust.pem'),
    all: join(dir, 'all.pem'),
  };
  writeFileSync(files.leaf, view.certificate);
  writeFileSync(files.chain, view.chain);
  writeFileSync(files.fullchain, view.fullchain);
  writeFileSync(files.key, view.privateKey, { mode: 0o600 });
  writeFileSync(files.trust, trust);
  writeFileSync(files.all, view.fullchain + trust);
  const text = run('openssl', ['x509', '-text', '-noout', '-in', files.leaf]);
  expect(text.status, text.out).toBe(0);
  return { dir, ...files, text: text.out, view };
}

function opensslVerify(c: Issued, purpose: 'sslserver' | 'sslclient') {
  return run('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', c.trust, '-untrusted', c.chain, c.leaf]);
}

/** The extension block of `openssl x509 -text`, as "name[: critical]" -> value lines. */
function extensions(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.includes('X509v3 extensions:'));
  let name: string | null = null;
  for (const line of lines.slice(start + 1)) {
    if (/^\s{4}Signature Algorithm/.test(line)) break;
    const header = /^\s{12}(\S.*?):\s*(critical)?\s*$/.exec(line);
    if (header) {
      name = header[2] ? `${header[1]}: critical` : header[1];
      out.set(name, '');
    } else if (name) {
      out.set(name, `${out.get(name)}${out.get(name) ? '\n' : ''}${line.trim()}`);
    }
  }
  return out;
}

function expectProfileText(c: Issued, profile: Profile, keyAlgorithm: KeyAlg, publicUrl: string, issuerName = 'issuing-ca') {
  const ext = extensions(c.text);
  const ku = keyAlgorithm.startsWith('RSA') && profile !== 'client' ? 'Digital Signature, Key Encipherment' : 'Digital Signature';
  expect(ext.get('X509v3 Key Usage: critical'), c.text).toBe(ku);
  expect(ext.get('X509v3 Extended Key Usage'), c.text).toBe(EKU_TEXT[profile]);
  expect(ext.get('X509v3 Basic Constraints: critical'), c.text).toBe('CA:FALSE');
  const san =
    profile === 'client'
      ? 'DNS:partner.example, URI:spiffe://prod.example/ns/partners/sa/partner-a, email:ops@partner.example'
      : 'DNS:localhost, IP Address:127.0.0.1';
  expect(ext.get('X509v3 Subject Alternative Name'), c.text).toBe(san);
  expect(ext.get('X509v3 CRL Distribution Points'), c.text).toBe(`Full Name:\nURI:${publicUrl}/pki/crl/${issuerName}.crl`);
  expect(ext.get('Authority Information Access'), c.text).toBe(
    `OCSP - URI:${publicUrl}/ocsp\nCA Issuers - URI:${publicUrl}/pki/issuers/${issuerName}.crt`,
  );
  expect(ext.has('X509v3 Subject Key Identifier')).toBe(true);
  expect(ext.get('X509v3 Authority Key Identifier')).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
  // Nothing else: exactly the profile's extensions.
  expect([...ext.keys()].sort()).toEqual(
    [
      'Authority Information Access',
      'X509v3 Authority Key Identifier',
      'X509v3 Basic Constraints: critical',
      'X509v3 CRL Distribution Points',
      'X509v3 Extended Key Usage',
      'X509v3 Key Usage: critical',
      'X509v3 Subject Alternative Name',
      'X509v3 Subject Key Identifier',
    ].sort(),
  );
  expect(c.text).toMatch(/Version: 3 \(0x2\)/);
}

function expectVerifiers(c: Issued, profile: Profile) {
  for (const purpose of ['sslserver', 'sslclient'] as const) {
    const r = opensslVerify(c, purpose);
    if (PURPOSES[profile].includes(purpose)) {
      expect(r.status, `${purpose}: ${r.out}`).toBe(0);
      expect(r.out).toContain(': OK');
    } else {
      expect(r.status, `${purpose}: ${r.out}`).not.toBe(0);
      expect(r.out).toMatch(/error 26 at 0 depth lookup: unsuitable certificate purpose/);
    }
  }
  // Without the intermediate the leaf cannot chain: proves -untrusted chain.pem is what links it.
  const noChain = run('openssl', ['verify', '-x509_strict', '-CAfile', c.trust, c.leaf]);
  expect(noChain.out).toMatch(/error 20 at 0 depth lookup/);

  if (HAVE_CERTTOOL) {
    const chain = run('certtool', ['--verify-chain', '--verify-profile=medium', '--infile', c.all]);
    expect(chain.status, chain.out).toBe(0);
    expect(chain.out).toContain('Chain verification output: Verified.');
    const anchored = run('certtool', ['--verify', '--verify-profile=medium', '--load-ca-certificate', c.trust, '--infile', c.fullchain]);
    expect(anchored.status, anchored.out).toBe(0);
    expect(anchored.out).toContain('Chain verification output: Verified. The certificate is trusted.');
    for (const purpose of ['sslserver', 'sslclient'] as const) {
      const p = run('certtool', [
        '--verify',
        '--load-ca-certificate',
        c.trust,
        '--infile',
        c.fullchain,
        `--verify-purpose=${EKU_OID[purpose]}`,
      ]);
      if (PURPOSES[profile].includes(purpose)) expect(p.status, `${purpose}: ${p.out}`).toBe(0);
      else expect(p.status, `${purpose}: ${p.out}`).not.toBe(0);
    }
    if (profile !== 'client') {
      const host = run('certtool', ['--verify', '--load-ca-certificate', c.trust, '--infile', c.fullchain, '--verify-hostname=localhost']);
      expect(host.status, host.out).toBe(0);
      const wrongHost = run('certtool', [
        '--verify',
        '--load-ca-certificate',
        c.trust,
        '--infile',
        c.fullchain,
        '--verify-hostname=elsewhere.example',
      ]);
      expect(wrongHost.status, wrongHost.out).not.toBe(0);
    }
  }
}

const describeTools = describe.skipIf(!HAVE_OPENSSL);
let base: string;
beforeAll(() => {
  base = tempDir('anvil-interop-issuance-');
});
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describeTools('certificates from an EC P-256 CA, judged by openssl and certtool', () => {
  let anvil: TestAnvil;
  beforeAll(async () => {
    anvil = await createTestAnvil({ listen: true });
  });
  afterAll(async () => {
    await anvil?.close();
  });

  for (const profile of PROFILES) {
    for (const keyAlgorithm of KEY_ALGORITHMS) {
      it(`${profile} / ${keyAlgorithm}`, async () => {
        const c = await issueTo(anvil, base, profile, keyAlgorithm);
        expectProfileText(c, profile, keyAlgorithm, anvil.publicUrl);
        expect(c.text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
        expectVerifiers(c, profile);
      });
    }
  }

  it('the AIA caIssuers URL serves the issuing CA that signed the leaf', async () => {
    const c = await issueTo(anvil, base, 'server', 'EC-P256');
    const res = await fetch(`${anvil.publicUrl}/pki/issuers/issuing-ca.crt`);
    expect(res.status).toBe(200);
    const der = join(c.dir, 'issuer.der');
    writeFileSync(der, Buffer.from(await res.arrayBuffer()));
    const pem = run('openssl', ['x509', '-inform', 'DER', '-in', der]);
    expect(pem.status, pem.out).toBe(0);
    expect(pem.out.trim()).toBe(c.view.chain.trim());
  });
});

for (const ca of [
  { caKeyAlgorithm: 'RSA-2048' as const, signature: 'sha256WithRSAEncryption' },
  { caKeyAlgorithm: 'EC-P384' as const, signature: 'ecdsa-with-SHA384' },
]) {
  describeTools(`certificates from an ${ca.caKeyAlgorithm} CA`, () => {
    let anvil: TestAnvil;
    beforeAll(async () => {
      anvil = await createTestAnvil({ listen: true, caKeyAlgorithm: ca.caKeyAlgorithm });
    });
    afterAll(async () => {
      await anvil?.close();
    });

    for (const [profile, keyAlgorithm] of [
      ['server', 'EC-P256'],
      ['client', 'RSA-2048'],
      ['peer', 'Ed25519'],
      ['peer', 'EC-P384'],
    ] as Array<[Profile, KeyAlg]>) {
      it(`${profile} / ${keyAlgorithm}`, async () => {
        const c = await issueTo(anvil, base, profile, keyAlgorithm);
        expectProfileText(c, profile, keyAlgorithm, anvil.publicUrl);
        expect(c.text).toMatch(new RegExp(`Signature Algorithm: ${ca.signature}`));
        const chainText = run('openssl', ['x509', '-text', '-noout', '-in', c.chain]).out;
        expect(extensions(chainText).get('X509v3 Basic Constraints: critical')).toBe('CA:TRUE, pathlen:0');
        expect(extensions(chainText).get('X509v3 Key Usage: critical')).toBe('Certificate Sign, CRL Sign');
        expectVerifiers(c, profile);
      });
    }
  });
}

// ---- real handshakes -------------------------------------------------------------------------

const servers: ChildProcess[] = [];
afterAll(() => {
  for (const s of servers) if (s.exitCode === null) s.kill('SIGKILL');
});

async function waitForPort(port: number, proc: ChildProcess, log: () => string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`s_server exited (${proc.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
      sock.setTimeout(1000, () => {
        sock.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`s_server did not listen on ${port} within ${ms} ms: ${log()}`);
}

/** `openssl s_server` that requires and verifies a client certificate (-Verify 2). */
async function startServer(server: Issued): Promise<{ port: number; proc: ChildProcess; log: () => string }> {
  const port = await freePort();
  const proc = spawn(
    'openssl',
    [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      server.leaf,
      '-key',
      server.key,
      '-cert_chain',
      server.chain,
      '-Verify',
      '2',
      '-CAfile',
      server.trust,
      '-verify_return_error',
      '-www',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  servers.push(proc);
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  // Safety net: whatever happens to the test, the server does not outlive two minutes.
  setTimeout(() => proc.kill('SIGKILL'), 120_000).unref();
  await waitForPort(port, proc, () => output);
  return { port, proc, log: () => output };
}

/** What the server logged after `from`, once it matches `pattern` (or after two seconds). */
async function logAfter(log: () => string, from: number, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && !pattern.test(log().slice(from))) await new Promise((r) => setTimeout(r, 50));
  return log().slice(from);
}

function curl(port: number, trust: string, client?: Issued) {
  return run(
    'curl',
    [
      '--silent',
      '--show-error',
      '--max-time',
      '10',
      '--resolve',
      `localhost:${port}:127.0.0.1`,
      '--cacert',
      trust,
      ...(client ? ['--cert', client.fullchain, '--key', client.key] : []),
      `https://localhost:${port}/`,
    ],
    20_000,
  );
}

describe.skipIf(!HAVE_OPENSSL || !HAVE_CURL)('mutual TLS handshakes: openssl s_server <-> curl', () => {
  for (const caKeyAlgorithm of ['EC-P256', 'RSA-2048'] as const) {
    describe(`under an ${caKeyAlgorithm} CA`, () => {
      let anvil: TestAnvil;
      let srv: Awaited<ReturnType<typeof startServer>>;
      let server: Issued;
      beforeAll(async () => {
        anvil = await createTestAnvil({ listen: true, caKeyAlgorithm });
        server = await issueTo(anvil, base, 'server', caKeyAlgorithm === 'EC-P256' ? 'EC-P256' : 'RSA-2048');
        srv = await startServer(server);
      });
      afterAll(async () => {
        srv?.proc.kill('SIGKILL');
        await anvil?.close();
      });

      for (const [profile, keyAlgorithm, ok] of [
        ['client', 'EC-P256', true],
        ['client', 'RSA-2048', true],
        ['client', 'Ed25519', true],
        ['peer', 'EC-P384', true],
        ['server', 'EC-P256', false],
        ['server', 'RSA-2048', false],
      ] as Array<[Profile, KeyAlg, boolean]>) {
        it(`a ${profile} / ${keyAlgorithm} certificate as the client ${ok ? 'is accepted' : 'is refused'}`, async () => {
          const client = await issueTo(anvil, base, profile, keyAlgorithm);
          const from = srv.log().length;
          const r = curl(srv.port, server.trust, client);
          if (ok) {
            expect(r.status, `${r.out}\n--- s_server:\n${srv.log().slice(from)}`).toBe(0);
            expect(r.out).toContain('s_server');
          } else {
            expect(r.status, r.out).not.toBe(0);
            // s_server says why it refused: the client certificate's purpose (EKU serverAuth only).
            const why = await logAfter(srv.log, from, /verify error:num=26:/);
            expect(why).toMatch(/verify error:num=26:unsuitable certificate purpose/);
          }
        });
      }

      it('no client certificate is refused', () => {
        const r = curl(srv.port, server.trust);
        expect(r.status, r.out).not.toBe(0);
      });

      it('curl refuses the server without our trust bundle', () => {
        const r = run(
          'curl',
          [
            '--silent',
            '--show-error',
            '--max-time',
            '10',
            '--resolve',
            `localhost:${srv.port}:127.0.0.1`,
            `https://localhost:${srv.port}/`,
          ],
          20_000,
        );
        expect(r.status).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
      });
    });
  }
});

/**
 * Issue 14 item 3 against a real external CA: a root made by `openssl req -x509` in an `openssl ca`
 * directory signs the CSR of an intermediate whose key Anvil holds (`openssl ca -extensions
 * v3_intermediate_ca`); Anvil then issues from it, and openssl (`verify -x509_strict -purpose
 * sslclient`, `crl -verify`, `ocsp`) and GnuTLS (`certtool --verify-chain`) accept the results
 * with only the external root as trust. An imported existing CA (item 2) is checked the same way.
 * PGlite, over a real HTTP port (the CRL and OCSP URLs are fetched).
 */
import { execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { createOpensslCa, keyAndCsr, type OpensslCa } from '../support/openssl-ca.ts';
import { haveTool, run, tempDir } from '../support/tools.ts';

const HAVE_TOOLS = haveTool('openssl') && haveTool('certtool');
const describeTools = HAVE_TOOLS ? describe : describe.skip;

let anvil: TestAnvil;
let dir: string;
let ext: OpensslCa;

beforeAll(async () => {
  if (!HAVE_TOOLS) return;
  anvil = await createTestAnvil({ listen: true });
  dir = tempDir('anvil-external-root-');
  ext = createOpensslCa(join(dir, 'ca'), 'Partner Root');
});
afterAll(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** openssl ocsp fetches from this very process: it must run without blocking the event loop. */
function runAsync(command: string, args: string[]): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill(), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, out });
    });
  });
}

const file = (name: string, text: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

async function issueFrom(issuer: string) {
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    issuer,
    subject: { CN: `svc.${issuer}.test` },
    sans: { dns: [`svc.${issuer}.test`] },
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  return { ...body, path: file(`${issuer}-${body.serial}.pem`, body.certificate) } as {
    id: string;
    serial: string;
    certificate: string;
    chain: string;
    path: string;
  };
}

/** Everything an outside verifier checks of an issuer rooted in `rootPem`. */
async function verifyEverything(issuer: string, rootPem: string) {
  const root = file(`${issuer}-root.pem`, rootPem);
  const leaf = await issueFrom(issuer);
  // chain.pem as the public distribution point serves it, not only the issuance answer.
  const chainPem = await (await fetch(`${anvil.publicUrl}/pki/issuers/${issuer}/chain.pem`)).text();
  expect(chainPem).toBe(leaf.chain);
  const chain = file(`${issuer}-chain.pem`, chainPem);

  const v = run('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', root, '-untrusted', chain, leaf.path]);
  expect(v.status, v.out).toBe(0);
  expect(v.out).toContain(`${leaf.path}: OK`);
  // The trust bundle Anvil publishes carries the external root: gateways need nothing else.
  const bundle = file(`${issuer}-bundle.pem`, await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text());
  expect(
    run('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', bundle, '-untrusted', chain, leaf.path]).status,
  ).toBe(0);
  // Without the external root nothing verifies: it is what anchors the path.
  expect(run('openssl', ['verify', '-x509_strict', '-CAfile', chain, leaf.path]).status).not.toBe(0);

  const all = file(`${issuer}-all.pem`, leaf.certificate + chainPem + rootPem);
  const ct = run('certtool', ['--verify-chain', '--verify-profile=medium', '--infile', all]);
  expect(ct.status, ct.out).toBe(0);
  expect(ct.out).toContain('Chain verification output: Verified.');

  // The CRL Anvil publishes for it is signed by its key; OCSP answers for its certificates.
  const crlDer = new Uint8Array(await (await fetch(`${anvil.publicUrl}/pki/crl/${issuer}.crl`)).arrayBuffer());
  const crl = run('openssl', ['crl', '-inform', 'DER', '-in', file(`${issuer}.crl`, crlDer), '-noout', '-CAfile', chain]);
  expect(crl.out).toContain('verify OK');
  const ocsp = (cert: string) =>
    runAsync('openssl', [
      'ocsp',
      '-issuer',
      chain,
      '-cert',
      cert,
      '-url',
      `${anvil.publicUrl}/ocsp`,
      '-CAfile',
      root,
      '-verify_other',
      chain,
    ]);
  const good = await ocsp(leaf.path);
  expect(good.out).toContain('Response verify OK');
  expect(good.out).toContain(`${leaf.path}: good`);
  const revoke = await anvil.api('POST', `/api/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' });
  expect(revoke.status).toBe(200);
  expect((await ocsp(leaf.path)).out).toContain(`${leaf.path}: revoked`);
  const crlAfter = new Uint8Array(await (await fetch(`${anvil.publicUrl}/pki/crl/${issuer}.pem`)).arrayBuffer());
  const crlAll = file(`${issuer}-crl.pem`, crlAfter);
  const revoked = run('openssl', [
    'verify',
    '-x509_strict',
    '-crl_check',
    '-CAfile',
    root,
    '-untrusted',
    chain,
    '-CRLfile',
    crlAll,
    leaf.path,
  ]);
  expect(revoked.out).toMatch(/certificate revoked/);
}

describeTools('an intermediate signed by an external openssl ca root', () => {
  it('CSR out, `openssl ca -extensions v3_intermediate_ca` signs it, certificate and root in, then issues', async () => {
    const csr = await anvil.api('POST', '/api/v1/issuers/csr', { name: 'partner-issuing', commonName: 'Partner Issuing CA (Anvil)' });
    expect(csr.status).toBe(201);
    const csrPem = await (await anvil.api('GET', '/api/v1/issuers/partner-issuing/csr.pem')).text();
    // The external CA's own tool reads the request and signs it.
    expect(run('openssl', ['req', '-in', file('anvil.csr', csrPem), '-noout', '-verify']).out).toMatch(/verify OK/i);
    const certPem = ext.sign(csrPem, { extensions: 'v3_intermediate_ca' });
    const text = execFileSync('openssl', ['x509', '-in', file('signed.pem', certPem), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain('CA:TRUE, pathlen:0');

    const done = await anvil.api('POST', '/api/v1/issuers/partner-issuing/certificate', { certificate: certPem, chain: ext.rootPem });
    expect(done.status, await done.clone().text()).toBe(201);
    await verifyEverything('partner-issuing', ext.rootPem);
  });

  it('an existing CA imported with its key (item 2) issues certificates the original root accepts', async () => {
    const k = keyAndCsr(dir, 'legacy', '/CN=Legacy Issuing CA/O=Partner');
    const certPem = ext.sign(k.csrPem, { extensions: 'v3_intermediate_ca' });
    const res = await anvil.api('POST', '/api/v1/issuers/import', {
      name: 'legacy-issuing',
      certificate: certPem,
      privateKey: k.keyPem,
      chain: ext.rootPem,
    });
    expect(res.status, await res.clone().text()).toBe(201);
    await verifyEverything('legacy-issuing', ext.rootPem);
  });
});

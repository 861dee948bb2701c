/**
 * Issue 3, checked by verifiers we did not write: openssl 3 (crl -verify, verify -crl_check,
 * ocsp) and Java's PKIX validator (test/interop/java/RevocationCheck.java), both fetching CRLs
 * and OCSP answers over real HTTP from a listening Anvil, at the URLs written in the certificates.
 *
 * Tools run asynchronously: the server they talk to lives in this very process.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, tempDir, writeFiles } from '../support/tools.ts';

// Under CI=true a missing tool throws here (a failure, never a skip).
const HAVE_OPENSSL = haveTool('openssl');
const HAVE_JAVA = haveTool('javac') && haveTool('java');

const JAVA_SOURCE = fileURLToPath(new URL('./java/RevocationCheck.java', import.meta.url));

function run(command: string, args: string[], timeout = 60_000): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ status, out: `${stdout ?? ''}${stderr ?? ''}` });
    });
  });
}

function toPemCrl(der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----\n`;
}

let anvil: TestAnvil;
let dir: string;
let files: Record<string, string>;

async function get(path: string): Promise<Response> {
  const res = await fetch(`${anvil.publicUrl}${path}`);
  expect(res.status, path).toBe(200);
  return res;
}

let counter = 0;
async function issue(issuer?: string): Promise<{ id: string; serial: string; path: string; keyPath: string }> {
  const cn = `interop-${++counter}`;
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: cn },
    sans: { dns: [`${cn}.partner.test`] },
    ...(issuer ? { issuer } : {}),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const body = await res.json();
  const written = writeFiles(dir, { [`${cn}.pem`]: body.certificate, [`${cn}.key`]: body.privateKey });
  return { id: body.id, serial: body.serial, path: written[`${cn}.pem`], keyPath: written[`${cn}.key`] };
}

async function revoke(id: string, reason: string) {
  const res = await anvil.api('POST', `/api/v1/certificates/${id}/revoke`, { reason });
  expect(res.status).toBe(200);
}

/** Downloads an issuer's CRL over HTTP, as DER and as PEM files; returns their paths. */
async function downloadCrl(name: string, tag = ''): Promise<{ der: string; pem: string }> {
  const der = new Uint8Array(await (await get(`/pki/crl/${name}.crl`)).arrayBuffer());
  const out = writeFiles(dir, { [`${name}${tag}.crl`]: der, [`${name}${tag}.crl.pem`]: toPemCrl(der) });
  return { der: out[`${name}${tag}.crl`], pem: out[`${name}${tag}.crl.pem`] };
}

async function crlNumber(crlDer: string, issuerPem: string): Promise<bigint> {
  const r = await run('openssl', ['crl', '-inform', 'DER', '-in', crlDer, '-CAfile', issuerPem, '-noout', '-verify', '-crlnumber']);
  expect(r.status, r.out).toBe(0);
  expect(r.out).toContain('verify OK');
  const m = /crlNumber=(?:0x)?([0-9A-Fa-f]+)/.exec(r.out);
  expect(m, r.out).not.toBeNull();
  return BigInt(`0x${m![1]}`);
}

beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true });
  dir = tempDir('anvil-revocation-interop-');
  files = writeFiles(dir, {
    'trust.pem': await (await get('/pki/trust-bundle.pem')).text(),
    'chain.pem': await (await get('/pki/issuers/issuing-ca/chain.pem')).text(),
    'issuing.pem': await (await get('/pki/issuers/issuing-ca.pem')).text(),
    'root.pem': await (await get('/pki/issuers/root-ca.pem')).text(),
  });
});
afterAll(async () => {
  await anvil?.close();
});

describe.runIf(HAVE_OPENSSL)('openssl', () => {
  it('crl -verify accepts the root and issuing CRLs, v2 with AKI and number; the number increases', async () => {
    for (const [name, issuerPem] of [
      ['root-ca', files['root.pem']],
      ['issuing-ca', files['issuing.pem']],
    ] as const) {
      const { der } = await downloadCrl(name);
      const text = await run('openssl', ['crl', '-inform', 'DER', '-in', der, '-noout', '-text']);
      expect(text.out).toMatch(/Version 2 \(0x1\)/);
      expect(text.out).toContain('X509v3 Authority Key Identifier');
      expect(text.out).toContain('X509v3 CRL Number');
      await crlNumber(der, issuerPem);
    }
    // Signed by the wrong key: refused.
    const { der } = await downloadCrl('issuing-ca');
    const wrong = await run('openssl', ['crl', '-inform', 'DER', '-in', der, '-CAfile', files['root.pem'], '-noout', '-verify']);
    expect(wrong.out).not.toContain('verify OK');

    let last = await crlNumber(der, files['issuing.pem']);
    for (const reason of ['keyCompromise', 'unspecified', 'certificateHold']) {
      const leaf = await issue();
      await revoke(leaf.id, reason);
      const next = await downloadCrl('issuing-ca', `-${reason}`);
      const n = await crlNumber(next.der, files['issuing.pem']);
      expect(n).toBeGreaterThan(last);
      last = n;
      const text = (await run('openssl', ['crl', '-inform', 'DER', '-in', next.der, '-noout', '-text'])).out;
      const serialUpper = leaf.serial.toUpperCase().replace(/^00/, '');
      const entry = text.slice(text.indexOf(`Serial Number: ${serialUpper}`));
      expect(entry.length, text).toBeLessThan(text.length);
      const block = entry.split('Serial Number:')[1];
      if (reason === 'unspecified') expect(block).not.toContain('CRL Reason Code');
      else expect(block).toContain(reason === 'keyCompromise' ? 'Key Compromise' : 'Certificate Hold');
    }
  });

  it('verify -crl_check and -crl_check_all (given CRLs, and downloaded from the CDP): OK, then certificate revoked', async () => {
    const leaf = await issue();
    const verifyAll = async (tag: string) => {
      const issuingCrl = await downloadCrl('issuing-ca', tag);
      const rootCrl = await downloadCrl('root-ca', tag);
      const both = writeFiles(dir, { [`both${tag}.crl.pem`]: readFileSync(rootCrl.pem, 'utf8') + readFileSync(issuingCrl.pem, 'utf8') })[
        `both${tag}.crl.pem`
      ];
      const base = ['verify', '-CAfile', files['trust.pem'], '-untrusted', files['chain.pem']];
      return Promise.all([
        run('openssl', [...base, '-crl_check', '-CRLfile', issuingCrl.pem, leaf.path]),
        run('openssl', [...base, '-crl_check_all', '-CRLfile', both, leaf.path]),
        run('openssl', [...base, '-crl_check', '-crl_download', leaf.path]),
        // The root has no CDP (nothing above it publishes a CRL for it), so its own CRL is given;
        // the issuing CA's is fetched from the leaf's CDP.
        run('openssl', [...base, '-crl_check_all', '-CRLfile', rootCrl.pem, '-crl_download', leaf.path]),
      ]);
    };
    for (const r of await verifyAll('-before')) {
      expect(r.status, r.out).toBe(0);
      expect(r.out).toContain(`${leaf.path}: OK`);
    }
    // Without a CRL, -crl_check must fail: proves the checks above really consulted one.
    const none = await run('openssl', ['verify', '-crl_check', '-CAfile', files['trust.pem'], '-untrusted', files['chain.pem'], leaf.path]);
    expect(none.out).toContain('unable to get certificate CRL');

    await revoke(leaf.id, 'keyCompromise');
    for (const r of await verifyAll('-after')) {
      expect(r.status, r.out).not.toBe(0);
      expect(r.out).toMatch(/error 23 at 0 depth lookup: certificate revoked/);
    }
  });

  it('verify -crl_check_all rejects a leaf under a revoked intermediate (on the root CRL)', async () => {
    const created = await anvil.api('POST', '/api/v1/issuers', { name: 'partner-ca' });
    expect(created.status, await created.clone().text()).toBe(201);
    const chain = writeFiles(dir, { 'partner-chain.pem': await (await get('/pki/issuers/partner-ca/chain.pem')).text() })[
      'partner-chain.pem'
    ];
    const leaf = await issue('partner-ca');
    const args = (rootCrl: string) => [
      'verify',
      '-CAfile',
      files['trust.pem'],
      '-untrusted',
      chain,
      '-crl_check_all',
      '-CRLfile',
      rootCrl,
      '-crl_download',
      leaf.path,
    ];
    const rootCrlBefore = await downloadCrl('root-ca', '-p1');
    const before = await run('openssl', args(rootCrlBefore.pem));
    expect(before.status, before.out).toBe(0);
    const rootBefore = await crlNumber(rootCrlBefore.der, files['root.pem']);

    const res = await anvil.api('POST', '/api/v1/issuers/partner-ca/revoke', { reason: 'cACompromise' });
    expect(res.status).toBe(200);
    const rootCrlAfter = await downloadCrl('root-ca', '-p2');
    const rootAfter = await crlNumber(rootCrlAfter.der, files['root.pem']);
    expect(rootAfter).toBeGreaterThan(rootBefore);
    const after = await run('openssl', args(rootCrlAfter.pem));
    expect(after.status, after.out).not.toBe(0);
    expect(after.out).toMatch(/error 23 at 1 depth lookup: certificate revoked/);
  });

  describe('ocsp', () => {
    const ocsp = (...args: string[]) =>
      run('openssl', ['ocsp', '-issuer', files['chain.pem'], '-url', `${anvil.publicUrl}/ocsp`, '-CAfile', files['trust.pem'], ...args]);

    it('good, then revoked (reason and time), verified with the nonce; unknown for a serial never issued', async () => {
      const leaf = await issue();
      const good = await ocsp('-cert', leaf.path);
      expect(good.status, good.out).toBe(0);
      expect(good.out).toContain('Response verify OK');
      expect(good.out).toContain(`${leaf.path}: good`);
      expect(good.out).not.toContain('WARNING'); // e.g. "no nonce in response"

      await revoke(leaf.id, 'keyCompromise');
      const revoked = await ocsp('-cert', leaf.path);
      expect(revoked.out).toContain('Response verify OK');
      expect(revoked.out).toContain(`${leaf.path}: revoked`);
      expect(revoked.out).toContain('Reason: keyCompromise');
      expect(revoked.out).toMatch(/Revocation Time: \w{3} +\d+ \d\d:\d\d:\d\d \d{4} GMT/);

      const unknown = await ocsp('-serial', '0x1234');
      expect(unknown.out).toContain('Response verify OK');
      expect(unknown.out).toContain('0x1234: unknown');
    });

    it('several certificates in one request, SHA-256 CertIDs, and without a nonce (the cached path)', async () => {
      const a = await issue();
      const b = await issue();
      await revoke(b.id, 'superseded');
      for (const extra of [[], ['-sha256'], ['-no_nonce']]) {
        const r = await ocsp(...extra, '-cert', a.path, '-cert', b.path, '-serial', '0x0badc0de');
        expect(r.out, extra.join(' ')).toContain('Response verify OK');
        expect(r.out).toContain(`${a.path}: good`);
        expect(r.out).toContain(`${b.path}: revoked`);
        expect(r.out).toContain('Reason: superseded');
        expect(r.out).toContain('0x0badc0de: unknown');
      }
      // A cached nonce-less answer is dropped by the next revocation.
      await revoke(a.id, 'privilegeWithdrawn');
      const after = await ocsp('-no_nonce', '-resp_text', '-cert', a.path, '-cert', b.path, '-serial', '0x0badc0de');
      expect(after.out).toContain(`${a.path}: revoked`);
      // OpenSSL 3.0 has no name for privilegeWithdrawn (9): it prints "(UNKNOWN)" and the code.
      expect(after.out).toMatch(/Revocation Reason: (privilegeWithdrawn|\(UNKNOWN\)) \(0x9\)/);
    });

    it('the responder certificate: OCSP Signing, OCSP No Check, issued by the intermediate, short-lived', async () => {
      const leaf = await issue();
      const respFile = join(dir, 'resp.der');
      const r = await ocsp('-cert', leaf.path, '-respout', respFile, '-resp_text');
      expect(r.out).toContain('Response verify OK');
      expect(r.out).toContain('OCSP Signing');
      expect(r.out).toContain('OCSP No Check');
      expect(r.out).toMatch(/Responder Id: [0-9A-F]{40}/);
      // Checked again against the issuing CA alone, as an explicit trust anchor of the responder.
      const strict = await run('openssl', [
        'ocsp',
        '-respin',
        respFile,
        '-CAfile',
        files['trust.pem'],
        '-verify_other',
        files['chain.pem'],
        '-issuer',
        files['chain.pem'],
        '-cert',
        leaf.path,
        '-no_nonce',
      ]);
      expect(strict.out).toContain('Response verify OK');
    });

    it('an unknown issuer gets unauthorized; a revoked intermediate shows as revoked by the root', async () => {
      // A CA of its own, unknown to Anvil.
      const key = join(dir, 'stranger.key');
      const crt = join(dir, 'stranger.pem');
      const made = await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        crt,
        '-subj',
        '/CN=Stranger CA',
        '-days',
        '1',
      ]);
      expect(made.status, made.out).toBe(0);
      const r = await run('openssl', [
        'ocsp',
        '-issuer',
        crt,
        '-serial',
        '0x01',
        '-url',
        `${anvil.publicUrl}/ocsp`,
        '-CAfile',
        files['trust.pem'],
      ]);
      expect(r.out).toMatch(/Responder Error: unauthorized \(6\)/);

      const created = await anvil.api('POST', '/api/v1/issuers', { name: 'doomed-ca' });
      expect(created.status).toBe(201);
      const doomed = writeFiles(dir, { 'doomed.pem': await (await get('/pki/issuers/doomed-ca.pem')).text() })['doomed.pem'];
      const args = [
        'ocsp',
        '-issuer',
        files['root.pem'],
        '-cert',
        doomed,
        '-url',
        `${anvil.publicUrl}/ocsp`,
        '-CAfile',
        files['trust.pem'],
      ];
      expect((await run('openssl', args)).out).toContain(`${doomed}: good`);
      expect((await anvil.api('POST', '/api/v1/issuers/doomed-ca/revoke', { reason: 'keyCompromise' })).status).toBe(200);
      const revoked = await run('openssl', args);
      expect(revoked.out).toContain('Response verify OK');
      expect(revoked.out).toContain(`${doomed}: revoked`);
    });
  });
});

describe.runIf(HAVE_JAVA)('Java PKIX (CertPathValidator with PKIXRevocationChecker)', () => {
  let classes: string;

  beforeAll(async () => {
    classes = tempDir('anvil-java-');
    const r = await run('javac', ['-d', classes, JAVA_SOURCE], 120_000);
    expect(r.status, r.out).toBe(0);
  }, 180_000);

  const java = (mode: 'crl' | 'ocsp', ...certs: string[]) =>
    run('java', ['-Dcom.sun.security.enableCRLDP=true', '-cp', classes, 'RevocationCheck', mode, files['trust.pem'], ...certs], 120_000);

  it('CRLs fetched from the CDP (PREFER_CRLS, NO_FALLBACK): passes before revocation, rejects the revoked client certificate after', async () => {
    const leaf = await issue();
    const before = await java('crl', leaf.path, files['issuing.pem']);
    expect(before.out.trim()).toBe('OK');
    expect(before.status).toBe(0);

    await revoke(leaf.id, 'keyCompromise');
    const after = await java('crl', leaf.path, files['issuing.pem']);
    console.log(`java (crl) after revocation, exit ${after.status}: ${after.out.trim()}`);
    expect(after.status).toBe(2);
    expect(after.out).toContain('REJECTED reason=REVOKED index=0');
    expect(after.out).toContain('KEY_COMPROMISE');
  }, 180_000);

  it('OCSP from the AIA (NO_FALLBACK): passes before revocation, rejects after', async () => {
    const leaf = await issue();
    const before = await java('ocsp', leaf.path, files['issuing.pem']);
    expect(before.out.trim()).toBe('OK');
    await revoke(leaf.id, 'cessationOfOperation');
    const after = await java('ocsp', leaf.path, files['issuing.pem']);
    console.log(`java (ocsp) after revocation, exit ${after.status}: ${after.out.trim()}`);
    expect(after.status).toBe(2);
    expect(after.out).toContain('REJECTED reason=REVOKED index=0');
    expect(after.out).toContain('CESSATION_OF_OPERATION');
  }, 180_000);

  it('rejects a leaf whose intermediate was revoked (on the root CRL, fetched from the intermediate CDP)', async () => {
    const created = await anvil.api('POST', '/api/v1/issuers', { name: 'java-ca' });
    expect(created.status).toBe(201);
    const inter = writeFiles(dir, { 'java-ca.pem': await (await get('/pki/issuers/java-ca.pem')).text() })['java-ca.pem'];
    const leaf = await issue('java-ca');
    expect((await java('crl', leaf.path, inter)).out.trim()).toBe('OK');
    expect((await anvil.api('POST', '/api/v1/issuers/java-ca/revoke', { reason: 'cACompromise' })).status).toBe(200);
    const after = await java('crl', leaf.path, inter);
    expect(after.status).toBe(2);
    expect(after.out).toContain('REJECTED reason=REVOKED index=1');
    expect(after.out).toContain('CA_COMPROMISE');
  }, 180_000);
});

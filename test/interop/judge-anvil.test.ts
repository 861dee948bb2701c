/**
 * The judge on certificates Anvil issued, against a real nginx. Each certificate is presented
 * three ways and all three must agree:
 *
 *   (a) by curl to nginx with `ssl_verify_client optional`, `ssl_client_certificate` = Anvil's
 *       trust bundle, `ssl_crl` = every Anvil CRL (root included, fetched from /pki/crl/*.pem),
 *       `ssl_verify_depth 3`; nginx answers $ssl_client_verify;
 *   (b) pasted to POST /api/v1/judge with the same trust anchors and CRLs;
 *   (c) by curl --cert/--key to GET https://127.0.0.1:<mTLS>/verify.
 *
 * The `nginx` field of (b) and (c) must equal nginx's string, and their status must agree with
 * it (SUCCESS = verified, NONE = absent, FAILED:… = failed). Certificates: EC, RSA and Ed25519
 * keys, two Anvil issuing CAs (the second made with POST /api/v1/issuers), a revoked one, a
 * server-profile certificate used as a client, an expired one (issued while Anvil's clock was
 * set back), one under a revoked intermediate, a leaf sent without its intermediate, and no
 * certificate at all.
 *
 * Without nginx or curl the suite skips loudly; under CI=true it fails.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verdict } from '@anvil/pki';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { freePort, NGINX_BIN, startNginx, type RunningNginx } from '../support/nginx.ts';
import { haveTool } from '../support/tools.ts';

const exec = promisify(execFile);

const HAVE_NGINX = (() => {
  if (NGINX_BIN) return true;
  if (process.env.CI === 'true') throw new Error('nginx is required under CI but is not installed (apt-get install nginx-light)');
  console.warn('\n  !!! SKIPPING: nginx is not installed; install nginx-light to run the Anvil judge interop suite\n');
  return false;
})();
const HAVE_CURL = haveTool('curl');
const suite = HAVE_NGINX && HAVE_CURL ? describe : describe.skip;

interface Issued {
  id: string;
  certificate: string;
  chain: string;
  fullchain: string;
  privateKey: string;
}

interface Case {
  name: string;
  /** Files curl presents (PEM: what the client sends, leaf first) and its key; none: no certificate. */
  send?: { pem: string; key: string };
  status: Verdict['status'];
  reason: Verdict['reason'];
  nginx: string | RegExp;
}

const DAY = 86_400_000;

suite('judge on Anvil-issued certificates: nginx, POST /api/v1/judge and GET /verify agree', () => {
  let anvil: TestAnvil;
  let nginx: RunningNginx | undefined;
  let nginxPort: number;
  let work: string;
  let trustPem: string;
  let crlPem: string;
  let clock: Date | null = new Date(Date.now() - 400 * DAY);
  const cases: Case[] = [];
  const rows: Array<Record<string, string>> = [];

  const issue = async (body: Record<string, unknown>): Promise<Issued> => {
    const res = await anvil.api('POST', '/api/v1/certificates', body);
    if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as Issued;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'anvil-judge-anvil-'));
    // Anvil's clock starts 400 days back so one certificate can be issued already expired.
    anvil = await createTestAnvil({ listen: true, mtls: true, now: () => clock ?? new Date() });
    const expired = await issue({
      profile: 'client',
      subject: { CN: 'expired-partner' },
      sans: { dns: ['expired.partner.test'] },
      ttl: '1d',
    });
    clock = null;
    // The mTLS listener's certificate was issued on the old clock too: renew it on the real one.
    await anvil.mtls!.renew();

    const created = await anvil.api('POST', '/api/v1/issuers', { name: 'partners-ca', keyAlgorithm: 'RSA-2048' });
    expect(created.status).toBe(201);
    const doomedCa = await anvil.api('POST', '/api/v1/issuers', { name: 'doomed-ca', keyAlgorithm: 'EC-P256' });
    expect(doomedCa.status).toBe(201);

    const ec = await issue({ profile: 'client', subject: { CN: 'partner-ec', O: 'Partner' }, sans: { dns: ['ec.partner.test'] } });
    const rsa = await issue({
      profile: 'client',
      keyAlgorithm: 'RSA-2048',
      issuer: 'partners-ca',
      subject: { CN: 'partner-rsa' },
      sans: { dns: ['rsa.partner.test'] },
    });
    const ecOnRsaCa = await issue({
      profile: 'client',
      keyAlgorithm: 'EC-P384',
      issuer: 'partners-ca',
      subject: { CN: 'partner-p384' },
      sans: { email: ['p384@partner.test'] },
    });
    const ed = await issue({
      profile: 'client',
      keyAlgorithm: 'Ed25519',
      subject: { CN: 'partner-ed25519' },
      sans: { uri: ['spiffe://partner.test/ed'] },
    });
    const peer = await issue({ profile: 'peer', subject: { CN: 'mesh.partner.test' }, sans: { dns: ['mesh.partner.test'] } });
    const revoked = await issue({ profile: 'client', subject: { CN: 'partner-revoked' }, sans: { dns: ['revoked.partner.test'] } });
    const server = await issue({ profile: 'server', subject: { CN: 'api.partner.test' }, sans: { dns: ['api.partner.test'] } });
    const underDoomed = await issue({
      profile: 'client',
      issuer: 'doomed-ca',
      subject: { CN: 'partner-doomed' },
      sans: { dns: ['doomed.partner.test'] },
    });
    expect((await anvil.api('POST', `/api/v1/certificates/${revoked.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    expect((await anvil.api('POST', '/api/v1/issuers/doomed-ca/revoke', { reason: 'cACompromise' })).status).toBe(200);

    // What nginx is configured with, fetched the way an operator would.
    trustPem = await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text();
    crlPem = (
      await Promise.all(anvil.authority.issuers().map(async (i) => (await fetch(`${anvil.publicUrl}/pki/crl/${i.record.name}.pem`)).text()))
    ).join('');
    const files = {
      trust: join(work, 'trust.pem'),
      crl: join(work, 'crls.pem'),
      serverCert: join(work, 'server.pem'),
      serverKey: join(work, 'server.key'),
    };
    writeFileSync(files.trust, trustPem);
    writeFileSync(files.crl, crlPem);
    writeFileSync(files.serverCert, anvil.mtls!.identity.certPem);
    writeFileSync(files.serverKey, anvil.mtls!.identity.keyPem);

    const send = (c: Issued, what: 'fullchain' | 'certificate' = 'fullchain') => ({ pem: c[what], key: c.privateKey });
    cases.push(
      { name: 'EC P-256 client, issuing-ca, full chain', send: send(ec), status: 'verified', reason: null, nginx: 'SUCCESS' },
      {
        name: 'RSA-2048 client, second issuer (RSA) made over the API',
        send: send(rsa),
        status: 'verified',
        reason: null,
        nginx: 'SUCCESS',
      },
      { name: 'EC P-384 client under the RSA issuer', send: send(ecOnRsaCa), status: 'verified', reason: null, nginx: 'SUCCESS' },
      { name: 'Ed25519 client', send: send(ed), status: 'verified', reason: null, nginx: 'SUCCESS' },
      { name: 'peer profile (serverAuth + clientAuth) as a client', send: send(peer), status: 'verified', reason: null, nginx: 'SUCCESS' },
      {
        name: 'leaf only (intermediate not sent)',
        send: send(ec, 'certificate'),
        status: 'failed',
        reason: 'missing_intermediate',
        nginx: 'FAILED:unable to verify the first certificate',
      },
      { name: 'revoked (keyCompromise)', send: send(revoked), status: 'failed', reason: 'revoked', nginx: 'FAILED:certificate revoked' },
      {
        name: 'server-profile certificate used as a client',
        send: send(server),
        status: 'failed',
        reason: 'wrong_purpose',
        nginx: 'FAILED:unsuitable certificate purpose',
      },
      {
        name: 'expired (issued 400 days ago for a day)',
        send: send(expired),
        status: 'failed',
        reason: 'expired',
        nginx: 'FAILED:certificate has expired',
      },
      {
        name: 'issued by a revoked intermediate',
        send: send(underDoomed),
        status: 'failed',
        reason: 'revoked',
        nginx: 'FAILED:certificate revoked',
      },
      { name: 'no client certificate', status: 'absent', reason: null, nginx: 'NONE' },
    );
    for (const [i, c] of cases.entries()) {
      if (!c.send) continue;
      writeFileSync(join(work, `case-${i}.pem`), c.send.pem);
      writeFileSync(join(work, `case-${i}.key`), c.send.key);
    }

    nginxPort = await freePort();
    nginx = await startNginx(join(work, 'nginx'), [
      {
        port: nginxPort,
        certPath: files.serverCert,
        keyPath: files.serverKey,
        clientCaPath: files.trust,
        crlPath: files.crl,
        verifyClient: 'optional',
        depth: 3,
      },
    ]);
  }, 180_000);

  afterAll(async () => {
    nginx?.stop();
    if (rows.length) console.table(rows);
    await anvil?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** curl, asynchronously: the mTLS listener answers from this very process. */
  const curl = async (url: string, i: number, c: Case): Promise<string> => {
    const args = ['-sk', '--max-time', '20', url];
    if (c.send) args.unshift('--cert', join(work, `case-${i}.pem`), '--key', join(work, `case-${i}.key`));
    const { stdout } = await exec('curl', args, { encoding: 'utf8' });
    return stdout;
  };

  const names = [
    'EC P-256 client, issuing-ca, full chain',
    'RSA-2048 client, second issuer (RSA) made over the API',
    'EC P-384 client under the RSA issuer',
    'Ed25519 client',
    'peer profile (serverAuth + clientAuth) as a client',
    'leaf only (intermediate not sent)',
    'revoked (keyCompromise)',
    'server-profile certificate used as a client',
    'expired (issued 400 days ago for a day)',
    'issued by a revoked intermediate',
    'no client certificate',
  ];

  it.each(names)('%s', async (name) => {
    const i = cases.findIndex((c) => c.name === name);
    const c = cases[i];
    expect(c, `case "${name}" is not in the matrix`).toBeDefined();
    const statusOf = (s: string) => (s === 'SUCCESS' ? 'verified' : s === 'NONE' ? 'absent' : 'failed');

    // (a) nginx
    const fromNginx = await curl(`https://127.0.0.1:${nginxPort}/`, i, c);
    expect(fromNginx).toEqual(c.nginx);

    // (b) POST /api/v1/judge, same anchors and CRLs (a pasted chain cannot be empty)
    let pasted: Verdict | null = null;
    if (c.send) {
      const res = await anvil.api('POST', '/api/v1/judge', { chain: c.send.pem, trustAnchors: trustPem, crls: crlPem });
      expect(res.status).toBe(200);
      pasted = (await res.json()) as Verdict;
      expect(pasted.nginx).toBe(fromNginx);
      expect(pasted.status).toBe(statusOf(fromNginx));
      expect([pasted.status, pasted.reason]).toEqual([c.status, c.reason]);
    }

    // (c) GET /verify on the mTLS listener
    const body = await curl(`https://127.0.0.1:${anvil.mtls!.port}/verify`, i, c);
    const verdict = JSON.parse(body) as Verdict;
    expect(verdict.nginx).toBe(fromNginx);
    expect(verdict.status).toBe(statusOf(fromNginx));
    expect([verdict.status, verdict.reason]).toEqual([c.status, c.reason]);
    if (c.send) {
      const sent = c.send.pem.match(/-----BEGIN CERTIFICATE-----/g)!.length;
      expect(verdict.presented).toHaveLength(sent);
      if (pasted) expect(verdict.presented.map((p) => p.fingerprintSha256)).toEqual(pasted.presented.map((p) => p.fingerprintSha256));
    }
    if (c.status === 'failed') expect(verdict.hints.length).toBeGreaterThan(0);
    if (c.reason === 'missing_intermediate') {
      expect(verdict.hints[0]).toContain('Anvil Issuing CA (issuing-ca)');
      expect(verdict.hints[0]).toContain('fullchain.pem');
    }
    if (c.reason === 'revoked') expect(verdict.revocation.status).toBe('revoked');
    if (c.status === 'verified') expect(verdict.revocation).toMatchObject({ checked: true, status: 'good' });

    rows.push({
      case: name,
      nginx: fromNginx,
      'POST /judge': pasted ? `${pasted.status}${pasted.reason ? `/${pasted.reason}` : ''}` : '-',
      '/verify': `${verdict.status}${verdict.reason ? `/${verdict.reason}` : ''}`,
    });
  });
});

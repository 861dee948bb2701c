/**
 * Revocation is final on every process at once, even one whose notification connection dropped
 * (issue 8): two Anvil processes share one PostgreSQL database; while certificates are revoked
 * on the first, the LISTEN connections are terminated, and the second must neither renew the
 * revoked certificate nor answer OCSP `good` (nonce-less, the cached kind) nor judge it
 * verified, right after the revoke call returns. Renewal is also decided on the database row
 * (held, expired, already renewed) whatever the judge's caches say; that part runs on PGlite too.
 */
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaError, REVOCATION_CACHE_MAX_MS, SYSTEM_ACTOR } from '@anvil/ca';
import { parseCrl, parseOcspResponse } from '@anvil/pki';
import { createTestAnvil, PG_ADMIN_URL, TEST_DB, type TestAnvil } from '../support/harness.ts';

interface Issued {
  id: string;
  serial: string;
  certificate: string;
  fullchain: string;
  privateKey: string;
}

const work = mkdtempSync(join(tmpdir(), 'anvil-notices-'));
const run = promisify(execFile);
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

function newCsr(): string {
  const keyPath = join(work, `k${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(keyPath, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  return spawnSync('openssl', ['req', '-new', '-key', keyPath, '-subj', '/CN=ignored'], { encoding: 'utf8' }).stdout;
}

async function issue(anvil: TestAnvil, cn: string): Promise<Issued> {
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: cn },
    sans: { dns: [`${cn}.partner.test`] },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Issued;
}

/** POST /api/v1/renew or GET /verify on an mTLS listener, presenting `cert`. */
function mtls(
  port: number,
  cert: Issued,
  path: '/verify' | '/api/v1/renew',
  body?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body ? 'POST' : 'GET',
        cert: cert.fullchain,
        key: cert.privateKey,
        rejectUnauthorized: false,
        agent: false,
        headers: body ? { 'content-type': 'application/pkcs10' } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** What `openssl ocsp` (no nonce: the cacheable kind) is told about `cert` by `anvil`. */
async function ocspStatus(anvil: TestAnvil, cert: Issued): Promise<string> {
  const dir = mkdtempSync(join(work, 'ocsp-'));
  writeFileSync(join(dir, 'issuer.pem'), anvil.authority.issuerByName('issuing-ca').pem);
  writeFileSync(join(dir, 'leaf.pem'), cert.certificate);
  // Asynchronously: the responder is this process.
  const { stdout, stderr } = await run('openssl', [
    'ocsp',
    '-issuer',
    join(dir, 'issuer.pem'),
    '-cert',
    join(dir, 'leaf.pem'),
    '-url',
    `${anvil.publicUrl}/ocsp`,
    '-no_nonce',
    '-noverify',
  ]);
  const line = stdout.split('\n').find((l) => l.includes('leaf.pem:')) ?? stdout + stderr;
  return line.replace(/^.*leaf\.pem:\s*/, '').trim();
}

async function crlSerials(anvil: TestAnvil): Promise<string[]> {
  const res = await anvil.app.request('/pki/crl/issuing-ca.crl');
  return parseCrl(new Uint8Array(await res.arrayBuffer())).entries.map((e) => e.serialHex);
}

describe.runIf(TEST_DB === 'postgres' && hasOpenssl)(
  'two processes on one PostgreSQL, notification connections killed while revoking',
  () => {
    let a: TestAnvil;
    let b: TestAnvil;
    let admin: postgres.Sql;
    let dbName: string;

    beforeAll(async () => {
      a = await createTestAnvil({ listen: true, mtls: true });
      b = await createTestAnvil({ listen: true, mtls: true, shareDatabase: { url: a.database.url!, kek: a.database.kek } });
      await Promise.all([a.authority.revocationNotices.start(), b.authority.revocationNotices.start()]);
      admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
      dbName = new URL(a.database.url!).pathname.slice(1);
    });
    afterAll(async () => {
      await admin?.end();
      await b?.close();
      await a?.close();
    });

    /** Terminates every LISTEN connection of this test's database (both processes': they name themselves, notification-listener.ts). */
    async function killListeners(): Promise<number> {
      const rows =
        await admin`select pg_terminate_backend(pid) as killed from pg_stat_activity where datname = ${dbName} and application_name like 'anvil-notices %'`;
      return rows.length;
    }

    it('no renew succeeds, and OCSP, CRL and the judge say revoked on both processes right after the revoke returns', async () => {
      const csr = newCsr();
      let killed = 0;
      for (let round = 0; round < 6; round++) {
        const cert = await issue(a, `partner-${round}`);
        // B has judged and answered it good: its caches hold those answers.
        expect(await ocspStatus(b, cert)).toBe('good');
        expect((await mtls(b.mtls!.port, cert, '/verify')).json.status).toBe('verified');

        killed += await killListeners();
        const revoked = await a.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
        expect(revoked.status).toBe(200);

        for (const [name, node] of [
          ['b', b],
          ['a', a],
        ] as const) {
          const renew = await mtls(node.mtls!.port, cert, '/api/v1/renew', csr);
          expect([name, renew.status, renew.json.code]).toEqual([name, 403, 'certificate_not_accepted']);
          expect([name, await ocspStatus(node, cert)]).toEqual([name, 'revoked']);
          const verdict = (await mtls(node.mtls!.port, cert, '/verify')).json;
          expect([name, verdict.status, verdict.reason]).toEqual([name, 'failed', 'revoked']);
          expect(await crlSerials(node)).toContain(cert.serial);
        }
      }
      expect(killed, 'the test terminated LISTEN connections').toBeGreaterThan(0);
      // Nothing was renewed: the audit trail has no renewal success.
      const { items } = await a.authority.listCertificates({ limit: 100 });
      expect(items.filter((c) => c.requestedBy?.startsWith('certificate:'))).toEqual([]);
    });

    it('the subscription comes back by itself, and notices flow again', async () => {
      await killListeners();
      const deadline = Date.now() + 10_000;
      while (
        Date.now() < deadline &&
        (await admin`select 1 from pg_stat_activity where datname = ${dbName} and application_name like 'anvil-notices %'`).length < 2
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(b.authority.revocationNotices.live).toBe(true);
      const cert = await issue(a, 'partner-after');
      expect(await ocspStatus(b, cert)).toBe('good');
      await a.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'superseded' });
      expect(await ocspStatus(b, cert)).toBe('revoked');
    });
  },
);

describe.runIf(hasOpenssl)('renewal is decided on the database row', () => {
  let anvil: TestAnvil;
  let csr: string;
  beforeAll(async () => {
    anvil = await createTestAnvil({ mtls: true });
    csr = newCsr();
  });
  afterAll(() => anvil?.close());

  const owner = (cert: Issued) => ({
    issuerId: anvil.authority.issuerByName('issuing-ca').record.id,
    serialHex: cert.serial,
    csr,
    source: null,
  });
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CaError);
    return { code: (err as CaError).code, reason: (err as CaError).details?.reason };
  };

  it('a certificate renews once: the second renewal is refused as superseded', async () => {
    const cert = await issue(anvil, 'renew-once');
    const first = await mtls(anvil.mtls!.port, cert, '/api/v1/renew', csr);
    expect(first.status, JSON.stringify(first.json)).toBe(201);
    expect(first.json.renewedFrom).toBe(cert.id);
    const second = await mtls(anvil.mtls!.port, cert, '/api/v1/renew', csr);
    expect([second.status, second.json.code, second.json.reason]).toEqual([403, 'certificate_not_accepted', 'superseded']);
    expect((await anvil.authority.certificate(cert.id)).supersededBy).toBe(first.json.id);
  });

  it('revoked and held rows are refused even when the judge would still say verified', async () => {
    const revoked = await issue(anvil, 'renew-revoked');
    const held = await issue(anvil, 'renew-held');
    // Straight to the store: no notice, so any cache would still hold "good".
    await anvil.store.revokeCertificate(revoked.id, 'keyCompromise', new Date());
    await anvil.store.revokeCertificate(held.id, 'certificateHold', new Date());
    expect(await refusal(anvil.authority.renew(owner(revoked)))).toEqual({ code: 'certificate_not_accepted', reason: 'revoked' });
    expect(await refusal(anvil.authority.renew(owner(held)))).toEqual({ code: 'certificate_not_accepted', reason: 'revoked' });
  });

  it('an expired row is refused', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'renew-expired' },
      sans: { dns: ['e.partner.test'] },
      ttl: '1s',
    });
    expect(res.status).toBe(201);
    const cert = (await res.json()) as Issued;
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await refusal(anvil.authority.renew(owner(cert)))).toEqual({ code: 'certificate_not_accepted', reason: 'expired' });
  });

  it('a revocation that commits while the renewal signs wins: nothing is issued', async () => {
    const cert = await issue(anvil, 'renew-race');
    const store = anvil.store as unknown as { insertIssuedCertificate: (...args: unknown[]) => Promise<unknown> };
    const original = store.insertIssuedCertificate;
    store.insertIssuedCertificate = async (...args: unknown[]) => {
      await anvil.authority.revocations.revoke(cert.id, 'keyCompromise', SYSTEM_ACTOR);
      return original.apply(anvil.store, args);
    };
    try {
      expect(await refusal(anvil.authority.renew(owner(cert)))).toEqual({ code: 'certificate_not_accepted', reason: 'revoked' });
    } finally {
      store.insertIssuedCertificate = original;
    }
    const { items } = await anvil.authority.listCertificates({ q: 'renew-race', limit: 10 });
    expect(items.map((c) => c.id)).toEqual([cert.id]);
  });
});

describe('OCSP: identical nonce-less requests share one build, never across a revocation', () => {
  let anvil: TestAnvil;
  beforeAll(async () => {
    anvil = await createTestAnvil();
    await anvil.authority.revocationNotices.start();
  });
  afterAll(() => anvil?.close());

  /** A nonce-less OCSP request for one serial, built by openssl. */
  async function requestFor(cert: Issued): Promise<Uint8Array> {
    const dir = mkdtempSync(join(work, 'ocspreq-'));
    writeFileSync(join(dir, 'issuer.pem'), anvil.authority.issuerByName('issuing-ca').pem);
    writeFileSync(join(dir, 'leaf.pem'), cert.certificate);
    await run('openssl', [
      'ocsp',
      '-issuer',
      join(dir, 'issuer.pem'),
      '-cert',
      join(dir, 'leaf.pem'),
      '-no_nonce',
      '-reqout',
      join(dir, 'req.der'),
    ]);
    return new Uint8Array(readFileSync(join(dir, 'req.der')));
  }
  const statusOf = (der: Uint8Array) => parseOcspResponse(der).responses[0].status;

  it('twenty concurrent requests get one answer; a request after a revocation does not join the build before it', async () => {
    const cert = await issue(anvil, 'herd');
    const req = await requestFor(cert);
    const answers = await Promise.all(Array.from({ length: 20 }, () => anvil.authority.ocsp.respond(req)));
    expect(new Set(answers.map((a) => Buffer.from(a.der).toString('hex'))).size).toBe(1);
    expect(statusOf(answers[0].der)).toBe('good');

    // A build that is slow to read the status; the revocation commits while it runs.
    await new Promise((r) => setTimeout(r, REVOCATION_CACHE_MAX_MS + 100)); // the cached answer ages out
    const store = anvil.store as unknown as { serialStatus: (...args: unknown[]) => Promise<unknown> };
    const original = store.serialStatus;
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    store.serialStatus = async (...args: unknown[]) => {
      const result = await original.apply(anvil.store, args);
      await gate;
      return result;
    };
    const early = anvil.authority.ocsp.respond(req);
    await new Promise((r) => setTimeout(r, 50));
    store.serialStatus = original;
    await anvil.authority.revocations.revoke(cert.id, 'keyCompromise', SYSTEM_ACTOR);
    const late = anvil.authority.ocsp.respond(req);
    release();
    expect(statusOf((await early).der)).toBe('good'); // read before the revocation
    expect(statusOf((await late).der)).toBe('revoked');
    expect(statusOf((await anvil.authority.ocsp.respond(req)).der)).toBe('revoked');
  }, 30_000);
});

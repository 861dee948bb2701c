/**
 * While the database is unreachable every door answers "retry shortly", never a 500: the API with
 * 503 database_unavailable + Retry-After, /readyz with 503 not_ready, OCSP with tryLater, the mTLS
 * listener's /verify with 503. The store fails here with the errors the driver really throws
 * (ECONNREFUSED from a port nothing listens on, bare and wrapped by drizzle). The real outage —
 * PostgreSQL restarted under load — is test/failover.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../apps/server/src/app.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { openssl, tempDir, writeFiles } from '../support/tools.ts';

let anvil: TestAnvil;
let app: ReturnType<typeof createApp>;
const logLines: Array<Record<string, unknown>> = [];
/** A postgres.js ECONNREFUSED, and the same inside drizzle's DrizzleQueryError. */
let driverError: unknown;
let drizzleError: unknown;
let client: { certificate: string; chain: string; privateKey: string };
let ocspRequest: Buffer;

const STORE_METHODS = [
  'insertIssuedCertificate',
  'getIdempotency',
  'findTokenByHash',
  'getSetting',
  'getCrlHeader',
  'getCrl',
  'serialStatus',
  'getProfile',
  'transaction',
] as const;

/** Every store read and write the doors use fails as an unreachable database would. */
function breakStore() {
  const store = anvil.store as unknown as Record<string, unknown>;
  STORE_METHODS.forEach((m, i) => {
    store[m] = () => Promise.reject(i % 2 ? driverError : drizzleError);
  });
}

beforeAll(async () => {
  anvil = await createTestAnvil({ mtls: true });
  app = createApp({
    authority: anvil.authority,
    log: pino({ level: 'warn' }, { write: (l: string) => void logLines.push(JSON.parse(l)) }),
  });
  const nowhere = postgres('postgres://nobody@127.0.0.1:1/none', { max: 1, connect_timeout: 2, onnotice: () => {} });
  driverError = await nowhere`select 1`.catch((e: unknown) => e);
  drizzleError = await drizzle(nowhere)
    .execute(sql`select ${1}`)
    .catch((e: unknown) => e);
  await nowhere.end({ timeout: 1 });

  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: 'outage-probe' },
    sans: { dns: ['outage-probe.test'] },
  });
  expect(res.status).toBe(201);
  client = await res.json();
  const dir = tempDir('anvil-outage-');
  const files = writeFiles(dir, { 'leaf.pem': client.certificate, 'issuer.pem': client.chain });
  openssl('ocsp', '-issuer', files['issuer.pem'], '-cert', files['leaf.pem'], '-no_nonce', '-reqout', `${dir}/req.der`);
  ocspRequest = readFileSync(`${dir}/req.der`);
});

afterEach(() => {
  const store = anvil.store as unknown as Record<string, unknown>;
  for (const m of STORE_METHODS) delete store[m];
  logLines.length = 0;
});

afterAll(async () => {
  await anvil?.close();
});

async function expectDatabaseUnavailable(res: Response) {
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await res.json()).toMatchObject({
    status: 503,
    code: 'database_unavailable',
    detail: 'the database is unavailable; retry shortly',
  });
}

describe('the database is unreachable', () => {
  it('issuance: 503 database_unavailable with Retry-After, one warn line with the code and no stack or query', async () => {
    breakStore();
    const res = await app.request('/api/v1/certificates', {
      method: 'POST',
      headers: { authorization: `Bearer ${anvil.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ profile: 'server', sans: { dns: ['outage.test'] } }),
    });
    await expectDatabaseUnavailable(res);
    const lines = logLines.filter((l) => l.msg === 'database unavailable');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, code: 'ECONNREFUSED' });
    expect(JSON.stringify(lines[0])).not.toMatch(/stack|Failed query|params/);
    expect(logLines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });

  it('token lookup (auth middleware): 503, not 401 or 500', async () => {
    breakStore();
    const res = await app.request('/api/v1/certificates', { headers: { authorization: 'Bearer anvil_not_cached_yet_0123456789' } });
    await expectDatabaseUnavailable(res);
  });

  it('the CRL: 503', async () => {
    breakStore();
    await expectDatabaseUnavailable(await app.request('/pki/crl/issuing-ca.crl'));
  });

  it('/readyz: 503 not_ready naming the driver code', async () => {
    breakStore();
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.code).toBe('not_ready');
    expect(body.detail).toMatch(/database: unreachable \(ECONNREFUSED\)/);
  });

  it('OCSP: tryLater (RFC 6960), never cached', async () => {
    breakStore();
    const post = await app.request('/ocsp', { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: ocspRequest });
    expect(post.status).toBe(200);
    expect(post.headers.get('content-type')).toBe('application/ocsp-response');
    expect(post.headers.get('cache-control')).toBe('no-store');
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED tryLater(3) }
    expect([...new Uint8Array(await post.arrayBuffer())]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x03]);
    const get = await app.request(`/ocsp/${encodeURIComponent(ocspRequest.toString('base64'))}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('cache-control')).toBe('no-store');
    expect([...new Uint8Array(await get.arrayBuffer())]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x03]);
  });

  it('mTLS GET /verify (the listener fast path): 503 database_unavailable', async () => {
    breakStore();
    const res = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: anvil.mtls!.port,
          path: '/verify',
          cert: client.certificate + client.chain,
          key: client.privateKey,
          rejectUnauthorized: false,
          agent: false,
        },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? -1, headers: r.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'database_unavailable' });
  });

  it('and answers normally again once it is back', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', { profile: 'server', sans: { dns: ['back.test'] } });
    expect(res.status).toBe(201);
  });
});

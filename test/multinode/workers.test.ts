/**
 * Issue 13, item 2: one node on every core. The real server (`apps/server/src/main.ts`) with
 * ANVIL_WORKERS=2 on PostgreSQL: a supervisor and two workers on the same ports. Every worker
 * answers; the start-up banner and the generated console password are printed once; the workers
 * share one mTLS server certificate and one OCSP responder certificate per issuer (made once, by
 * the supervisor); a revocation through one worker is revoked in the very next OCSP answer of
 * every worker; a worker killed is replaced while the node keeps answering; SIGTERM stops them all.
 * PostgreSQL only (PGlite is one process).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, TEST_DB } from '../support/harness.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { haveTool, tempDir } from '../support/tools.ts';

const exec = promisify(execFile);
const TOKEN = `anvil_workers_${randomBytes(16).toString('hex')}`;
const AVAILABLE = TEST_DB === 'postgres' && haveTool('openssl');
if (TEST_DB !== 'postgres') console.warn('\n  !!! SKIPPING test/multinode/workers: run it with ANVIL_TEST_DB=postgres\n');

/**
 * GET on a fresh connection (so the cluster hands it to the next worker), JSON body. A connection
 * handed to a worker at the moment it dies is never answered (Node's round robin waits for that
 * worker's reply): hence the timeout.
 */
function freshGet(url: string, timeoutMs = 3_000): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
  });
}

/** The worker processes of the supervisor `pid` (tsx's esbuild service is a child too, but not a worker). */
async function workersOf(pid: number): Promise<number[]> {
  const { stdout } = await exec('pgrep', ['-P', String(pid)]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('apps/server/src/main.ts');
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** The serial of the server certificate presented by the mTLS listener on a fresh connection. */
function mtlsSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on('error', reject);
  });
}

describe.skipIf(!AVAILABLE)('one node, two worker processes (ANVIL_WORKERS=2)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let sql: postgres.Sql;
  let node: ServerProcess;
  let mtlsPort: number;
  const dir = tempDir('anvil-workers-');

  beforeAll(async () => {
    db = await freshPostgresDatabase('anvil_workers');
    sql = postgres(db.url, { max: 1, onnotice: () => {} });
    mtlsPort = 20_000 + Math.floor(Math.random() * 20_000);
    node = await startServer(
      {
        DATABASE_URL: db.url,
        ANVIL_WORKERS: '2',
        ANVIL_KEK: randomBytes(32).toString('hex'),
        ANVIL_DATA_DIR: dir,
        ANVIL_MTLS_PORT: String(mtlsPort),
        ANVIL_ADMIN_PASSWORD: '',
        ANVIL_ISSUE_RATE_LIMIT: '0',
      },
      TOKEN,
    );
    if (!node.output().includes('mTLS listener ready')) {
      // The banner comes once both workers listen; the mTLS line right after it.
      const deadline = Date.now() + 30_000;
      while (!node.output().includes('mTLS listener ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
  }, 240_000);

  afterAll(async () => {
    await node?.stop();
    await sql?.end();
    await db?.drop();
  });

  it('prints the banner and the generated console password once, and both workers answer', async () => {
    const out = node.output();
    expect(out.split('Anvil listening').length - 1).toBe(1);
    expect(out.split('Console sign-in (shown once').length - 1).toBe(1);
    expect(out).toMatch(/"workers":2/);
    const workers = new Set<number>();
    for (let i = 0; i < 12 && workers.size < 2; i++) workers.add((await freshGet(`${node.base}/healthz`)).body.worker);
    expect([...workers].sort()).toEqual([1, 2]);
  });

  it('issues across both workers (no serial twice) and shares one mTLS certificate and one OCSP responder', async () => {
    const issued = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const r = await node.api('POST', '/api/v1/certificates', {
          profile: 'client',
          subject: { CN: `worker-${i}` },
          sans: { dns: [`worker-${i}.example.test`] },
        });
        expect(r.status).toBe(201);
        return r.body as { id: string; serial: string; certificate: string };
      }),
    );
    expect(new Set(issued.map((c) => c.serial)).size).toBe(24);

    const serials = new Set<string>();
    for (let i = 0; i < 6; i++) serials.add(await mtlsSerial(mtlsPort));
    expect(serials.size).toBe(1);

    // OCSP through fresh connections, so both workers answer; then revoke and ask again.
    const leaf = join(dir, 'leaf.pem');
    const issuer = join(dir, 'issuer.pem');
    const trust = join(dir, 'trust.pem');
    writeFileSync(leaf, issued[0].certificate);
    writeFileSync(issuer, await (await fetch(`${node.base}/pki/issuers/issuing-ca.pem`)).text());
    writeFileSync(trust, await (await fetch(`${node.base}/pki/trust-bundle.pem`)).text());
    const ocsp = async () => {
      const { stdout, stderr } = await exec('openssl', [
        'ocsp',
        '-issuer',
        issuer,
        '-cert',
        leaf,
        '-url',
        `${node.base}/ocsp`,
        '-CAfile',
        trust,
        '-no_nonce',
        '-header',
        'Connection=close',
      ]);
      expect(`${stdout}${stderr}`).toContain('Response verify OK');
      return /leaf\.pem: (\w+)/.exec(stdout)?.[1];
    };
    for (let i = 0; i < 4; i++) expect(await ocsp()).toBe('good');
    const revoked = await node.api('POST', `/api/v1/certificates/${issued[0].id}/revoke`, { reason: 'keyCompromise' });
    expect(revoked.status).toBe(200);
    for (let i = 0; i < 4; i++) expect(await ocsp()).toBe('revoked');

    const made = await sql<{ profile: string; n: number }[]>`
      select profile, count(*)::int as n from certificates where profile in ('server', 'ocsp-responder') group by profile order by profile`;
    expect(made).toEqual([
      { profile: 'ocsp-responder', n: 1 },
      { profile: 'server', n: 1 },
    ]);
  });

  it('an issuer created through one worker issues through every worker at once (the workers reload issuers on notice)', async () => {
    const created = await node.api('POST', '/api/v1/issuers', { name: 'workers-ca', kind: 'intermediate', keyAlgorithm: 'EC-P256' });
    expect(created.status).toBe(201);
    // Node's fetch keeps connections open: use fresh ones so both workers are asked, right away.
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${node.base}/api/v1/certificates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({
          profile: 'client',
          issuer: 'workers-ca',
          subject: { CN: `w-${i}` },
          sans: { dns: [`w-${i}.example.test`] },
        }),
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual(Array(8).fill(201));
  });

  it('replaces a worker that dies, and keeps answering meanwhile', async () => {
    const workers = await workersOf(node.child.pid!);
    const { stdout: ps } = await exec('ps', ['-o', 'pid,ppid,args', '--ppid', String(node.child.pid)]).catch(() => ({ stdout: '' }));
    expect(workers, ps).toHaveLength(2);
    process.kill(workers[0], 'SIGKILL');
    // The other worker answers at once (a connection caught by the dying one may go unanswered).
    let answered = 0;
    for (let i = 0; i < 6; i++) answered += (await freshGet(`${node.base}/healthz`).catch(() => ({ status: 0 }))).status === 200 ? 1 : 0;
    expect(answered).toBeGreaterThanOrEqual(4);
    const deadline = Date.now() + 60_000;
    let now: number[] = [];
    while (Date.now() < deadline) {
      now = await workersOf(node.child.pid!);
      if (now.length === 2 && !now.includes(workers[0])) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(now).toHaveLength(2);
    expect(now).not.toContain(workers[0]);
    expect(node.output()).toContain('a worker process exited; starting another');
    // Once the new worker listens, both answer again.
    const ids = new Set<number>();
    const until = Date.now() + 60_000;
    while (ids.size < 2 && Date.now() < until) {
      const r = await freshGet(`${node.base}/healthz`).catch(() => null);
      if (r?.status === 200) ids.add(r.body.worker);
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(ids.size).toBe(2);
  }, 90_000);

  it('SIGTERM stops the workers and the supervisor', async () => {
    const workers = await workersOf(node.child.pid!);
    expect(workers).toHaveLength(2);
    await node.stop();
    expect(node.child.exitCode).toBe(0);
    for (const w of workers) expect(() => process.kill(w, 0)).toThrow();
  }, 60_000);
});

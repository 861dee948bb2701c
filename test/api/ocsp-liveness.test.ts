/**
 * A revocation is visible in the very next OCSP answer of every process (issue 13 item 3): two
 * Anvil instances share one PostgreSQL database, both have answered `good` (nonce-less, so both
 * cached it), one revokes, and the other's very next answer — over HTTP, through the OCSP fast
 * path — must say revoked. The second instance reaches PostgreSQL through a TCP proxy that can
 * delay what the database sends it, so its revocation notice arrives late: without the revoke
 * call's confirmation (db/src/notification-listener.ts) it would still answer from its cache.
 * A member that cannot acknowledge at all (frozen connection) loses its lease instead, and the
 * revoke call returns after LEASE_MS.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTICE_LEASE_MS as LEASE_MS } from '@anvil/db';
import { buildOcspRequest, parseOcspResponse } from '@anvil/pki';
import { createTestAnvil, TEST_DB, type TestAnvil } from '../support/harness.ts';

const run = promisify(execFile);
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

/** A TCP proxy to PostgreSQL whose database-to-client direction can be delayed or frozen (order kept). */
class SlowLink {
  delayMs = 0;
  frozen = false;
  private readonly held: Array<() => void> = [];
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  port = 0;

  async start(target: { host: string; port: number }): Promise<void> {
    this.server = createServer((client) => {
      const db = createConnection(target);
      this.sockets.add(client).add(db);
      let last = 0;
      client.on('data', (d) => db.write(d));
      db.on('data', (d) => {
        const send = () => client.write(d);
        if (this.frozen) this.held.push(send);
        else if (this.delayMs === 0 && this.held.length === 0 && last <= performance.now()) send();
        else {
          // Never before an earlier chunk: each is sent delayMs after it came, in order.
          last = Math.max(last, performance.now() + this.delayMs);
          setTimeout(send, last - performance.now());
        }
      });
      const end = () => {
        client.destroy();
        db.destroy();
      };
      client.on('close', end).on('error', end);
      db.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  thaw(): void {
    this.frozen = false;
    for (const send of this.held.splice(0)) send();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

describe.runIf(TEST_DB === 'postgres' && hasOpenssl)('OCSP liveness across two processes on one PostgreSQL', () => {
  let a: TestAnvil;
  let b: TestAnvil;
  const link = new SlowLink();
  const work = mkdtempSync(join(tmpdir(), 'anvil-ocsp-liveness-'));

  beforeAll(async () => {
    a = await createTestAnvil({ listen: true });
    const url = new URL(a.database.url!);
    await link.start({ host: url.hostname, port: Number(url.port || 5432) });
    const viaLink = new URL(url);
    viaLink.host = `127.0.0.1:${link.port}`;
    b = await createTestAnvil({ listen: true, shareDatabase: { url: viaLink.toString(), kek: a.database.kek } });
    await Promise.all([a.authority.revocationNotices.start(), b.authority.revocationNotices.start()]);
  });
  afterAll(async () => {
    link.thaw();
    await b?.close();
    await link.stop();
    await a?.close();
  });

  async function issue(cn: string): Promise<{ id: string; serial: string; certificate: string }> {
    const res = await a.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: cn },
      sans: { dns: [`${cn}.partner.test`] },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return res.json();
  }

  function requestFor(serial: string): Uint8Array {
    const issuer = a.authority.issuerByName('issuing-ca');
    return buildOcspRequest({
      issuerNameDer: new Uint8Array(issuer.certificate.subject.toSchema().toBER(false)),
      issuerSpkiDer: issuer.signer.publicKeySpki,
      serialsHex: [serial],
    });
  }

  /** POST /ocsp over HTTP (a declared Content-Length: the fast path); the DER answer. */
  async function ask(node: TestAnvil, request: Uint8Array): Promise<Uint8Array> {
    const res = await fetch(`${node.publicUrl}/ocsp`, {
      method: 'POST',
      body: request,
      headers: { 'content-type': 'application/ocsp-request' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    return new Uint8Array(await res.arrayBuffer());
  }
  const statusOf = (der: Uint8Array) => parseOcspResponse(der).responses[0]?.status;

  it('the very next answer of the other process says revoked, round after round (its notices delayed 0 to 150 ms)', async () => {
    const wrong: string[] = [];
    const slowest: number[] = [];
    for (let round = 0; round < 24; round++) {
      link.delayMs = [0, 20, 150][round % 3];
      const cert = await issue(`live-${round}`);
      const request = requestFor(cert.serial);
      // Both processes answered good, and cached it: the same bytes come back again.
      for (const node of [a, b]) {
        const first = await ask(node, request);
        expect(statusOf(first)).toBe('good');
        expect(Buffer.from(await ask(node, request)).equals(Buffer.from(first)), 'a cached answer').toBe(true);
      }
      const t = performance.now();
      const revoked = await a.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
      expect(revoked.status).toBe(200);
      slowest.push(performance.now() - t);
      const [fromB, fromA] = [await ask(b, request), await ask(a, request)];
      if (statusOf(fromB) !== 'revoked') wrong.push(`round ${round} (delay ${link.delayMs} ms): b said ${statusOf(fromB)}`);
      if (statusOf(fromA) !== 'revoked') wrong.push(`round ${round}: a said ${statusOf(fromA)}`);
      if (round === 2) {
        // A verifier we did not write reads the late process's answer the same way.
        const file = join(work, 'b.der');
        writeFileSync(file, fromB);
        const { stdout } = await run('openssl', ['ocsp', '-respin', file, '-resp_text', '-noverify']);
        expect(stdout).toMatch(/Cert Status: revoked/);
        expect(stdout).toMatch(/Revocation Reason: keyCompromise/);
      }
    }
    link.delayMs = 0;
    expect(wrong).toEqual([]);
    // The delayed rounds waited for b's acknowledgement: at least the delay, far less than a lease.
    expect(Math.max(...slowest)).toBeGreaterThanOrEqual(150);
    expect(Math.max(...slowest)).toBeLessThan(LEASE_MS);
  });

  it('a process that cannot acknowledge stops trusting its cache, and the revoke returns after its lease ran out', async () => {
    const cert = await issue('frozen');
    const request = requestFor(cert.serial);
    expect(statusOf(await ask(b, request))).toBe('good');
    expect(b.authority.revocationNotices.live).toBe(true);
    link.frozen = true;
    const t = performance.now();
    const confirmation = await a.authority.revocationNotices.confirm();
    const waited = performance.now() - t;
    // b was listed but could not answer: a waited its lease out, and b no longer trusts its caches.
    expect(confirmation).toEqual({ processes: 2, confirmed: 1 });
    expect(waited).toBeGreaterThanOrEqual(LEASE_MS - 50);
    expect(b.authority.revocationNotices.live).toBe(false);
    link.thaw();
    // Thawed, its probes renew the lease and its cache may answer again.
    const deadline = performance.now() + 5_000;
    while (!b.authority.revocationNotices.live && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(b.authority.revocationNotices.live).toBe(true);
  });
});

/** /healthz, /readyz and /metrics: probes for orchestrators, numbers for Prometheus. */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authority, LoadedIssuer } from '@anvil/ca';
import { createApp } from '../../apps/server/src/app.ts';
import { createMetrics, type Metrics } from '../../apps/server/src/metrics.ts';
import { opsRoutes } from '../../apps/server/src/routes/ops.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
let metrics: Metrics;
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  anvil = await createTestAnvil();
  metrics = createMetrics({ now: () => new Date('2030-01-01T00:10:00Z') });
  app = createApp({ authority: anvil.authority, log: pino({ level: 'silent' }), metrics });
});
afterAll(async () => {
  await anvil?.close();
});

const issue = (body: Record<string, unknown>) =>
  app.request('/api/v1/certificates', {
    method: 'POST',
    headers: { authorization: `Bearer ${anvil.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('probes', () => {
  it('/healthz answers without auth or database', async () => {
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', worker: 0 }); // 0: no worker processes (ANVIL_WORKERS=1)
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('/readyz is 200 when the database answers and every issuer signs', async () => {
    const res = await app.request('/readyz');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('ready');
    expect(body.checks.map((c: { name: string }) => c.name)).toEqual(['database', 'issuer:root-ca', 'issuer:issuing-ca']);
    expect(body.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  });

  it('/readyz is 503 problem+json when the database fails', async () => {
    const broken = {
      databaseReady: () => Promise.reject(new Error('connection refused')),
      issuers: () => anvil.authority.issuers(),
    } as unknown as Authority;
    const res = await opsRoutes({ authority: broken, metrics }).request('/readyz');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = await res.json();
    expect(body.code).toBe('not_ready');
    expect(body.detail).toMatch(/database: connection refused/);
  });

  it("/readyz is 503 when an issuer's signer holds another key", async () => {
    const [root, issuing] = anvil.authority.issuers();
    const swapped: LoadedIssuer = { ...issuing, signer: root.signer };
    const authority = { databaseReady: () => anvil.authority.databaseReady(), issuers: () => [root, swapped] } as unknown as Authority;
    const res = await opsRoutes({ authority, metrics }).request('/readyz');
    expect(res.status).toBe(503);
    expect((await res.json()).detail).toMatch(/issuer:issuing-ca: the signer's key does not match/);
  });

  it('/readyz is 503 with no issuer at all', async () => {
    const authority = { databaseReady: () => anvil.authority.databaseReady(), issuers: () => [] } as unknown as Authority;
    const res = await opsRoutes({ authority, metrics }).request('/readyz');
    expect(res.status).toBe(503);
    expect((await res.json()).detail).toMatch(/no issuer is loaded/);
  });
});

describe('/metrics', () => {
  it('counts issuance by profile and issuer, times it, and prefixes everything with anvil_', async () => {
    expect((await issue({ profile: 'client', subject: { CN: 'm1' }, sans: { dns: ['m1.test'] } })).status).toBe(201);
    expect((await issue({ profile: 'client', subject: { CN: 'm2' }, sans: { dns: ['m2.test'] } })).status).toBe(201);
    expect((await issue({ profile: 'server', sans: { dns: ['s.test'] } })).status).toBe(201);
    expect((await issue({ profile: 'client', sans: { dns: ['no-cn.test'] } })).status).toBe(422);

    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('anvil_certificates_issued_total{profile="client",issuer="issuing-ca"} 2');
    expect(text).toContain('anvil_certificates_issued_total{profile="server",issuer="issuing-ca"} 1');
    expect(text).toContain('anvil_issuance_duration_seconds_count{outcome="issued"} 3');
    expect(text).toContain('anvil_issuance_duration_seconds_count{outcome="refused"} 1');
    expect(text).toMatch(/^anvil_process_cpu_seconds_total /m);
    expect(text).toMatch(/^anvil_nodejs_heap_size_used_bytes /m);
    for (const name of [
      'anvil_certificates_revoked_total',
      'anvil_ocsp_responses_total',
      'anvil_judge_verdicts_total',
      'anvil_crl_number',
      'anvil_crl_age_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const names = text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/[{ ]/)[0]);
    expect(names.filter((n) => !n.startsWith('anvil_'))).toEqual([]);
  });

  it('reads CRL number and age from the provider at scrape time', async () => {
    metrics.setCrlStatusProvider(() => [{ issuer: 'issuing-ca', number: 42n, thisUpdate: new Date('2030-01-01T00:00:00Z') }]);
    const text = await (await app.request('/metrics')).text();
    expect(text).toContain('anvil_crl_number{issuer="issuing-ca"} 42');
    expect(text).toContain('anvil_crl_age_seconds{issuer="issuing-ca"} 600');
    metrics.setCrlStatusProvider(undefined);
  });

  it('keeps one registry per app: another app counts nothing of this one', async () => {
    const other = createApp({ authority: anvil.authority, log: pino({ level: 'silent' }) });
    const text = await (await other.request('/metrics')).text();
    expect(text).not.toMatch(/^anvil_certificates_issued_total\{/m);
  });

  it('counts revocations and OCSP answers through the route hooks', async () => {
    const res = await issue({ profile: 'client', subject: { CN: 'r1' }, sans: { dns: ['r1.test'] } });
    const { id } = await res.json();
    const revoke = () =>
      app.request(`/api/v1/certificates/${id}/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${anvil.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'superseded' }),
      });
    expect((await revoke()).status).toBe(200);
    expect((await revoke()).status).toBe(200); // unchanged the second time: not counted again
    expect(
      (await app.request('/ocsp', { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: 'not der' })).status,
    ).toBe(200);
    const text = await (await app.request('/metrics')).text();
    expect(text).toContain('anvil_certificates_revoked_total{profile="client",issuer="issuing-ca",reason="superseded"} 1');
    expect(text).toContain('anvil_ocsp_responses_total{status="malformedRequest"} 1');
  });

  it('exports counters other parts of the server increment', async () => {
    metrics.judgeVerdicts.inc({ status: 'failed', reason: 'expired' });
    metrics.ocspResponses.inc({ status: 'good' });
    metrics.certificatesRevoked.inc({ profile: 'client', issuer: 'issuing-ca', reason: 'keyCompromise' });
    const text = await (await app.request('/metrics')).text();
    expect(text).toContain('anvil_judge_verdicts_total{status="failed",reason="expired"} 1');
    expect(text).toContain('anvil_ocsp_responses_total{status="good"} 1');
    expect(text).toContain('anvil_certificates_revoked_total{profile="client",issuer="issuing-ca",reason="keyCompromise"} 1');
  });
});

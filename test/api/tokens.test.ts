/**
 * Scoped API tokens: create / list / get / revoke (admin only, audited), the 422 refusals (each
 * storing nothing), a partner token's limits at issuance (profiles, SAN patterns, fixed subject;
 * checked with openssl), ownership of a partner's certificates (another's is 404), and 401 for
 * revoked and expired tokens. Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { run, tempDir, writeFiles } from '../support/tools.ts';

let anvil: TestAnvil;
let dir: string;

beforeAll(async () => {
  anvil = await createTestAnvil();
  dir = tempDir('anvil-tokens-');
});
afterAll(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function json(res: Response | Promise<Response>): Promise<{ status: number; body: any; type: string | null }> {
  const r = await res;
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null, type: r.headers.get('content-type') };
}

async function createToken(body: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const r = await json(anvil.api('POST', '/api/v1/tokens', body));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

const PARTNER_SCOPES = ['certificates:issue', 'certificates:read', 'certificates:revoke'];

async function tokenCount(): Promise<number> {
  return (await json(anvil.api('GET', '/api/v1/tokens'))).body.items.length;
}

describe('token management', () => {
  it('creates, lists, reads and revokes a token; the token is shown once and never its hash', async () => {
    const created = await createToken({
      name: 'ci-bot',
      scopes: ['certificates:read'],
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(created.token).toMatch(/^anvil_[A-Za-z0-9_-]{43}$/);
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);

    const list = await json(anvil.api('GET', '/api/v1/tokens'));
    expect(list.status).toBe(200);
    const listed = list.body.items.find((t: { id: string }) => t.id === created.id);
    expect(listed).toMatchObject({ name: 'ci-bot', scopes: ['certificates:read'], status: 'active', revokedAt: null });
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(created.token);
    expect(text).not.toMatch(/[0-9a-f]{64}/); // no SHA-256 hash of any token

    const one = await json(anvil.api('GET', `/api/v1/tokens/${created.id}`));
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: created.id, name: 'ci-bot', profiles: null, sanPatterns: null, subject: null });
    expect(JSON.stringify(one.body)).not.toContain(created.token);

    // The token works until revoked.
    expect((await anvil.api('GET', '/api/v1/certificates', undefined, bearer(created.token))).status).toBe(200);
    const revoked = await json(anvil.api('POST', `/api/v1/tokens/${created.id}/revoke`));
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe('revoked');
    expect((await json(anvil.api('GET', `/api/v1/tokens/${created.id}`))).body.revokedAt).not.toBeNull();

    const audit = (await json(anvil.api('GET', '/api/v1/audit?limit=500'))).body.items as Array<{ action: string; target: string }>;
    expect(audit.some((e) => e.action === 'token.create' && e.target === created.id)).toBe(true);
    expect(audit.some((e) => e.action === 'token.revoke' && e.target === created.id)).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(created.token);
  });

  it('unknown token ids are 404', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expect((await json(anvil.api('GET', `/api/v1/tokens/${id}`))).body.code).toBe('token_not_found');
    expect((await json(anvil.api('POST', `/api/v1/tokens/${id}/revoke`))).status).toBe(404);
  });

  it('only admin tokens manage tokens', async () => {
    const reader = await createToken({ name: 'reader', scopes: ['certificates:read'] });
    for (const [method, path, body] of [
      ['GET', '/api/v1/tokens', undefined],
      ['POST', '/api/v1/tokens', { name: 'sneaky', scopes: ['admin'] }],
      ['GET', `/api/v1/tokens/${reader.id}`, undefined],
      ['POST', `/api/v1/tokens/${reader.id}/revoke`, undefined],
    ] as const) {
      const r = await json(anvil.api(method, path, body, bearer(reader.token)));
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.code).toBe('forbidden');
    }
    const names = (await json(anvil.api('GET', '/api/v1/tokens'))).body.items.map((t: { name: string }) => t.name);
    expect(names).not.toContain('sneaky');
  });

  it('refuses bad input with 422 and a stable code, storing nothing', async () => {
    const before = await tokenCount();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 'x', scopes: ['certificates:write'] }, 'invalid_scope'],
      [{ name: 'x', scopes: ['Admin'] }, 'invalid_scope'],
      [{ name: 'x', scopes: [] }, 'invalid_scope'],
      [{ name: 'x', scopes: ['certificates:issue'], profiles: ['no-such-profile'] }, 'unknown_profile'],
      [{ name: 'x', scopes: ['certificates:issue'], sanPatterns: ['*.*.partner-b.test'] }, 'invalid_san_pattern'],
      [{ name: 'x', scopes: ['certificates:issue'], sanPatterns: ['partner-*.test'] }, 'invalid_san_pattern'],
      [{ name: 'x', scopes: ['certificates:issue'], sanPatterns: ['*'] }, 'invalid_san_pattern'],
      [{ name: 'x', scopes: ['certificates:issue'], sanPatterns: ['spiffe://*'] }, 'invalid_san_pattern'],
      [{ name: 'x', scopes: ['certificates:issue'], sanPatterns: ['bad name.test'] }, 'invalid_san_pattern'],
      [{ name: 'x', scopes: ['certificates:issue'], subject: { X: 'y' } }, 'invalid_token_subject'],
      [{ name: 'x', scopes: ['certificates:issue'], expiresAt: new Date(Date.now() - 60_000).toISOString() }, 'expiry_in_past'],
      [{ name: 'x', scopes: ['certificates:issue'], expiresAt: 'tomorrow' }, 'invalid_expiry'],
      [{ name: 'x', scopes: ['admin'], profiles: ['client'] }, 'invalid_token_limits'],
      [{ name: '', scopes: ['certificates:read'] }, 'invalid_token_name'],
    ];
    for (const [body, code] of cases) {
      const r = await json(anvil.api('POST', '/api/v1/tokens', body));
      expect(r.status, `${JSON.stringify(body)} -> ${JSON.stringify(r.body)}`).toBe(422);
      expect(r.type).toBe('application/problem+json');
      expect(r.body.code, JSON.stringify(body)).toBe(code);
    }
    // A body of the wrong shape is the schema's 400.
    expect((await json(anvil.api('POST', '/api/v1/tokens', { name: 'x', scopes: 'admin' }))).status).toBe(400);
    expect((await json(anvil.api('POST', '/api/v1/tokens', { name: 'x', scopes: ['admin'], extra: 1 }))).status).toBe(400);
    expect(await tokenCount()).toBe(before);
  });
});

describe('a partner token', () => {
  let partnerB: { id: string; token: string };
  let partnerA: { id: string; token: string };
  let certB: { id: string; certificate: string; chain: string };
  let certA: { id: string };

  const issueAs = (token: string, body: unknown) => json(anvil.api('POST', '/api/v1/certificates', body, bearer(token)));
  const asB = (method: string, path: string, body?: unknown) => json(anvil.api(method, path, body, bearer(partnerB.token)));
  const asA = (method: string, path: string, body?: unknown) => json(anvil.api(method, path, body, bearer(partnerA.token)));

  beforeAll(async () => {
    partnerB = await createToken({
      name: 'partner-b',
      scopes: PARTNER_SCOPES,
      profiles: ['client'],
      sanPatterns: ['*.partner-b.test'],
      subject: { O: 'Partner B' },
    });
    partnerA = await createToken({ name: 'partner-a', scopes: PARTNER_SCOPES, profiles: ['client'], sanPatterns: ['*.partner-a.test'] });
  });

  it('is listed with its limits', async () => {
    const one = await json(anvil.api('GET', `/api/v1/tokens/${partnerB.id}`));
    expect(one.body).toMatchObject({ profiles: ['client'], sanPatterns: ['*.partner-b.test'], subject: { O: 'Partner B' } });
  });

  it('issues a client certificate for a name under its pattern, carrying its fixed subject (openssl agrees)', async () => {
    const r = await issueAs(partnerB.token, {
      profile: 'client',
      subject: { CN: 'api.partner-b.test' },
      sans: { dns: ['api.partner-b.test'] },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    certB = r.body;
    const trust = await (await anvil.app.request('/pki/trust-bundle.pem')).text();
    const paths = writeFiles(dir, { 'cert.pem': r.body.certificate, 'chain.pem': r.body.chain, 'trust.pem': trust });
    const shown = run('openssl', ['x509', '-in', paths['cert.pem'], '-noout', '-subject', '-ext', 'subjectAltName']);
    expect(shown.status, shown.out).toBe(0);
    expect(shown.out).toMatch(/O\s*=\s*Partner B/);
    expect(shown.out).toMatch(/CN\s*=\s*api\.partner-b\.test/);
    expect(shown.out).toContain('DNS:api.partner-b.test');
    const verify = run('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslclient',
      '-CAfile',
      paths['trust.pem'],
      '-untrusted',
      paths['chain.pem'],
      paths['cert.pem'],
    ]);
    expect(verify.out).toContain(': OK');

    // Asking for the fixed value itself is fine too.
    const same = await issueAs(partnerB.token, {
      profile: 'client',
      subject: { CN: 'w.partner-b.test', O: 'Partner B' },
      sans: { dns: ['w.x.partner-b.test'] },
    });
    expect(same.status, JSON.stringify(same.body)).toBe(201);
  });

  it('is refused outside each limit with 403 naming the limit, and nothing is issued', async () => {
    const count = async () => (await json(anvil.api('GET', '/api/v1/certificates?limit=500'))).body.items.length;
    const before = await count();
    const cases: Array<[unknown, string]> = [
      [{ profile: 'server', subject: { CN: 'api.partner-b.test' }, sans: { dns: ['api.partner-b.test'] } }, 'token_profile_not_allowed'],
      [{ profile: 'client', subject: { CN: 'c' }, sans: { dns: ['partner-b.test'] } }, 'token_san_not_allowed'],
      [{ profile: 'client', subject: { CN: 'c' }, sans: { dns: ['evil.test'] } }, 'token_san_not_allowed'],
      [{ profile: 'client', subject: { CN: 'c' }, sans: { dns: ['api.partner-b.test.evil.test'] } }, 'token_san_not_allowed'],
      [{ profile: 'client', subject: { CN: 'c' }, sans: { dns: ['api.partner-b.test', 'evil.test'] } }, 'token_san_not_allowed'],
      [{ profile: 'client', subject: { CN: 'evil.test' }, sans: { dns: ['api.partner-b.test'] } }, 'token_san_not_allowed'],
      [{ profile: 'client', subject: { CN: 'c', O: 'Other' }, sans: { dns: ['api.partner-b.test'] } }, 'token_subject_not_allowed'],
    ];
    for (const [body, code] of cases) {
      const r = await issueAs(partnerB.token, body);
      expect(r.status, `${JSON.stringify(body)} -> ${JSON.stringify(r.body)}`).toBe(403);
      expect(r.type).toBe('application/problem+json');
      expect(r.body.code).toBe(code);
    }
    expect(await count()).toBe(before);
    // The limits come from the token, never from the body.
    const smuggled = await issueAs(partnerB.token, {
      profile: 'client',
      subject: { CN: 'c' },
      sans: { dns: ['evil.test'] },
      tokenLimits: null,
    });
    expect(smuggled.status).toBeGreaterThanOrEqual(400);
    expect(smuggled.status).toBeLessThan(500);
    expect(await count()).toBe(before);
  });

  it('matches URI prefix patterns and exact names', async () => {
    const t = await createToken({
      name: 'spiffe-workload',
      scopes: ['certificates:issue'],
      profiles: ['client'],
      sanPatterns: ['spiffe://prod.example/partner-b/*', 'exact.partner-c.test'],
    });
    const ok = await issueAs(t.token, {
      profile: 'client',
      subject: { CN: 'w' },
      sans: { uri: ['spiffe://prod.example/partner-b/api'], dns: ['exact.partner-c.test'] },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    for (const sans of [
      { uri: ['spiffe://prod.example/partner-a/api'] },
      { uri: ['spiffe://prod.example/partner-b/'] },
      { dns: ['x.exact.partner-c.test'] },
    ]) {
      const r = await issueAs(t.token, { profile: 'client', subject: { CN: 'w' }, sans });
      expect(r.status, JSON.stringify(sans)).toBe(403);
      expect(r.body.code).toBe('token_san_not_allowed');
    }
  });

  it("sees and revokes only its own certificates; another partner's are 404", async () => {
    const issued = await issueAs(partnerA.token, {
      profile: 'client',
      subject: { CN: 'svc.partner-a.test' },
      sans: { dns: ['svc.partner-a.test'] },
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    certA = issued.body;

    const listA = await asA('GET', '/api/v1/certificates?limit=500');
    expect(listA.status).toBe(200);
    expect(listA.body.items.map((c: { id: string }) => c.id)).toEqual([certA.id]);
    const listB = await asB('GET', '/api/v1/certificates?limit=500');
    expect(listB.body.items.map((c: { id: string }) => c.id)).toContain(certB.id);
    expect(listB.body.items.map((c: { id: string }) => c.id)).not.toContain(certA.id);
    // An admin token sees all.
    const all = (await json(anvil.api('GET', '/api/v1/certificates?limit=500'))).body.items.map((c: { id: string }) => c.id);
    expect(all).toEqual(expect.arrayContaining([certA.id, certB.id]));

    for (const path of ['', '/cert.pem', '/chain.pem', '/fullchain.pem', '/cert.der', '/bundle.p7b', '/bundle.p7b.pem', '/secret.yaml']) {
      const other = await anvil.api('GET', `/api/v1/certificates/${certB.id}${path}`, undefined, bearer(partnerA.token));
      expect(other.status, `A reads B${path}`).toBe(404);
      expect((await other.json()).code).toBe('certificate_not_found');
      const own = await anvil.api('GET', `/api/v1/certificates/${certA.id}${path}`, undefined, bearer(partnerA.token));
      expect(own.status, `A reads A${path}`).toBe(200);
    }
    const revokeOther = await asA('POST', `/api/v1/certificates/${certB.id}/revoke`, { reason: 'keyCompromise' });
    expect(revokeOther.status).toBe(404);
    expect(revokeOther.body.code).toBe('certificate_not_found');
    expect((await asA('POST', `/api/v1/certificates/${certB.id}/release`)).status).toBe(404);
    expect((await asA('POST', '/api/v1/certificates/revoke', { ids: [certA.id, certB.id], reason: 'superseded' })).status).toBe(404);
    const bySerial = await asA('POST', '/api/v1/certificates/revoke', { issuer: 'issuing-ca', serial: '01', reason: 'superseded' });
    expect(bySerial.status).toBe(403);
    expect(bySerial.body.code).toBe('token_revoke_by_serial_not_allowed');
    expect((await asB('GET', `/api/v1/certificates/${certB.id}`)).body.status).toBe('active');
    expect((await json(anvil.api('GET', `/api/v1/certificates/${certA.id}`))).body.status).toBe('active');

    const revokeOwn = await asA('POST', `/api/v1/certificates/${certA.id}/revoke`, { reason: 'keyCompromise' });
    expect(revokeOwn.status, JSON.stringify(revokeOwn.body)).toBe(200);
    expect(revokeOwn.body.status).toBe('revoked');
  });

  it('needs the scope of each route', async () => {
    const issueOnly = await createToken({ name: 'issue-only', scopes: ['certificates:issue'], profiles: ['client'] });
    const r = await json(anvil.api('GET', '/api/v1/certificates', undefined, bearer(issueOnly.token)));
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('forbidden');
    expect(
      (await json(anvil.api('POST', `/api/v1/certificates/${certB.id}/revoke`, { reason: 'superseded' }, bearer(issueOnly.token)))).status,
    ).toBe(403);
    expect((await json(anvil.api('POST', '/api/v1/judge', { chain: certB.certificate }, bearer(issueOnly.token)))).status).toBe(403);
    const judge = await createToken({ name: 'judge-only', scopes: ['judge'] });
    expect((await json(anvil.api('POST', '/api/v1/judge', { chain: certB.certificate }, bearer(judge.token)))).status).toBe(200);
    expect((await json(anvil.api('POST', '/api/v1/certificates', { profile: 'client' }, bearer(judge.token)))).status).toBe(403);
    // The older name `revoke` still carries certificates:revoke.
    const legacy = await createToken({ name: 'legacy-revoker', scopes: ['revoke'] });
    const held = await json(
      anvil.api('POST', `/api/v1/certificates/${certB.id}/revoke`, { reason: 'certificateHold' }, bearer(legacy.token)),
    );
    expect(held.status, JSON.stringify(held.body)).toBe(200);
    expect((await json(anvil.api('POST', `/api/v1/certificates/${certB.id}/release`, undefined, bearer(legacy.token)))).status).toBe(200);
  });
});

describe('token lifetime', () => {
  it('a revoked token is refused (401) within 5 s', async () => {
    const t = await createToken({ name: 'short-lived-partner', scopes: ['certificates:read'] });
    expect((await anvil.api('GET', '/api/v1/certificates', undefined, bearer(t.token))).status).toBe(200); // now cached
    expect((await anvil.api('POST', `/api/v1/tokens/${t.id}/revoke`)).status).toBe(200);
    const start = Date.now();
    let status = 200;
    while (Date.now() - start < 7_000) {
      const r = await json(anvil.api('GET', '/api/v1/certificates', undefined, bearer(t.token)));
      status = r.status;
      if (status === 401) {
        expect(r.body.code).toBe('invalid_token');
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(401);
    expect(Date.now() - start).toBeLessThanOrEqual(5_500);
  }, 15_000);

  it('an expired token is refused (401), even while its row is cached', async () => {
    const t = await createToken({ name: 'expiring', scopes: ['certificates:read'], expiresAt: new Date(Date.now() + 1_500).toISOString() });
    expect((await anvil.api('GET', '/api/v1/certificates', undefined, bearer(t.token))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_700));
    const r = await json(anvil.api('GET', '/api/v1/certificates', undefined, bearer(t.token)));
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('invalid_token');
    expect((await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body.status).toBe('expired');
  }, 10_000);

  it('an unknown token is 401', async () => {
    expect((await anvil.api('GET', '/api/v1/certificates', undefined, bearer('anvil_nope'))).status).toBe(401);
  });

  it('records last use, at most once a minute', async () => {
    const t = await createToken({ name: 'used', scopes: ['certificates:read'] });
    expect((await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body.lastUsedAt).toBeNull();
    expect((await anvil.api('GET', '/api/v1/certificates', undefined, bearer(t.token))).status).toBe(200);
    const first = (await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body.lastUsedAt;
    expect(first).not.toBeNull();
    // A later write within the minute changes nothing (the store's conditional update).
    await anvil.store.touchToken(t.id, new Date(Date.parse(first) + 30_000), 60_000);
    expect((await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body.lastUsedAt).toBe(first);
    await anvil.store.touchToken(t.id, new Date(Date.parse(first) + 61_000), 60_000);
    expect((await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body.lastUsedAt).not.toBe(first);
  });
});

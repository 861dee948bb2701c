/**
 * Enrollment invitations: created by an admin (the URL shown once, the secret never stored or
 * listed), the 422 refusals storing nothing, the partner's page (HTML and JSON), enrolment by a
 * pasted or uploaded CSR, by `application/pkcs10`, by JSON and with a key made here (PKCS#12,
 * read back by openssl), exactly the subject and names the invitation allows (openssl verify
 * -x509_strict -purpose sslclient), one use even when two arrive at once, and the 410 pages of a
 * used, expired or withdrawn invitation. Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { run, tempDir, writeFiles } from '../support/tools.ts';

let anvil: TestAnvil;
let dir: string;
let trustPath: string;
/** The test clock runs `skew` ms ahead of the wall clock (expiry tests move it). */
let skew = 0;

beforeAll(async () => {
  anvil = await createTestAnvil({ now: () => new Date(Date.now() + skew) });
  dir = tempDir('anvil-invitations-');
  trustPath = writeFiles(dir, { 'trust.pem': await (await anvil.app.request('/pki/trust-bundle.pem')).text() })['trust.pem'];
});
afterAll(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function json(res: Response | Promise<Response>): Promise<{ status: number; body: any; type: string | null; text: string }> {
  const r = await res;
  const text = await r.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return { status: r.status, body, type: r.headers.get('content-type'), text };
}

async function invite(body: Record<string, unknown>): Promise<{ id: string; url: string; secret: string; body: any }> {
  const r = await json(anvil.api('POST', '/api/v1/invitations', body));
  expect(r.status, r.text).toBe(201);
  const secret = new URL(r.body.url).pathname.split('/').pop()!;
  return { id: r.body.id, url: r.body.url, secret, body: r.body };
}

const enrollPath = (secret: string) => `/enroll/${secret}`;

let csrCounter = 0;
/** An EC key and CSR made by openssl, with the subject and SANs the partner chose. */
function makeCsr(subj: string, san?: string): { csr: string; keyPath: string; csrPath: string; der: Uint8Array } {
  const n = ++csrCounter;
  const keyPath = join(dir, `k${n}.pem`);
  const csrPath = join(dir, `r${n}.csr`);
  const args = [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    csrPath,
    '-subj',
    subj,
  ];
  if (san) args.push('-addext', `subjectAltName=${san}`);
  const made = run('openssl', args);
  expect(made.status, made.out).toBe(0);
  const derPath = `${csrPath}.der`;
  expect(run('openssl', ['req', '-in', csrPath, '-outform', 'DER', '-out', derPath]).status).toBe(0);
  return { csr: readFileSync(csrPath, 'utf8'), keyPath, csrPath, der: new Uint8Array(readFileSync(derPath)) };
}

/** openssl's view of a full chain: verify as a TLS client, and the leaf's subject and SANs. */
function judged(fullchain: string): { verify: string; subject: string; sans: string } {
  const n = ++csrCounter;
  const blocks = fullchain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
  const p = writeFiles(dir, { [`leaf${n}.pem`]: blocks[0], [`chain${n}.pem`]: blocks.slice(1).join('') });
  const verify = run('openssl', [
    'verify',
    '-x509_strict',
    '-purpose',
    'sslclient',
    '-CAfile',
    trustPath,
    '-untrusted',
    p[`chain${n}.pem`],
    p[`leaf${n}.pem`],
  ]);
  const shown = run('openssl', ['x509', '-in', p[`leaf${n}.pem`], '-noout', '-subject', '-ext', 'subjectAltName', '-nameopt', 'RFC2253']);
  return {
    verify: verify.out,
    subject: shown.out.split('\n')[0],
    sans: shown.out.split('\n').slice(1).join(' ').replace(/\s+/g, ' ').trim(),
  };
}

async function invitationCount(): Promise<number> {
  return (await json(anvil.api('GET', '/api/v1/invitations?limit=500'))).body.items.length;
}

async function certificateCount(): Promise<number> {
  return (await json(anvil.api('GET', '/api/v1/certificates?limit=500'))).body.items.length;
}

const PARTNER_B = {
  name: 'Partner B payments',
  profile: 'client',
  subject: { O: 'Partner B' },
  sans: { dns: ['pay.partner-b.test'], uri: ['spiffe://prod.example/partner-b/pay'] },
  ttl: '30d',
};

describe('invitation management', () => {
  it('creates an invitation whose URL is shown once; lists and reads never show the secret or its hash; audited', async () => {
    const inv = await invite(PARTNER_B);
    expect(inv.url).toMatch(/^http:\/\/anvil\.test\/enroll\/anvil_inv_[A-Za-z0-9_-]{43}$/);
    expect(inv.body).toMatchObject({ status: 'pending', profile: 'client', subject: { O: 'Partner B' }, ttlSeconds: 30 * 86400 });
    // Default expiry: 7 days.
    const days = (Date.parse(inv.body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);

    const list = await json(anvil.api('GET', '/api/v1/invitations'));
    expect(list.status).toBe(200);
    const one = await json(anvil.api('GET', `/api/v1/invitations/${inv.id}`));
    expect(one.body).toMatchObject({ id: inv.id, name: 'Partner B payments', usedAt: null });
    const audit = await json(anvil.api('GET', '/api/v1/audit?action=invitation.create&limit=50'));
    expect(audit.body.items.some((e: { target: string }) => e.target === inv.id)).toBe(true);
    const secretHash = createHash('sha256').update(inv.secret).digest('hex');
    for (const text of [list.text, one.text, audit.text]) {
      expect(text).not.toContain(inv.secret);
      expect(text).not.toContain(secretHash);
    }
    expect(list.text).not.toMatch(/[0-9a-f]{64}/);
    // The database holds only the hash.
    const rows = (await anvil.store.listInvitations({ limit: 500 })) as unknown[];
    expect(JSON.stringify(rows)).not.toContain(inv.secret);
  });

  it.each([
    [{ ...PARTNER_B, profile: 'no-such-profile' }, 'unknown_profile'],
    [{ ...PARTNER_B, profile: 'intermediate' }, 'unknown_profile'],
    [{ name: 'x', profile: 'client' }, 'invitation_names_required'],
    [{ ...PARTNER_B, sans: {} }, 'invitation_names_required'],
    [{ name: 'x', profile: 'client', sanPatterns: ['*.'] }, 'invalid_san_pattern'],
    [{ name: 'x', profile: 'client', sanPatterns: ['a*b.test'] }, 'invalid_san_pattern'],
    [{ ...PARTNER_B, sans: { dns: ['not a name'] } }, 'invalid_dns_name'],
    [{ ...PARTNER_B, expiresAt: '2001-01-01T00:00:00Z' }, 'expiry_in_past'],
    [{ ...PARTNER_B, expiresAt: 'tomorrow' }, 'invalid_expiry'],
    [{ ...PARTNER_B, expiresAt: new Date(Date.now() + 40 * 86_400_000).toISOString() }, 'expiry_too_far'],
    [{ ...PARTNER_B, ttl: '9999d' }, 'ttl_too_long'],
    [{ ...PARTNER_B, name: '' }, 'invalid_invitation_name'],
    [{ ...PARTNER_B, subject: { O: 'Partner\u0000B' } }, 'validation_failed'],
  ])('refuses %j with %s and stores nothing', async (body, code) => {
    const before = await invitationCount();
    const r = await json(anvil.api('POST', '/api/v1/invitations', body));
    expect([400, 422], r.text).toContain(r.status);
    expect(r.type).toContain('application/problem+json');
    if (code !== 'validation_failed') expect(r.body.code).toBe(code);
    expect(await invitationCount()).toBe(before);
  });

  it('is admin only: a token without the admin scope gets 403', async () => {
    const t = await json(anvil.api('POST', '/api/v1/tokens', { name: 'reader', scopes: ['certificates:read', 'certificates:issue'] }));
    const r = await anvil.app.request('/api/v1/invitations', {
      method: 'POST',
      headers: { authorization: `Bearer ${t.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(PARTNER_B),
    });
    expect(r.status).toBe(403);
  });
});

describe('enrolment', () => {
  it('shows the partner what will be issued and for whom, as HTML and as JSON, without an account', async () => {
    const inv = await invite(PARTNER_B);
    const page = await anvil.app.request(enrollPath(inv.secret));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Certificate for Partner B payments');
    expect(html).toContain('pay.partner-b.test');
    expect(html).toContain('spiffe://prod.example/partner-b/pay');
    expect(html).toContain('O=Partner B');
    expect(html).toContain(`anvil enroll &#39;${inv.url}&#39;`);
    expect(html).not.toContain('Sign out'); // no console frame
    const asJson = await json(anvil.app.request(enrollPath(inv.secret), { headers: { accept: 'application/json' } }));
    expect(asJson.body).toMatchObject({ name: 'Partner B payments', profile: 'client', status: 'pending', subject: { O: 'Partner B' } });
  });

  it('issues once from a pasted CSR, with exactly the invitation’s subject and names (openssl verify -purpose sslclient); then 410', async () => {
    const inv = await invite(PARTNER_B);
    // The partner's CSR asks for other names and another organisation: the invitation's win.
    const { csr } = makeCsr('/CN=pay.partner-b.test/O=Evil Corp', 'DNS:bank.example,DNS:pay.partner-b.test');
    const form = new FormData();
    form.set('method', 'csr');
    form.set('csr', csr);
    const res = await anvil.app.request(enrollPath(inv.secret), { method: 'POST', body: form });
    const html = await res.text();
    expect(res.status, html).toBe(201);
    expect(html).toContain('Certificate issued');
    const fullchain = await (await anvil.app.request(`${enrollPath(inv.secret)}/fullchain.pem`)).text();
    const seen = judged(fullchain);
    expect(seen.verify).toContain(': OK');
    expect(seen.subject).toBe('subject=CN=pay.partner-b.test,O=Partner B');
    expect(seen.sans).toBe('X509v3 Subject Alternative Name: DNS:pay.partner-b.test, URI:spiffe://prod.example/partner-b/pay');

    const again = await anvil.app.request(enrollPath(inv.secret), { method: 'POST', body: form });
    expect(again.status).toBe(410);
    const refused = await again.text();
    expect(refused).toContain('This invitation was used');
    expect(refused).toContain('invitation_used');
    const shown = await anvil.app.request(enrollPath(inv.secret));
    expect(shown.status).toBe(410);
    expect(await shown.text()).toContain('fullchain.pem');
    const viaApi = await json(anvil.api('GET', `/api/v1/invitations/${inv.id}`));
    expect(viaApi.body).toMatchObject({ status: 'used' });
    expect(viaApi.body.certificateId).toMatch(/^[0-9a-f-]{36}$/);
    const cert = await json(anvil.api('GET', `/api/v1/certificates/${viaApi.body.certificateId}`));
    expect(cert.body.subject).toContain('O=Partner B');
    // Both uses are on the trail, the invitation as the actor; the refusal with its code.
    const trail = (await json(anvil.api('GET', `/api/v1/audit?actor=${inv.id}&limit=50`))).body.items as Array<{
      outcome: string;
      target: string | null;
      details: { code?: string };
    }>;
    expect(trail.find((e) => e.outcome === 'success')?.target).toBe(viaApi.body.certificateId);
    expect(trail.some((e) => e.outcome === 'failure' && e.details.code === 'invitation_used')).toBe(true);
  });

  it('takes an uploaded CSR file (DER), a bare application/pkcs10 body (curl) and JSON (anvil enroll)', async () => {
    const patterns = { name: 'Partner C', profile: 'client', sanPatterns: ['*.partner-c.test'], subject: { O: 'Partner C' } };
    const a = await invite(patterns);
    const upload = makeCsr('/CN=one.partner-c.test', 'DNS:one.partner-c.test');
    const form = new FormData();
    form.set('method', 'csr');
    form.set('csrFile', new File([upload.der], 'req.der'));
    expect((await anvil.app.request(enrollPath(a.secret), { method: 'POST', body: form })).status).toBe(201);

    const b = await invite(patterns);
    const curl = makeCsr('/CN=two.partner-c.test', 'DNS:two.partner-c.test');
    const pem = await anvil.app.request(enrollPath(b.secret), {
      method: 'POST',
      headers: { 'content-type': 'application/pkcs10' },
      body: curl.csr,
    });
    expect(pem.status).toBe(201);
    expect(pem.headers.get('content-type')).toBe('application/pem-certificate-chain');
    const seen = judged(await pem.text());
    expect(seen.verify).toContain(': OK');
    expect(seen.subject).toBe('subject=CN=two.partner-c.test,O=Partner C');
    expect(seen.sans).toContain('DNS:two.partner-c.test');

    const c = await invite(patterns);
    const j = makeCsr('/CN=three.partner-c.test', 'DNS:three.partner-c.test');
    const r = await json(
      anvil.app.request(enrollPath(c.secret), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr: j.csr }),
      }),
    );
    expect(r.status, r.text).toBe(201);
    expect(r.body.privateKey).toBeUndefined();
    expect(judged(r.body.fullchain).verify).toContain(': OK');
  });

  it('refuses a CSR outside the patterns with 403 naming the limit, and the invitation stays usable', async () => {
    const inv = await invite({ name: 'Partner D', profile: 'client', sanPatterns: ['*.partner-d.test'] });
    const before = await certificateCount();
    for (const [subj, san] of [
      ['/CN=x.partner-d.test', 'DNS:x.partner-e.test'],
      ['/CN=bank.example', 'DNS:y.partner-d.test'],
      ['/CN=partner-d.test', 'DNS:partner-d.test'],
    ] as const) {
      const { csr } = makeCsr(subj, san);
      const r = await json(
        anvil.app.request(enrollPath(inv.secret), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ csr }),
        }),
      );
      expect(r.status, r.text).toBe(403);
      expect(r.body.code).toBe('invitation_san_not_allowed');
    }
    // The HTML form says so beside the field.
    const form = new FormData();
    form.set('method', 'csr');
    form.set('csr', makeCsr('/CN=z.partner-d.test', 'DNS:z.evil.test').csr);
    const page = await anvil.app.request(enrollPath(inv.secret), { method: 'POST', body: form });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('invitation_san_not_allowed');
    expect(await certificateCount()).toBe(before);
    const bad = await json(
      anvil.app.request(enrollPath(inv.secret), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr: 'not a csr' }),
      }),
    );
    expect(bad.status).toBe(422);
    expect((await json(anvil.api('GET', `/api/v1/invitations/${inv.id}`))).body.status).toBe('pending');
    const ok = makeCsr('/CN=ok.partner-d.test', 'DNS:ok.partner-d.test');
    const r = await json(
      anvil.app.request(enrollPath(inv.secret), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr: ok.csr }),
      }),
    );
    expect(r.status, r.text).toBe(201);
  });

  it('makes the key here and answers with a PKCS#12 openssl opens with the password', async () => {
    const inv = await invite(PARTNER_B);
    const form = new FormData();
    form.set('method', 'generate');
    form.set('keyAlgorithm', 'EC-P256');
    form.set('pkcs12Password', 'short');
    const refused = await anvil.app.request(enrollPath(inv.secret), { method: 'POST', body: form });
    expect(refused.status).toBe(422);
    form.set('pkcs12Password', 'partner b p12 password');
    const res = await anvil.app.request(enrollPath(inv.secret), { method: 'POST', body: form });
    const html = await res.text();
    expect(res.status).toBe(201);
    const m = /href="data:application\/x-pkcs12;base64,([^"]+)"/.exec(html);
    expect(m).not.toBeNull();
    const p12 = writeFiles(dir, { 'partner-b.p12': new Uint8Array(Buffer.from(m![1], 'base64')) })['partner-b.p12'];
    const opened = run('openssl', ['pkcs12', '-in', p12, '-passin', 'pass:partner b p12 password', '-nodes', '-info']);
    expect(opened.status, opened.out).toBe(0);
    expect(opened.out).toContain('BEGIN PRIVATE KEY');
    expect(opened.out).toMatch(/subject=.*O\s*=\s*Partner B/);
    expect(run('openssl', ['pkcs12', '-in', p12, '-passin', 'pass:wrong', '-nodes']).status).not.toBe(0);
  });

  it('issues one certificate when two uses arrive at once', async () => {
    const inv = await invite(PARTNER_B);
    const before = await certificateCount();
    const send = () =>
      anvil.app.request(enrollPath(inv.secret), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr: makeCsr('/CN=pay.partner-b.test').csr }),
      });
    const statuses = (await Promise.all([send(), send(), send()])).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 410, 410]);
    expect(await certificateCount()).toBe(before + 1);
  });

  it('refuses a withdrawn, an expired and an unknown invitation with a page that says which', async () => {
    const withdrawn = await invite(PARTNER_B);
    const r = await json(anvil.api('POST', `/api/v1/invitations/${withdrawn.id}/revoke`));
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('revoked');
    const w = await anvil.app.request(enrollPath(withdrawn.secret));
    expect(w.status).toBe(410);
    expect(await w.text()).toContain('This invitation was withdrawn');

    const soon = await invite({ ...PARTNER_B, expiresAt: new Date(Date.now() + 60_000).toISOString() });
    skew = 120_000;
    try {
      const e = await anvil.app.request(enrollPath(soon.secret));
      expect(e.status).toBe(410);
      expect(await e.text()).toContain('This invitation has expired');
      const ej = await json(
        anvil.app.request(enrollPath(soon.secret), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ keyAlgorithm: 'EC-P256' }),
        }),
      );
      expect(ej.status).toBe(410);
      expect(ej.body.code).toBe('invitation_expired');
      expect((await json(anvil.api('GET', `/api/v1/invitations/${soon.id}`))).body.status).toBe('expired');
    } finally {
      skew = 0;
    }

    const unknown = await anvil.app.request('/enroll/anvil_inv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('Unknown invitation');
    expect((await anvil.app.request('/enroll/garbage', { headers: { accept: 'application/json' } })).status).toBe(404);
  });

  it('a used invitation cannot be withdrawn (409); its certificate is revoked instead', async () => {
    const inv = await invite(PARTNER_B);
    const r = await json(
      anvil.app.request(enrollPath(inv.secret), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ keyAlgorithm: 'EC-P256' }),
      }),
    );
    expect(r.status).toBe(201);
    expect(r.body.privateKey).toContain('BEGIN PRIVATE KEY');
    const w = await json(anvil.api('POST', `/api/v1/invitations/${inv.id}/revoke`));
    expect(w.status).toBe(409);
    expect(w.body.code).toBe('invitation_used');
  });

  it('refuses bad bodies with problem+json and issues nothing', async () => {
    const inv = await invite(PARTNER_B);
    const before = await certificateCount();
    for (const [type, body, status] of [
      ['application/json', '{', 400],
      ['application/json', JSON.stringify({ csr: 1 }), 400],
      ['application/json', JSON.stringify({ keyAlgorithm: 'DSA-1024' }), 400],
      ['application/json', JSON.stringify({ extra: true }), 400],
      ['text/plain', 'hello', 415],
      ['application/pkcs10', 'garbage', 422],
    ] as const) {
      const r = await json(anvil.app.request(enrollPath(inv.secret), { method: 'POST', headers: { 'content-type': type }, body }));
      expect(r.status, `${type} ${body}: ${r.text}`).toBe(status);
      expect(r.type).toContain('application/problem+json');
    }
    expect(await certificateCount()).toBe(before);
    expect((await json(anvil.api('GET', `/api/v1/invitations/${inv.id}`))).body.status).toBe('pending');
  });
});

/**
 * The console's certificate list, certificate page and revocation flow, in process (PGlite, and
 * PostgreSQL with ANVIL_TEST_DB=postgres): search over CN, O, SAN, serial and fingerprint,
 * filters, expiry order and keyset pages; every decoded field, the live OCSP status and the
 * downloads checked by openssl; revoking exactly what was confirmed (look-alikes, a double
 * submit, a whole partner), the CRL and OCSP after it; auditors without controls and refused.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ConsoleClient, textOf, type ConsolePage } from '../support/console.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
let admin: ConsoleClient;

interface Issued {
  id: string;
  serial: string;
  fingerprintSha256: string;
  notAfter: string;
  certificate: string;
  status: string;
}

async function issue(body: Record<string, unknown>): Promise<Issued> {
  const res = await anvil.api('POST', '/api/v1/certificates', body);
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Issued;
}

const client = (cn: string, o: string, extra: Record<string, unknown> = {}) =>
  issue({ profile: 'client', subject: { CN: cn, O: o }, sans: { dns: [`${cn}.partners.test`] }, ...extra });

/** The certificate ids a list page links to, in order, once each. */
function idsOf(html: string): string[] {
  return [...new Set([...html.matchAll(/href="\/certificates\/([0-9a-f-]{36})"/g)].map((m) => m[1]))];
}

function nextLink(html: string): string | null {
  const m = /<a href="([^"]+)">Next page<\/a>/.exec(html);
  return m ? m[1].replaceAll('&amp;', '&') : null;
}

const list = (params: Record<string, string>) => admin.get(`/certificates?${new URLSearchParams(params)}`);

function openssl(args: string[], input?: Uint8Array | string): string {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}

/** A serial as openssl prints it (no sign octet, upper case). */
const opensslSerial = (hex: string) => hex.replace(/^(00)+(?=[0-9a-f])/, '').toUpperCase();

async function status(id: string): Promise<string> {
  return (await anvil.authority.certificate(id)).status;
}

beforeAll(async () => {
  anvil = await createTestAnvil();
  admin = new ConsoleClient(anvil);
  expect((await admin.signIn()).url).toBe('/');
}, 60_000);
afterAll(() => anvil?.close());

describe('search, filters, order and pages', () => {
  let acme: Issued;
  let globex: Issued;
  let server: Issued;

  beforeAll(async () => {
    acme = await client('gateway-acme', 'Acme Logistics', { ttl: '5d' });
    globex = await client('gateway-globex', 'Globex Freight', { ttl: '20d' });
    server = await issue({
      profile: 'server',
      subject: { CN: 'edge.initrode.test', O: 'Initrode' },
      sans: { dns: ['edge.initrode.test', 'alt-initrode.test'] },
      ttl: '60d',
    });
  });

  it.each([
    ['organisation', 'Acme Logistics', () => acme],
    ['organisation, any case', 'globex freight', () => globex],
    ['CN substring', 'gateway-glob', () => globex],
    ['SAN', 'alt-initrode.test', () => server],
  ])('finds by %s', async (_what, q, expected) => {
    const page = await list({ q });
    expect(page.status).toBe(200);
    expect(idsOf(page.html)).toEqual([expected().id]);
  });

  it('finds by serial with and without colons, and by SHA-256 fingerprint (either form)', async () => {
    const colons = (hex: string) => hex.match(/../g)!.join(':');
    expect(idsOf((await list({ q: acme.serial })).html)).toEqual([acme.id]);
    expect(idsOf((await list({ q: colons(acme.serial).toUpperCase() })).html)).toEqual([acme.id]);
    const x = new X509Certificate(globex.certificate);
    expect(x.fingerprint256.replaceAll(':', '').toLowerCase()).toBe(globex.fingerprintSha256);
    expect(idsOf((await list({ q: globex.fingerprintSha256 })).html)).toEqual([globex.id]);
    expect(idsOf((await list({ q: x.fingerprint256 })).html)).toEqual([globex.id]);
  });

  it('shows each row: CN and O, SANs, profile, issuer, serial, status and time left', async () => {
    const text = textOf((await list({ q: 'Initrode' })).html);
    for (const part of ['edge.initrode.test', 'Initrode', 'DNS:alt-initrode.test', 'server', 'issuing-ca', server.serial, 'active']) {
      expect(text).toContain(part);
    }
    expect(text).toMatch(/\(in (59|60) days\)/);
  });

  it('filters by status, profile, issuer and expiry date; sorts by expiry', async () => {
    expect(idsOf((await list({ profile: 'server' })).html)).toEqual([server.id]);
    expect(idsOf((await list({ issuer: 'issuing-ca', q: 'gateway-' })).html).sort()).toEqual([acme.id, globex.id].sort());
    const in10days = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    expect(idsOf((await list({ expiresBefore: in10days, q: 'gateway-' })).html)).toEqual([acme.id]);
    expect(idsOf((await list({ q: 'gateway-', sort: 'expiry' })).html)).toEqual([acme.id, globex.id]);
    expect(idsOf((await list({ q: 'gateway-' })).html)).toEqual([globex.id, acme.id]);
    expect(idsOf((await list({ status: 'revoked', q: 'gateway-' })).html)).toEqual([]);
    expect(idsOf((await list({ status: 'active', q: 'gateway-' })).html)).toHaveLength(2);
  });

  it('walks keyset pages of 50 (newest first and by expiry) without gaps or repeats', async () => {
    const made: Issued[] = [];
    for (let i = 0; i < 60; i++) made.push(await client(`bulk-${String(i).padStart(2, '0')}`, 'Bulk Partner', { ttl: `${30 + (i % 7)}d` }));
    for (const sort of ['', 'expiry']) {
      const first = await list({ q: 'bulk partner', sort });
      const page1 = idsOf(first.html);
      expect(page1).toHaveLength(50);
      const next = nextLink(first.html);
      expect(next).toMatch(/cursor=/);
      expect(next).toContain('q=bulk+partner');
      const second = await admin.get(next!);
      const page2 = idsOf(second.html);
      expect(page2).toHaveLength(10);
      expect(nextLink(second.html)).toBeNull();
      expect(textOf(second.html)).toContain('First page');
      expect(new Set([...page1, ...page2])).toEqual(new Set(made.map((m) => m.id)));
      if (sort === 'expiry') {
        const notAfter = new Map(made.map((m) => [m.id, m.notAfter]));
        const order = [...page1, ...page2].map((id) => notAfter.get(id)!);
        expect(order).toEqual([...order].sort());
      } else {
        expect([...page1, ...page2]).toEqual(made.map((m) => m.id).reverse());
      }
    }
  }, 120_000);

  it('shows a bad filter again with its value and the error beside the field; a bad cursor is a message, never a 500', async () => {
    const bad = await list({ status: 'bogus', q: 'kept text', expiresBefore: '2030-13-45' });
    expect(bad.status).toBe(400);
    expect(bad.html).toMatch(/<option value="bogus" selected="">bogus \(unknown\)<\/option>/);
    expect(bad.html).toContain('value="kept text"');
    expect(bad.html).toContain('value="2030-13-45"');
    expect(bad.html).toMatch(/id="f-status-error"[^>]*>Choose active, revoked, or any status/);
    expect(bad.html).toMatch(/id="f-expiresBefore-error"[^>]*>Write a date as YYYY-MM-DD/);
    expect(bad.html).toContain('aria-invalid="true"');
    for (const params of <Record<string, string>[]>[
      { profile: 'nope' },
      { issuer: 'nope' },
      { sort: 'sideways' },
      { q: 'x'.repeat(300) },
    ]) {
      expect((await list(params)).status).toBe(400);
    }
    for (const cursor of ['garbage', Buffer.from('00000000-0000-4000-8000-000000000000').toString('base64url'), '%%%', 'x'.repeat(600)]) {
      const page = await list({ cursor });
      expect(page.status).toBe(400);
      expect(textOf(page.html)).toContain('This page link is not valid');
    }
    expect((await admin.get('/certificates?q=%25_%5C')).status).toBe(200);
  });
});

describe('certificate page', () => {
  let cert: Issued;
  beforeAll(async () => {
    cert = await issue({
      profile: 'server',
      subject: { CN: 'detail.example.test', O: 'Detail Partner' },
      sans: { dns: ['detail.example.test'], ip: ['192.0.2.7'] },
      ttl: '30d',
    });
  });

  it('shows every decoded field in words and the live OCSP status, good then revoked', async () => {
    const page = await admin.get(`/certificates/${cert.id}`);
    expect(page.status).toBe(200);
    expect(page.html.match(/<h1>/g)).toHaveLength(1);
    const text = textOf(page.html);
    const x = new X509Certificate(cert.certificate);
    for (const part of [
      'CN=detail.example.test',
      'O=Detail Partner',
      'DNS:detail.example.test',
      'IP:192.0.2.7',
      'digital signature',
      'TLS server authentication (serverAuth)',
      'not a CA',
      cert.serial,
      x.fingerprint256,
      x.fingerprint,
      'EC-P256',
      'prime256v1',
      `${anvil.publicUrl}/pki/crl/issuing-ca.crl`,
      `${anvil.publicUrl}/ocsp`,
      'issuing-ca',
      'root-ca',
      '(in 30 days)',
      'certificate.issue',
    ]) {
      expect(text).toContain(part);
    }
    expect(text).toMatch(/Live OCSP status .* good/);

    const revoked = await anvil.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
    expect(revoked.status).toBe(200);
    const after = textOf((await admin.get(`/certificates/${cert.id}`)).html);
    expect(after).toMatch(/Live OCSP status .* revoked since .* \(reason: keyCompromise\)/);
    expect(after).toContain('certificate.revoke');
  });

  it('serves every download with the session, as openssl reads them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-console-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const get = async (file: string) => {
      const res = await anvil.app.request(`/certificates/${cert.id}/download/${file}`, {
        headers: { cookie: `anvil_session=${admin.cookie('anvil_session')}` },
      });
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${file}"`);
      return new Uint8Array(await res.arrayBuffer());
    };
    const subjectOf = (out: string) => out.match(/subject=.*$/gm) ?? [];
    const der = await get('cert.der');
    expect(openssl(['x509', '-inform', 'DER', '-noout', '-serial'], der).trim()).toBe(`serial=${opensslSerial(cert.serial)}`);
    expect(openssl(['x509', '-noout', '-subject'], await get('cert.pem'))).toContain('detail.example.test');
    const pemCount = async (file: string) => {
      const path = join(dir, file);
      writeFileSync(path, await get(file));
      return subjectOf(openssl(['pkcs7', '-print_certs', '-noout'], openssl(['crl2pkcs7', '-nocrl', '-certfile', path]))).length;
    };
    expect(await pemCount('chain.pem')).toBe(1);
    expect(await pemCount('fullchain.pem')).toBe(2);
    const p7 = openssl(['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], await get('bundle.p7b'));
    expect(subjectOf(p7)).toHaveLength(2);
    expect(p7).toContain('detail.example.test');
    expect(openssl(['pkcs7', '-print_certs', '-noout'], await get('bundle.p7b.pem'))).toContain('detail.example.test');
    expect(Buffer.from(await get('secret.yaml')).toString()).toContain('type: kubernetes.io/tls');
    // Without the session: the sign-in page, not the file.
    const anonymous = await anvil.app.request(`/certificates/${cert.id}/download/cert.der`);
    expect(anonymous.status).toBe(303);
    expect((await admin.get(`/certificates/${cert.id}/download/key.pem`)).status).toBe(404);
  });

  it('answers an unknown or malformed id with the 404 page in the layout', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-an-id', "x'; drop table certificates"]) {
      const page = await admin.get(`/certificates/${encodeURIComponent(id)}`);
      expect(page.status).toBe(404);
      expect(textOf(page.html)).toContain('There is no certificate at this address');
      expect(page.html).toContain('aria-label="Sections"');
    }
    expect((await admin.get('/certificates/00000000-0000-4000-8000-000000000000/download/cert.pem')).status).toBe(404);
  });
});

/** The review page's hidden ids (what confirm will revoke). */
const hiddenIds = (html: string) => [...html.matchAll(/<input type="hidden" name="id" value="([^"]+)"/g)].map((m) => m[1]);

describe('revocation flow', () => {
  it('revokes exactly the one of three look-alikes that was selected; a double submit changes nothing and says so', async () => {
    const a = await client('vpn.hooli', 'Hooli');
    const b = await client('vpn2.hooli', 'Hooli');
    const c = await client('vpn.hooli2', 'Hooli');
    const listed = await list({ q: 'hooli' });
    for (const x of [a, b, c])
      expect(listed.html).toMatch(new RegExp(`<input type="checkbox" name="id" value="${x.id}" id="sel-${x.id}"/>`));
    expect(textOf(listed.html)).toContain(`Select vpn2.hooli ${b.serial}`);
    expect(listed.html).toContain('Review revocation of selected');

    const review = await admin.post('/revoke/review', { id: b.id, q: 'hooli', profile: '', issuer: '', expiresBefore: '' });
    expect(review.status).toBe(200);
    expect(hiddenIds(review.html)).toEqual([b.id]);
    const text = textOf(review.html);
    expect(text).toContain('Revoke 1 certificate?');
    expect(text).toContain(b.serial);
    expect(text).not.toContain(a.serial);
    expect(text).not.toContain(c.serial);
    expect(text).toContain('The private key may be known to someone else');
    expect(text).toContain('can be released later');
    expect(review.html.match(/type="radio" name="reason"/g)).toHaveLength(8);
    expect(await status(b.id)).toBe('active'); // the review revokes nothing

    const noReason = await admin.post('/revoke/confirm', { id: b.id });
    expect(noReason.status).toBe(422);
    expect(noReason.html).toMatch(/id="reason-error">Choose the reason/);
    expect(hiddenIds(noReason.html)).toEqual([b.id]);
    expect(await status(b.id)).toBe('active');

    const done = await admin.post('/revoke/confirm', { id: b.id, reason: 'keyCompromise' });
    expect(done.status).toBe(200);
    expect(done.url).toMatch(/^\/revoke\/result\?/);
    const doneText = textOf(done.html);
    expect(doneText).toContain('Revoked 1 certificate now');
    expect(doneText).toMatch(/Issuer issuing-ca: CRL number \d+/);
    expect(done.html).toContain('href="/pki/crl/issuing-ca.crl"');
    expect([await status(a.id), await status(b.id), await status(c.id)]).toEqual(['active', 'revoked', 'active']);
    expect((await anvil.authority.certificate(b.id)).revocationReason).toBe('keyCompromise');

    // Reloading the result (a GET) recomputes it and revokes nothing.
    const reload = await admin.get(done.url);
    expect(textOf(reload.html)).toContain('Revoked 1 certificate now');

    // The same confirm form again (double submit, or a second operator): nothing changes.
    const again = await admin.post('/revoke/confirm', { id: b.id, reason: 'superseded' });
    expect(textOf(again.html)).toContain('This confirmation changed nothing');
    expect(textOf(again.html)).toContain('Already revoked, changed nothing (1)');
    expect((await anvil.authority.certificate(b.id)).revocationReason).toBe('keyCompromise');
    const audit = await anvil.authority.listAudit({ target: b.id, limit: 10, action: 'certificate.revoke' });
    expect(audit).toHaveLength(1);
    expect(audit[0].actor).toContain('admin');

    // The CRL holds the serial (openssl reads it), the others not; OCSP says revoked.
    const crl = await anvil.app.request('/pki/crl/issuing-ca.crl');
    const crlText = openssl(['crl', '-inform', 'DER', '-noout', '-text'], new Uint8Array(await crl.arrayBuffer()));
    expect(crlText).toContain(`Serial Number: ${opensslSerial(b.serial)}`);
    expect(crlText).not.toContain(`Serial Number: ${opensslSerial(a.serial)}`);
    expect(crlText).toContain('Key Compromise');
    const crlNumber = /X509v3 CRL Number:\s*\n\s*(\d+)/.exec(crlText)?.[1];
    expect(doneText).toContain(`CRL number ${crlNumber}`);
    expect(textOf((await admin.get(`/certificates/${b.id}`)).html)).toMatch(/Live OCSP status .* revoked/);
    expect(textOf((await admin.get(`/certificates/${a.id}`)).html)).toMatch(/Live OCSP status .* good/);
  });

  it('offboards a partner: every active certificate of the search in one confirmation; another partner stays', async () => {
    const partner = [
      await client('node-1', 'Umbrella Corp'),
      await client('node-2', 'Umbrella Corp'),
      await client('node-3', 'Umbrella Corp'),
    ];
    const other = await client('node-1', 'Vandelay Industries');
    const search = { q: 'umbrella corp', profile: '', issuer: '', expiresBefore: '' };
    expect(idsOf((await list({ q: 'umbrella corp' })).html).sort()).toEqual(partner.map((p) => p.id).sort());
    expect((await list({ q: 'umbrella corp' })).html).toContain('Review revocation of every active certificate of this search');
    const review = await admin.post('/revoke/review', { ...search, all: '1' });
    expect(hiddenIds(review.html).sort()).toEqual(partner.map((p) => p.id).sort());
    expect(textOf(review.html)).toContain('Revoke 3 certificates?');
    expect(textOf(review.html)).not.toContain(other.serial);
    const done = await admin.post('/revoke/confirm', { id: hiddenIds(review.html), reason: 'cessationOfOperation' });
    expect(textOf(done.html)).toContain('Revoked 3 certificates now');
    for (const p of partner) expect(await status(p.id)).toBe('revoked');
    expect(await status(other.id)).toBe('active');
    // The same search again resolves to nothing left to revoke.
    const empty = await admin.post('/revoke/review', { ...search, all: '1' });
    expect(textOf(empty.html)).toContain('Nothing selected');
    const bad = await admin.post('/revoke/review', { ...search, expiresBefore: 'soon', all: '1' });
    expect(bad.status).toBe(400);
    expect(textOf(bad.html)).toContain('Nothing was revoked');
  });

  it('says nothing is selected when no active id was posted', async () => {
    for (const fields of <Record<string, string>[]>[{}, { id: 'not-an-id' }, { id: '00000000-0000-4000-8000-000000000000' }]) {
      const page = await admin.post('/revoke/review', fields);
      expect(page.status).toBe(200);
      expect(textOf(page.html)).toContain('Nothing selected');
    }
    expect(textOf((await admin.post('/revoke/confirm', { reason: 'keyCompromise' })).html)).toContain('Nothing selected');
  });

  it('puts a certificate on hold from its page and releases it', async () => {
    const held = await client('hold-me', 'Holding Partner');
    const detail = await admin.get(`/certificates/${held.id}`);
    expect(detail.html).toContain('Review revocation of this certificate');
    const review = await admin.post('/revoke/review', { id: held.id });
    expect(hiddenIds(review.html)).toEqual([held.id]);
    await admin.post('/revoke/confirm', { id: held.id, reason: 'certificateHold' });
    const page = await admin.get(`/certificates/${held.id}`);
    expect(textOf(page.html)).toContain('on hold');
    expect(page.html).toContain('Release from hold');
    const released = await admin.post(`/certificates/${held.id}/release`, {});
    expect(released.url).toBe(`/certificates/${held.id}?released=1`);
    expect(await status(held.id)).toBe('active');
  });

  it('refuses a confirm post without the CSRF token with 403 and revokes nothing', async () => {
    const target = await client('csrf-target', 'CSRF Partner');
    const page = await admin.post('/revoke/confirm', { id: target.id, reason: 'keyCompromise' }, { csrf: false });
    expect(page.status).toBe(403);
    expect(await status(target.id)).toBe('active');
  });
});

describe('auditor', () => {
  let auditor: ConsoleClient;
  let held: Issued;
  let active: Issued;

  beforeAll(async () => {
    active = await client('audited', 'Audit Partner');
    held = await client('audited-held', 'Audit Partner');
    await anvil.authority.revocations.revoke(held.id, 'certificateHold', { id: 'test', name: 'test', source: null });
    const made = await anvil.authority.users.create({ username: 'aud', role: 'auditor' }, { id: 'test', name: 'test', source: null });
    auditor = new ConsoleClient(anvil);
    expect((await auditor.signIn('aud', made.password)).url).toBe('/account/password');
    const changed = await auditor.post('/account/password', {
      current: made.password,
      next: 'auditor passphrase 123',
      confirm: 'auditor passphrase 123',
    });
    expect(changed.url).toBe('/account/password?done=1');
  });

  it('sees the list and the pages without any checkbox, revoke or release control', async () => {
    const page: ConsolePage = await auditor.get('/certificates?q=audit+partner');
    expect(idsOf(page.html)).toHaveLength(2);
    for (const html of [
      page.html,
      (await auditor.get(`/certificates/${active.id}`)).html,
      (await auditor.get(`/certificates/${held.id}`)).html,
    ]) {
      expect(html).not.toContain('type="checkbox"');
      expect(html).not.toMatch(/Review revocation|Release from hold|\/revoke\/|\/release/);
    }
  });

  it('is refused (403) by review, confirm and release, and nothing changes', async () => {
    expect((await auditor.post('/revoke/review', { id: active.id })).status).toBe(403);
    expect((await auditor.post('/revoke/review', { all: '1', q: 'audit partner' })).status).toBe(403);
    expect((await auditor.post('/revoke/confirm', { id: active.id, reason: 'keyCompromise' })).status).toBe(403);
    expect((await auditor.post(`/certificates/${held.id}/release`, {})).status).toBe(403);
    expect((await auditor.get(`/revoke/result?ids=${active.id}`)).status).toBe(403);
    expect(await status(active.id)).toBe('active');
    expect((await anvil.authority.certificate(held.id)).revocationReason).toBe('certificateHold');
  });
});

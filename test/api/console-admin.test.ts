/**
 * The console's admin pages, in process (PGlite, and PostgreSQL with ANVIL_TEST_DB=postgres):
 * the dashboard (issuers and CRL freshness, counts, expiring certificates, recent activity),
 * profiles created and edited through forms with the API's validation, user administration
 * (one-time passwords, roles, resets, disabling, the last admin, 403 for other roles, CSRF) and
 * the audit log's filters, keyset pages and refused filter values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, textOf } from '../support/console.ts';
import { ADMIN_PASSWORD, createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
let clock = Date.now();
const HOUR = 3600_000;

beforeAll(async () => {
  anvil = await createTestAnvil({ now: () => new Date(clock) });
});
afterAll(() => anvil?.close());

async function issue(body: Record<string, unknown>) {
  const res = await anvil.api('POST', '/api/v1/certificates', body);
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; notAfter: string };
}

async function admin(): Promise<ConsoleClient> {
  const browser = new ConsoleClient(anvil);
  expect((await browser.signIn()).url).toBe('/');
  return browser;
}

/** A signed-in user of `role` (created through the authority, first password changed). */
async function userOf(username: string, role: 'admin' | 'operator' | 'auditor'): Promise<ConsoleClient> {
  const created = await anvil.authority.users.create({ username, role }, { id: 'test', name: 'test', source: null });
  const browser = new ConsoleClient(anvil);
  expect((await browser.signIn(username, created.password)).url).toBe('/account/password');
  const changed = await browser.post('/account/password', {
    current: created.password,
    next: `${username} passphrase ok`,
    confirm: `${username} passphrase ok`,
  });
  expect(changed.url).toBe('/account/password?done=1');
  return browser;
}

/** The error shown beside a field (Field/TextArea/CheckGroup render `f-<name>-error`). */
function fieldError(html: string, name: string): string | undefined {
  const m = new RegExp(`id="f-${name}-error"[^>]*>([^<]*)<`).exec(html);
  return m?.[1];
}

/** The body rows of the first table whose region has this label, as cell texts. */
function tableRows(html: string, label: string): string[][] {
  const start = html.indexOf(`aria-label="${label}"`);
  if (start < 0) return [];
  const table = html.slice(start, html.indexOf('</table>', start));
  const body = table.slice(table.indexOf('<tbody>'));
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) => textOf(cell[1])),
  );
}

const oneTimePassword = (html: string) => /<code class="mono secret">([^<]+)<\/code>/.exec(html)?.[1];

describe('dashboard', () => {
  it('shows issuers with their CRL, counts by status and profile, expiring certificates and recent activity', async () => {
    const a = await issue({ profile: 'server', subject: { CN: 'dash-a.test' }, sans: { dns: ['dash-a.test'] }, ttl: '90d' });
    await issue({ profile: 'server', subject: { CN: 'dash-b.test' }, sans: { dns: ['dash-b.test'] }, ttl: '90d' });
    const soon = await issue({ profile: 'client', subject: { CN: 'expiring-soon' }, sans: { dns: ['expiring-soon.test'] }, ttl: '5d' });
    const revoke = await anvil.api('POST', `/api/v1/certificates/${a.id}/revoke`, { reason: 'superseded' });
    expect(revoke.status).toBe(200);
    await anvil.authority.crls.refresh(anvil.authority.issuers());

    const browser = await admin();
    const home = await browser.get('/');
    expect(home.status).toBe(200);
    const issuers = tableRows(home.html, 'Issuers and their CRLs');
    expect(issuers).toHaveLength(anvil.authority.issuers().length);
    for (const issuer of anvil.authority.issuers()) {
      const crl = (await anvil.authority.crlHeader(issuer))!;
      const row = issuers.find((r) => r[0].startsWith(issuer.record.name))!;
      expect(row).toBeDefined();
      expect(row[1]).toContain('valid');
      expect(row[2]).toBe(crl.number.toString());
      expect(row[3]).toBe(
        crl.thisUpdate
          .toISOString()
          .replace('T', ' ')
          .replace(/\.\d+Z$/, ' UTC'),
      );
      expect(row[4]).toContain(crl.nextUpdate.toISOString().slice(0, 10));
      expect(row[4]).toContain('fresh');
      expect(row[4]).toContain('next update in 24 hours');
    }

    const counts = tableRows(home.html, 'Certificates by profile and status');
    expect(counts).toContainEqual(['server', '1', '1', '2']);
    expect(counts).toContainEqual(['client', '1', '0', '1']);
    expect(counts).toContainEqual(['All profiles', '2', '1', '3']);

    const expiring = tableRows(home.html, 'Certificates expiring within 30 days');
    expect(expiring).toHaveLength(1);
    expect(expiring[0][0]).toBe('expiring-soon');
    expect(expiring[0][2]).toContain('in 5 days');
    expect(home.html).toContain(`href="/certificates/${soon.id}"`);
    const date = new Date(clock + 30 * 86_400_000).toISOString().slice(0, 10);
    expect(home.html).toContain(`href="/certificates?status=active&amp;sort=expiry&amp;expiresBefore=${date}"`);

    const activity = tableRows(home.html, 'Recent activity');
    expect(activity.length).toBeGreaterThan(3);
    expect(activity.length).toBeLessThanOrEqual(15);
    expect(activity.some((r) => r[2] === 'certificate.revoke' && r[3] === a.id && r[4] === 'success')).toBe(true);
    expect(activity.some((r) => r[1].startsWith('user:admin') && r[2] === 'user.sign_in')).toBe(true);
    expect(home.html).toContain('href="/audit"');
  });

  it('flags a CRL due soon (under a quarter of its validity left) and a stale one (past nextUpdate)', async () => {
    const started = clock;
    try {
      clock = started + 19 * HOUR; // 5 of 24 hours left
      const soon = await (await admin()).get('/');
      for (const row of tableRows(soon.html, 'Issuers and their CRLs')) {
        expect(row[4]).toContain('due soon');
        expect(row[4]).toContain('next update in 5 hours');
      }
      expect(soon.html).toContain('class="badge warn">due soon');
      clock = started + 25 * HOUR;
      const stale = await (await admin()).get('/');
      for (const row of tableRows(stale.html, 'Issuers and their CRLs')) {
        expect(row[4]).toContain('stale');
        expect(row[4]).toContain('next update was due 60 minutes ago');
      }
      expect(stale.html).toContain('class="badge bad">stale');
    } finally {
      clock = started;
    }
  });
});

describe('profiles', () => {
  const fields = {
    name: 'edge-web',
    kind: 'server',
    sanTypes: ['dns', 'ip'],
    dnsSuffixes: 'edge.example\nedge.test',
    ipCidrs: '10.9.0.0/16',
    uriPrefixes: '',
    emailDomains: '',
    keyAlgorithms: ['EC-P256', 'RSA'],
    minRsaBits: '3072',
    defaultTtl: '7d',
    maxTtl: '30d',
    issuer: '',
  };

  it('creates a profile through the form; the API sees it with the same policy', async () => {
    const browser = await userOf('prof-operator', 'operator');
    const form = await browser.get('/profiles/new');
    expect(form.status).toBe(200);
    expect(form.html).toContain('<legend>SAN types allowed</legend>');
    const created = await browser.post('/profiles', fields);
    expect(created.url).toBe('/profiles/edge-web?saved=created');
    const text = textOf(created.html);
    expect(text).toContain('The profile was created');
    expect(text).toContain('TLS server authentication (serverAuth)');
    expect(text).toMatch(/only these domains and names below them: edge\.example ?, edge\.test/);
    expect(text).toContain('only within 10.9.0.0/16');
    expect(text).toContain('EC-P256, RSA; RSA keys of at least 3072 bits');
    expect(text).toContain('7 days by default, at most 30 days');
    const api = await anvil.api('GET', '/api/v1/profiles/edge-web');
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual({
      name: 'edge-web',
      kind: 'server',
      builtin: false,
      policy: {
        sanTypes: ['dns', 'ip'],
        dnsSuffixes: ['edge.example', 'edge.test'],
        allowWildcards: false,
        ipCidrs: ['10.9.0.0/16'],
        keyAlgorithms: ['EC-P256', 'RSA'],
        minRsaBits: 3072,
        defaultTtl: 7 * 86_400,
        maxTtl: 30 * 86_400,
      },
    });
    const list = await browser.get('/profiles');
    expect(tableRows(list.html, 'Profiles').map((r) => r[0])).toEqual(
      expect.arrayContaining(['edge-web', 'server built-in', 'client built-in']),
    );
  });

  it('edits it (the form shows the stored values); issuance follows the new policy', async () => {
    const browser = await admin();
    const edit = await browser.get('/profiles/edge-web/edit');
    expect(edit.status).toBe(200);
    expect(edit.html).toContain('value="30d"');
    expect(edit.html).toMatch(/<textarea[^>]*name="dnsSuffixes"[^>]*>edge.example\nedge.test<\/textarea>/);
    const saved = await browser.post('/profiles/edge-web', { ...fields, maxTtl: '60d', allowWildcards: '1' });
    expect(saved.url).toBe('/profiles/edge-web?saved=updated');
    expect(textOf(saved.html)).toContain('at most 60 days');
    const policy = (await (await anvil.api('GET', '/api/v1/profiles/edge-web')).json()).policy;
    expect(policy.maxTtl).toBe(60 * 86_400);
    expect(policy.allowWildcards).toBe(true);
    const refused = await anvil.api('POST', '/api/v1/certificates', { profile: 'edge-web', sans: { dns: ['www.elsewhere.test'] } });
    expect(refused.status).toBe(422);
    await issue({ profile: 'edge-web', sans: { dns: ['*.edge.example'] }, ttl: '45d' });
  });

  it.each([
    ['a bad name', { name: 'Bad Name' }, 'name', /lower-case letters, digits and hyphens/],
    ['an existing name', { name: 'edge-web' }, 'name', /exists/],
    ['an unknown key algorithm', { name: 'p-keys', keyAlgorithms: ['DSA'] }, 'keyAlgorithms', /Choose only from the options listed/],
    ['no SAN type', { name: 'p-sans', sanTypes: [] }, 'sanTypes', /at least one SAN type/],
    ['a negative lifetime', { name: 'p-ttl', maxTtl: '-5d' }, 'maxTtl', /ttl must look like/],
    ['a zero lifetime', { name: 'p-zero', defaultTtl: '0' }, 'defaultTtl', /lifetime/],
    [
      'a default above the longest',
      { name: 'p-order', defaultTtl: '90d', maxTtl: '30d' },
      'defaultTtl',
      /defaultTtl must not exceed maxTtl/,
    ],
    ['a bad CIDR', { name: 'p-cidr', ipCidrs: '10.0.0.0/99' }, 'ipCidrs', /is not a CIDR/],
    ['a small RSA minimum', { name: 'p-rsa', minRsaBits: '1024' }, 'minRsaBits', /2048/],
    ['a non-number RSA minimum', { name: 'p-rsa2', minRsaBits: 'lots' }, 'minRsaBits', /whole number/],
    ['an unknown issuer', { name: 'p-issuer', issuer: 'no-such-ca' }, 'issuer', /no issuer named/],
  ])('refuses %s with 422, the error beside the field and the values kept', async (_what, change, field, message) => {
    const browser = await admin();
    await browser.get('/profiles/new');
    const res = await browser.post('/profiles', { ...fields, ...change });
    expect(res.status).toBe(422);
    expect(fieldError(res.html, field)).toMatch(message);
    expect(res.html).toContain('The profile was not saved');
    expect(res.html).toContain(`value="${(change as { name: string }).name}"`);
    expect(res.html).toMatch(/<textarea[^>]*name="dnsSuffixes"[^>]*>edge.example\nedge.test<\/textarea>/);
    expect(res.html).toContain('value="3072"'.replace('3072', (change as { minRsaBits?: string }).minRsaBits ?? '3072'));
    if (field !== 'name' || !/exists/.test(String(message))) {
      expect((await anvil.api('GET', `/api/v1/profiles/${encodeURIComponent((change as { name: string }).name)}`)).status).toBe(404);
    }
  });

  it('refuses a bad edit with 422 and changes nothing', async () => {
    const browser = await admin();
    await browser.get('/profiles/edge-web/edit');
    const res = await browser.post('/profiles/edge-web', { ...fields, sanTypes: ['dns', 'fax'] });
    expect(res.status).toBe(422);
    expect(fieldError(res.html, 'sanTypes')).toBe('Choose only from the options listed.');
    expect((await (await anvil.api('GET', '/api/v1/profiles/edge-web')).json()).policy.maxTtl).toBe(60 * 86_400);
  });

  it('shows built-in profiles (which the API lets operators narrow), and an unknown one as 404', async () => {
    const browser = await admin();
    const server = await browser.get('/profiles/server');
    expect(server.status).toBe(200);
    expect(textOf(server.html)).toContain('built-in');
    expect(textOf(server.html)).toContain('CN optional; if present, it must be one of the SANs');
    expect(server.html).toContain('href="/profiles/server/edit"');
    expect((await browser.get('/profiles/server/edit')).status).toBe(200);
    expect((await browser.get('/profiles/no-such-profile')).status).toBe(404);
    expect((await browser.get('/profiles/NUL%00')).status).toBeLessThan(500);
  });

  it('lets an auditor read profiles but shows no create or edit controls, and answers 403 to them', async () => {
    const browser = await userOf('prof-auditor', 'auditor');
    const list = await browser.get('/profiles');
    expect(list.status).toBe(200);
    expect(list.html).not.toContain('href="/profiles/new"');
    const one = await browser.get('/profiles/edge-web');
    expect(one.status).toBe(200);
    expect(one.html).not.toContain('/edit"');
    expect((await browser.get('/profiles/new')).status).toBe(403);
    expect((await browser.get('/profiles/edge-web/edit')).status).toBe(403);
    expect((await browser.post('/profiles', { ...fields, name: 'by-auditor' })).status).toBe(403);
    expect((await browser.post('/profiles/edge-web', { ...fields, maxTtl: '1d' })).status).toBe(403);
    expect((await anvil.api('GET', '/api/v1/profiles/by-auditor')).status).toBe(404);
  });
});

describe('users', () => {
  it('creates an operator and an auditor, each password shown once', async () => {
    const browser = await admin();
    await browser.get('/users');
    for (const [username, role] of [
      ['olivia', 'operator'],
      ['aude', 'auditor'],
    ]) {
      const res = await browser.post('/users', { username, role });
      expect(res.status).toBe(200);
      const password = oneTimePassword(res.html)!;
      expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
      expect(textOf(res.html)).toContain('shown once');
      const list = await browser.get('/users');
      expect(list.html).not.toContain(password);
      const row = tableRows(list.html, 'Console users').find((r) => r[0] === username)!;
      expect(row[1]).toBe(role);
      expect(row[2]).toBe('enabled must change password');
      // The generated password signs in, to be changed first.
      expect((await new ConsoleClient(anvil).signIn(username, password)).url).toBe('/account/password');
      const audit = await anvil.authority.listAudit({ limit: 200 });
      expect(JSON.stringify(audit)).not.toContain(password);
    }
  });

  it('shows a taken or invalid username as a message, with 409/422, and creates nothing', async () => {
    const browser = await admin();
    await browser.get('/users');
    const before = (await anvil.authority.users.list()).length;
    const taken = await browser.post('/users', { username: 'olivia', role: 'auditor' });
    expect(taken.status).toBe(409);
    expect(fieldError(taken.html, 'username')).toContain('a user named olivia exists');
    const bad = await browser.post('/users', { username: 'Not Valid!', role: 'auditor' });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.html, 'username')).toContain('a username is');
    expect(bad.html).toContain('value="Not Valid!"');
    const role = await browser.post('/users', { username: 'roleless', role: 'root' });
    expect(role.status).toBe(422);
    expect(fieldError(role.html, 'role')).toBeTruthy();
    expect(await anvil.authority.users.list()).toHaveLength(before);
  });

  it('sets a role; resets a password (old one stops working, new one must be changed)', async () => {
    const browser = await admin();
    await browser.get('/users');
    const olivia = (await anvil.authority.users.list()).find((u) => u.username === 'olivia')!;
    const set = await browser.post(`/users/${olivia.id}/role`, { role: 'auditor' });
    expect(set.url).toBe('/users?done=role');
    expect(tableRows(set.html, 'Console users').find((r) => r[0] === 'olivia')![1]).toBe('auditor');
    await browser.post(`/users/${olivia.id}/role`, { role: 'operator' });
    expect((await anvil.authority.users.user(olivia.id)).role).toBe('operator');

    const reset1 = oneTimePassword((await browser.post(`/users/${olivia.id}/reset-password`, {})).html)!;
    const own = new ConsoleClient(anvil);
    await own.signIn('olivia', reset1);
    await own.post('/account/password', { current: reset1, next: 'olivia chose this one', confirm: 'olivia chose this one' });
    expect((await own.get('/')).url).toBe('/');

    await browser.get('/users');
    const reset = await browser.post(`/users/${olivia.id}/reset-password`, {});
    expect(reset.status).toBe(200);
    const fresh = oneTimePassword(reset.html)!;
    expect(fresh).not.toBe(reset1);
    expect((await browser.get('/users')).html).not.toContain(fresh);
    // Her open session ended with the reset; the old password no longer works; the new one must be changed.
    expect((await own.get('/')).url).toMatch(/^\/sign-in/);
    expect((await new ConsoleClient(anvil).signIn('olivia', 'olivia chose this one')).status).toBe(401);
    expect((await new ConsoleClient(anvil).signIn('olivia', fresh)).url).toBe('/account/password');
  });

  it('disables a user (their open session ends at once) and enables them again', async () => {
    const victim = await userOf('dora', 'operator');
    expect((await victim.get('/certificates')).url).toBe('/certificates');
    const browser = await admin();
    await browser.get('/users');
    const dora = (await anvil.authority.users.list()).find((u) => u.username === 'dora')!;
    const disabled = await browser.post(`/users/${dora.id}/disable`, {});
    expect(disabled.url).toBe('/users?done=disabled');
    expect(tableRows(disabled.html, 'Console users').find((r) => r[0] === 'dora')![2]).toBe('disabled');
    expect((await victim.get('/certificates')).url).toMatch(/^\/sign-in\?next=%2Fcertificates/);
    expect((await new ConsoleClient(anvil).signIn('dora', 'dora passphrase ok')).status).toBe(401);
    const enabled = await browser.post(`/users/${dora.id}/enable`, {});
    expect(enabled.url).toBe('/users?done=enabled');
    expect((await new ConsoleClient(anvil).signIn('dora', 'dora passphrase ok')).url).toBe('/');
  });

  it('keeps the last admin: no demotion, no disabling oneself; a second admin may be demoted', async () => {
    const browser = await admin();
    await browser.get('/users');
    const me = (await anvil.authority.users.list()).find((u) => u.username === 'admin')!;
    const demote = await browser.post(`/users/${me.id}/role`, { role: 'operator' });
    expect(demote.status).toBe(409);
    expect(textOf(demote.html)).toContain('this is the last enabled admin');
    const self = await browser.post(`/users/${me.id}/disable`, {});
    expect(self.status).toBe(422);
    expect(textOf(self.html)).toContain('you cannot disable your own account');
    expect((await anvil.authority.users.user(me.id)).role).toBe('admin');
    expect((await anvil.authority.users.user(me.id)).disabledAt).toBeNull();
    expect((await browser.get('/')).url).toBe('/');

    const second = await userOf('second-admin', 'admin');
    await second.get('/users');
    const demoteFirst = await second.post(`/users/${me.id}/role`, { role: 'operator' });
    expect(demoteFirst.url).toBe('/users?done=role');
    await second.get('/users');
    const mine = (await anvil.authority.users.list()).find((u) => u.username === 'second-admin')!;
    expect((await second.post(`/users/${mine.id}/role`, { role: 'operator' })).status).toBe(409);
    await second.post(`/users/${me.id}/role`, { role: 'admin' });
    expect((await anvil.authority.users.user(me.id)).role).toBe('admin');
    expect((await browser.post('/users/00000000-0000-0000-0000-000000000000/disable', {})).status).toBe(404);
    expect((await browser.post('/users/------------------------------------/disable', {})).status).toBe(404);
  });

  it('answers 403 to operators and auditors on every /users route, GET too', async () => {
    const operator = await userOf('opal', 'operator');
    const auditor = await userOf('audrey', 'auditor');
    const olivia = (await anvil.authority.users.list()).find((u) => u.username === 'olivia')!;
    const before = (await anvil.authority.users.list()).length;
    for (const browser of [operator, auditor]) {
      expect((await browser.get('/')).html).not.toContain('href="/users"');
      expect((await browser.get('/users')).status).toBe(403);
      await browser.get('/');
      expect((await browser.post('/users', { username: 'sneaky', role: 'admin' })).status).toBe(403);
      expect((await browser.post(`/users/${olivia.id}/role`, { role: 'admin' })).status).toBe(403);
      expect((await browser.post(`/users/${olivia.id}/reset-password`, {})).status).toBe(403);
      expect((await browser.post(`/users/${olivia.id}/disable`, {})).status).toBe(403);
      expect((await browser.post(`/users/${olivia.id}/enable`, {})).status).toBe(403);
    }
    expect(await anvil.authority.users.list()).toHaveLength(before);
    expect((await anvil.authority.users.user(olivia.id)).role).toBe('operator');
  });

  it('refuses a form post without its CSRF token with 403 and creates nothing', async () => {
    const browser = await admin();
    await browser.get('/users');
    const res = await browser.post('/users', { username: 'csrf-victim', role: 'admin' }, { csrf: false });
    expect(res.status).toBe(403);
    expect(textOf(res.html)).toContain('Nothing was changed');
    expect((await anvil.authority.users.list()).some((u) => u.username === 'csrf-victim')).toBe(false);
    const me = (await anvil.authority.users.list()).find((u) => u.username === 'admin')!;
    expect((await browser.post(`/users/${me.id}/reset-password`, {}, { csrf: false })).status).toBe(403);
    expect((await new ConsoleClient(anvil).signIn('admin', ADMIN_PASSWORD)).url).toBe('/');
  });
});

describe('audit log', () => {
  const rowsOf = (html: string) => tableRows(html, 'Audit entries');

  it('filters by actor (substring), action (exact or prefix), target and time range, newest first', async () => {
    const browser = await admin();
    const all = await browser.get('/audit');
    expect(all.status).toBe(200);
    expect(rowsOf(all.html)).toHaveLength(50);

    const byActor = rowsOf((await browser.get('/audit?actor=OLIVIA')).html);
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((r) => r[1].includes('user:olivia'))).toBe(true);

    const prefix = rowsOf((await browser.get('/audit?action=user.')).html);
    expect(prefix.length).toBeGreaterThan(5);
    expect(prefix.every((r) => r[2].startsWith('user.'))).toBe(true);
    expect(new Set(prefix.map((r) => r[2])).size).toBeGreaterThan(1);
    const exact = rowsOf((await browser.get('/audit?action=user.disable')).html);
    expect(exact.length).toBeGreaterThan(0);
    expect(exact.every((r) => r[2] === 'user.disable')).toBe(true);
    expect(rowsOf((await browser.get('/audit?action=user')).html)).toHaveLength(0);

    const byTarget = await browser.get('/audit?target=edge-web&action=profile.');
    const targetRows = rowsOf(byTarget.html);
    expect(targetRows.map((r) => r[2])).toEqual(['profile.update', 'profile.create']);
    expect(targetRows[1][1]).toContain('user:prof-operator');
    expect(targetRows[1][5]).toContain('"dnsSuffixes":["edge.example","edge.test"]');
    expect(byTarget.html).toContain('value="edge-web"');

    const day = 86_400_000;
    const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const inRange = rowsOf((await browser.get(`/audit?from=${date(Date.now() - day)}&to=${date(Date.now() + day)}&action=user.`)).html);
    expect(inRange).toEqual(prefix);
    const local = (ms: number) => new Date(ms).toISOString().slice(0, 16);
    const inLocal = rowsOf((await browser.get(`/audit?from=${local(Date.now() - HOUR)}&to=${local(Date.now() + HOUR)}&action=user.`)).html);
    expect(inLocal).toEqual(prefix);
    expect(rowsOf((await browser.get(`/audit?from=${date(Date.now() + 2 * day)}`)).html)).toHaveLength(0);
    const before = await browser.get('/audit?to=2000-01-01');
    expect(before.status).toBe(200);
    expect(textOf(before.html)).toContain('No audit entries');
  });

  it('pages older entries by keyset, keeping the filters', async () => {
    for (let i = 0; i < 60; i++) {
      await anvil.store.appendAudit({ actor: 'pager-test', source: null, action: 'test.page', target: `row-${i}`, outcome: 'success' });
    }
    const browser = await admin();
    const first = await browser.get('/audit?action=test.');
    const one = rowsOf(first.html);
    expect(one).toHaveLength(50);
    expect(one[0][3]).toBe('row-59');
    const next = /<a href="(\/audit\?[^"]*cursor=\d+[^"]*)">Next page<\/a>/.exec(first.html)![1].replace(/&amp;/g, '&');
    expect(next).toContain('action=test.');
    const second = await browser.get(next);
    const two = rowsOf(second.html);
    expect(two.map((r) => r[3])).toEqual(Array.from({ length: 10 }, (_, i) => `row-${9 - i}`));
    expect(second.html).toContain('No more results');
    expect(second.html).toContain('href="/audit?action=test.">First page');
  });

  it('shows bad filter values again with the error beside the field, 422, never a 500', async () => {
    const browser = await userOf('audit-reader', 'auditor');
    const bad = await browser.get('/audit?actor=someone&from=yesterday');
    expect(bad.status).toBe(422);
    expect(fieldError(bad.html, 'from')).toContain('is not a date');
    expect(bad.html).toContain('value="yesterday"');
    expect(bad.html).toContain('value="someone"');
    const impossible = await browser.get('/audit?to=2025-02-30');
    expect(impossible.status).toBe(422);
    expect(fieldError(impossible.html, 'to')).toContain('is not a date');
    const reversed = await browser.get('/audit?from=2025-03-02&to=2025-03-01');
    expect(reversed.status).toBe(422);
    expect(fieldError(reversed.html, 'to')).toContain('after its start');
    expect((await browser.get('/audit?cursor=abc')).status).toBe(422);
    expect((await browser.get('/audit?cursor=99999999999999999999999')).status).toBe(422);
    expect((await browser.get(`/audit?actor=${'x'.repeat(500)}`)).status).toBe(422);
    expect((await browser.get('/audit?actor=%25_%5C')).status).toBe(200);
  });
});

/**
 * The console's Invitations page (admins and operators), in process: an invitation made through
 * the form, its link shown once and working for a partner without an account, never listed,
 * withdrawn from the list (its link then says so); the authority's refusals beside the field;
 * 403 for an auditor and for a form without the CSRF token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, textOf } from '../support/console.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;

beforeAll(async () => {
  anvil = await createTestAnvil();
});
afterAll(() => anvil?.close());

async function admin(): Promise<ConsoleClient> {
  const browser = new ConsoleClient(anvil);
  expect((await browser.signIn()).url).toBe('/');
  return browser;
}

function fieldError(html: string, name: string): string | undefined {
  return new RegExp(`id="f-${name}-error"[^>]*>([^<]*)<`).exec(html)?.[1];
}

const shownLink = (html: string) => /<code class="mono secret">([^<]+)<\/code>/.exec(html)?.[1];

describe('console invitations', () => {
  it('invites a partner: the link is shown once, opens the enrolment page without an account, is never listed, and can be withdrawn', async () => {
    const browser = await admin();
    const list = await browser.get('/invitations');
    expect(list.status).toBe(200);
    expect(list.html).toContain('href="/invitations"');
    const created = await browser.post('/invitations', {
      name: 'Partner F',
      profile: 'client',
      subjectO: 'Partner F',
      names: 'api.partner-f.test\nspiffe://prod.example/partner-f/api\n',
      sanPatterns: '',
      ttl: '30d',
      expiresAt: '',
    });
    expect(created.status, textOf(created.html)).toBe(200);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const link = shownLink(created.html)!;
    expect(link).toMatch(/\/enroll\/anvil_inv_[A-Za-z0-9_-]{43}$/);
    expect(textOf(created.html)).toContain('shown once');

    const path = new URL(link).pathname;
    const partner = await anvil.app.request(path); // no cookie: no account
    expect(partner.status).toBe(200);
    expect(textOf(await partner.text())).toContain('DNS:api.partner-f.test, URI:spiffe://prod.example/partner-f/api');

    const after = await browser.get('/invitations');
    expect(after.html).not.toContain(path.split('/').pop()!);
    expect(textOf(after.html)).toMatch(/Partner F client DNS:api\.partner-f\.test, URI:spiffe:\/\/prod\.example\/partner-f\/api pending/);

    const row = (await anvil.authority.listInvitations({ limit: 10 })).find((i) => i.name === 'Partner F')!;
    expect(row.ttlSeconds).toBe(30 * 86400);
    const withdrawn = await browser.post(`/invitations/${row.id}/revoke`, {});
    expect(withdrawn.url).toBe('/invitations?done=withdrawn');
    expect(textOf(withdrawn.html)).toContain('The invitation was withdrawn');
    expect((await anvil.app.request(path)).status).toBe(410);
  });

  it('refuses bad input beside its field, keeps the values, and stores nothing', async () => {
    const browser = await admin();
    await browser.get('/invitations');
    const before = (await anvil.authority.listInvitations({ limit: 500 })).length;
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ name: 'G', profile: 'client', names: '', sanPatterns: '' }, 'names', /sans|names/],
      [{ name: 'G', profile: 'client', names: '', sanPatterns: 'bad*pattern' }, 'sanPatterns', /not a valid pattern/],
      [{ name: 'G', profile: 'client', names: 'a.g.test', ttl: '9999d' }, 'ttl', /exceeds the maximum/],
      [{ name: 'G', profile: 'client', names: 'a.g.test', expiresAt: '2001-01-01' }, 'expiresAt', /future/],
      [{ name: '', profile: 'client', names: 'a.g.test' }, 'name', /printable/],
    ];
    for (const [fields, field, message] of cases) {
      const res = await browser.post('/invitations', fields);
      expect(res.status, JSON.stringify(fields)).toBe(422);
      expect(fieldError(res.html, field), JSON.stringify(fields)).toMatch(message);
    }
    expect((await anvil.authority.listInvitations({ limit: 500 })).length).toBe(before);
  });

  it('lets an operator invite, gives an auditor 403 (and no nav entry), and refuses a form without the CSRF token', async () => {
    const system = { id: 'test', name: 'test', source: null };
    for (const [username, role, status] of [
      ['olga', 'operator', 200],
      ['audrey', 'auditor', 403],
    ] as const) {
      const created = await anvil.authority.users.create({ username, role }, system);
      const browser = new ConsoleClient(anvil);
      await browser.signIn(username, created.password);
      const changed = await browser.post('/account/password', {
        current: created.password,
        next: `${username} passphrase ok`,
        confirm: `${username} passphrase ok`,
      });
      expect(changed.html.includes('href="/invitations"')).toBe(role === 'operator');
      expect((await browser.get('/invitations')).status).toBe(status);
    }
    const browser = await admin();
    await browser.get('/invitations');
    const before = (await anvil.authority.listInvitations({ limit: 500 })).length;
    const res = await browser.post('/invitations', { name: 'H', profile: 'client', names: 'a.h.test' }, { csrf: false });
    expect(res.status).toBe(403);
    expect((await anvil.authority.listInvitations({ limit: 500 })).length).toBe(before);
  });
});

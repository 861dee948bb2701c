/**
 * The console's Tokens page (admins only), in process: a partner token created through the form,
 * shown once and working against the API, never listed in clear, revoked from the list (the API
 * refuses it within the 5 s authentication cache), the API's validation beside the field, 403 for
 * an operator and for a form without the CSRF token.
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

const shownToken = (html: string) => /<code class="mono secret">([^<]+)<\/code>/.exec(html)?.[1];

const certificatesWith = (token: string) => anvil.app.request('/api/v1/certificates', { headers: { authorization: `Bearer ${token}` } });

describe('console tokens', () => {
  it('creates a partner token shown once that works against the API, never lists it, and revokes it', async () => {
    const browser = await admin();
    const list = await browser.get('/tokens');
    expect(list.status).toBe(200);
    expect(list.html).toContain('href="/tokens"');

    const created = await browser.post('/tokens', {
      name: 'Partner B',
      scopes: ['certificates:issue', 'certificates:read'],
      profiles: ['server'],
      sanPatterns: '*.partner-b.test\nexact.partner-b.test\n',
      subjectO: 'Partner B',
      expiresAt: '2999-01-01',
    });
    expect(created.status).toBe(200);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const token = shownToken(created.html);
    expect(token).toMatch(/^anvil_/);
    expect(textOf(created.html)).toContain('shown once');

    expect((await certificatesWith(token!)).status).toBe(200);

    const after = await browser.get('/tokens');
    expect(after.html).not.toContain(token!);
    const text = textOf(after.html);
    expect(text).toContain('Partner B');
    expect(text).toContain('profiles: server');
    expect(text).toContain('names: *.partner-b.test, exact.partner-b.test');
    expect(text).toContain('subject: O=Partner B');
    expect(text).toContain('active');

    const row = (await anvil.authority.listTokens()).find((t) => t.name === 'Partner B')!;
    expect(row.expiresAt?.toISOString()).toBe('2999-01-01T00:00:00.000Z');
    const revoked = await browser.post(`/tokens/${row.id}/revoke`, {});
    expect(revoked.status).toBe(200);
    expect(revoked.url).toBe('/tokens?done=revoked');
    expect(textOf(revoked.html)).toContain('The token was revoked');
    expect(textOf(revoked.html)).toContain('revoked');
    expect(revoked.html).not.toContain(token!);

    const deadline = Date.now() + 6000;
    let status = (await certificatesWith(token!)).status;
    while (status !== 401 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await certificatesWith(token!)).status;
    }
    expect(status).toBe(401);
  }, 15_000);

  it('refuses a bad SAN pattern with the error beside the field and the values kept', async () => {
    const browser = await admin();
    await browser.get('/tokens');
    const before = (await anvil.authority.listTokens()).length;
    const res = await browser.post('/tokens', {
      name: 'Partner C',
      scopes: ['certificates:issue'],
      sanPatterns: 'good.partner-c.test\nbad*pattern',
    });
    expect(res.status).toBe(422);
    expect(fieldError(res.html, 'sanPatterns')).toMatch(/sanPatterns\[1\] is not a valid pattern/);
    expect(res.html).toContain('value="Partner C"');
    expect(res.html).toContain('bad*pattern');
    expect(res.html).toMatch(/value="certificates:issue" checked/);
    expect((await anvil.authority.listTokens()).length).toBe(before);
  });

  it('refuses an empty scope list beside the scopes', async () => {
    const browser = await admin();
    await browser.get('/tokens');
    const res = await browser.post('/tokens', { name: 'No scopes' });
    expect(res.status).toBe(422);
    expect(fieldError(res.html, 'scopes')).toMatch(/scopes/);
  });

  it('takes a rate limit (certificates per minute), shown in the list; a bad one beside its field', async () => {
    const browser = await admin();
    await browser.get('/tokens');
    const created = await browser.post('/tokens', { name: 'Rated D', scopes: ['certificates:issue'], rateLimit: '7' });
    expect(created.status).toBe(200);
    expect((await anvil.authority.listTokens()).find((t) => t.name === 'Rated D')?.rateLimit).toBe(7);
    expect(textOf((await browser.get('/tokens')).html)).toContain('7 certificates a minute');
    const before = (await anvil.authority.listTokens()).length;
    for (const rateLimit of ['0', '1.5', 'many']) {
      const res = await browser.post('/tokens', { name: 'Rated E', scopes: ['certificates:issue'], rateLimit });
      expect(res.status, rateLimit).toBe(422);
      expect(fieldError(res.html, 'rateLimit')).toMatch(/certificates per minute/);
      expect(res.html).toContain(`value="${rateLimit}"`);
    }
    expect((await anvil.authority.listTokens()).length).toBe(before);
  });

  it('lets an operator make and revoke partner tokens, but never one with the admin scope', async () => {
    const created = await anvil.authority.users.create({ username: 'otto', role: 'operator' }, { id: 'test', name: 'test', source: null });
    const browser = new ConsoleClient(anvil);
    expect((await browser.signIn('otto', created.password)).url).toBe('/account/password');
    const changed = await browser.post('/account/password', {
      current: created.password,
      next: 'otto passphrase ok',
      confirm: 'otto passphrase ok',
    });
    expect(changed.url).toBe('/account/password?done=1');
    expect(changed.html).toContain('href="/tokens"');
    const list = await browser.get('/tokens');
    expect(list.status).toBe(200);
    expect(list.html).not.toContain('value="admin"');
    const before = (await anvil.authority.listTokens()).length;
    expect((await browser.post('/tokens', { name: 'Otto admin', scopes: ['admin'] })).status).toBe(403);
    expect((await anvil.authority.listTokens()).length).toBe(before);
    const partner = await browser.post('/tokens', { name: 'Otto partner', scopes: ['certificates:read'] });
    expect(partner.status).toBe(200);
    const mine = (await anvil.authority.listTokens()).find((t) => t.name === 'Otto partner')!;
    expect((await browser.post(`/tokens/${mine.id}/revoke`, {})).url).toBe('/tokens?done=revoked');
    const adminToken = (await anvil.authority.listTokens()).find((t) => t.scopes.includes('admin') && !t.revokedAt)!;
    await browser.get('/tokens');
    expect((await browser.post(`/tokens/${adminToken.id}/revoke`, {})).status).toBe(403);
    expect((await anvil.authority.token(adminToken.id)).revokedAt).toBeNull();
    const auditor = await anvil.authority.users.create({ username: 'audra', role: 'auditor' }, { id: 'test', name: 'test', source: null });
    const aud = new ConsoleClient(anvil);
    await aud.signIn('audra', auditor.password);
    await aud.post('/account/password', { current: auditor.password, next: 'audra passphrase ok', confirm: 'audra passphrase ok' });
    expect((await aud.get('/tokens')).status).toBe(403);
  });

  it('refuses a form without the CSRF token', async () => {
    const browser = await admin();
    await browser.get('/tokens');
    const before = (await anvil.authority.listTokens()).length;
    const res = await browser.post('/tokens', { name: 'No CSRF', scopes: ['judge'] }, { csrf: false });
    expect(res.status).toBe(403);
    expect((await anvil.authority.listTokens()).length).toBe(before);
  });
});

/**
 * The console's ACME account bindings page: a credential created through the form (HMAC key shown
 * once, never listed), the authority's validation beside the field, revoked from the list, 403 for
 * an auditor and for a form without the CSRF token.
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

const fieldError = (html: string, name: string) => new RegExp(`id="f-${name}-error"[^>]*>([^<]*)<`).exec(html)?.[1];
const shownKey = (html: string) => /<code class="mono secret">([^<]+)<\/code>/.exec(html)?.[1];

describe('console ACME account bindings', () => {
  it('creates a credential shown once, lists it without the key, and revokes it', async () => {
    const browser = await admin();
    const list = await browser.get('/acme-eab');
    expect(list.status).toBe(200);
    expect(list.html).toContain('href="/acme-eab"');

    const created = await browser.post('/acme-eab', {
      name: 'Team A',
      profiles: ['server'],
      sanPatterns: '*.team-a.test\n',
      subjectO: 'Team A',
      expiresAt: '2999-01-01',
    });
    expect(created.status).toBe(200);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const key = shownKey(created.html)!;
    expect(Buffer.from(key, 'base64url')).toHaveLength(32);
    expect(textOf(created.html)).toContain('shown once');

    const [cred] = (await anvil.authority.acmeEab.list()).filter((c) => c.name === 'Team A');
    expect(cred).toMatchObject({
      status: 'unused',
      limits: { profiles: ['server'], sanPatterns: ['*.team-a.test'], subject: { O: 'Team A' } },
    });
    expect(cred.expiresAt?.toISOString()).toBe('2999-01-01T00:00:00.000Z');

    const after = await browser.get('/acme-eab');
    expect(after.html).not.toContain(key);
    expect(textOf(after.html)).toContain('names: *.team-a.test');

    const revoked = await browser.post(`/acme-eab/${cred.keyId}/revoke`, {});
    expect(revoked.url).toBe('/acme-eab?done=revoked');
    expect((await anvil.authority.acmeEab.get(cred.keyId)).status).toBe('revoked');
  });

  it('shows the authority refusal beside its field and creates nothing', async () => {
    const browser = await admin();
    await browser.get('/acme-eab');
    const before = (await anvil.authority.acmeEab.list()).length;
    const bad = await browser.post('/acme-eab', { name: 'Bad', profiles: ['server'], sanPatterns: '*.\n' });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.html, 'sanPatterns')).toMatch(/not a valid pattern/);
    const none = await browser.post('/acme-eab', { name: 'No profile' });
    expect(none.status).toBe(422);
    expect(fieldError(none.html, 'profiles')).toMatch(/profiles/);
    expect((await anvil.authority.acmeEab.list()).length).toBe(before);
  });

  it('refuses a form without its CSRF token, and an auditor', async () => {
    const browser = await admin();
    await browser.get('/acme-eab');
    expect((await browser.post('/acme-eab', { name: 'x', profiles: ['server'] }, { csrf: false })).status).toBe(403);
    const created = await anvil.authority.users.create({ username: 'audrey', role: 'auditor' }, { id: 'test', name: 'test', source: null });
    const auditor = new ConsoleClient(anvil);
    await auditor.signIn('audrey', created.password);
    await auditor.post('/account/password', { current: created.password, next: 'audrey passphrase ok', confirm: 'audrey passphrase ok' });
    expect((await auditor.get('/acme-eab')).status).toBe(403);
  });
});

/**
 * The console's sign-in, sessions and CSRF guard, in process (PGlite, and PostgreSQL with
 * ANVIL_TEST_DB=postgres): generated bootstrap password that must be changed, cookie flags,
 * rate limit without telling whether an account exists, idle and absolute timeouts, sign-out
 * ending the session in the database, and form posts without (or with another session's) token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, textOf } from '../support/console.ts';
import { createTestAnvil, TEST_DB, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
let clock = Date.now();

beforeAll(async () => {
  anvil = await createTestAnvil({
    adminPassword: null,
    now: () => new Date(clock),
    sessions: { idleMs: 30 * 60_000, absoluteMs: 12 * 3600_000 },
  });
});
afterAll(() => anvil?.close());

describe('bootstrap account and forced password change', () => {
  it('prints nothing to the log, and the generated password signs in once to be changed', async () => {
    expect(anvil.generatedAdminPassword).toMatch(/^[A-Za-z0-9_-]{20}$/);
    const browser = new ConsoleClient(anvil);
    const home = await browser.get('/');
    expect(home.url).toMatch(/^\/sign-in\?next=%2F/);
    expect(home.status).toBe(200);
    const signedIn = await browser.signIn('admin', anvil.generatedAdminPassword!);
    expect(signedIn.url).toBe('/account/password');
    expect(textOf(signedIn.html)).toContain('Choose a new password before you continue');
    // Every page sends the user back here until the password is changed.
    expect((await browser.get('/certificates')).url).toBe('/account/password');
    const short = await browser.post('/account/password', { current: anvil.generatedAdminPassword!, next: 'short', confirm: 'short' });
    expect(short.status).toBe(422);
    expect(textOf(short.html)).toContain('at least 12 characters');
    const changed = await browser.post('/account/password', {
      current: anvil.generatedAdminPassword!,
      next: 'a new passphrase for admin',
      confirm: 'a new passphrase for admin',
    });
    expect(changed.url).toBe('/account/password?done=1');
    expect((await browser.get('/')).url).toBe('/');
    // The old password no longer works; the new one does.
    expect((await new ConsoleClient(anvil).signIn('admin', anvil.generatedAdminPassword!)).status).toBe(401);
    expect((await new ConsoleClient(anvil).signIn('admin', 'a new passphrase for admin')).url).toBe('/');
    const rows = await anvil.store.listUsers();
    expect(rows[0].passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });
});

describe('cookies and headers', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie; pages are no-store with the page CSP', async () => {
    const res = await anvil.app.request('/sign-in');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
    const pre = res.headers.getSetCookie().join('\n');
    expect(pre).toMatch(/anvil_pre=[^;]+;.*HttpOnly/);
    expect(pre).toMatch(/SameSite=Strict/);
    const browser = new ConsoleClient(anvil);
    await browser.get('/sign-in');
    const post = await anvil.app.request('/sign-in', {
      method: 'POST',
      headers: { cookie: `anvil_pre=${browser.cookie('anvil_pre')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: browser.csrf, username: 'admin', password: 'a new passphrase for admin' }).toString(),
    });
    expect(post.status).toBe(303);
    const cookie = post.headers.getSetCookie().find((c) => c.startsWith('anvil_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Secure/); // http: a Secure cookie would never come back
  });

  it('behind https the cookies are __Host- and Secure', async () => {
    const https = await createTestAnvil({ consoleUrl: 'https://console.anvil.test' });
    try {
      const browser = new ConsoleClient(https);
      await browser.signIn();
      expect(browser.cookie('__Host-anvil_session')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const res = await https.app.request('/sign-in');
      expect(res.headers.getSetCookie().join('\n')).toMatch(/__Host-anvil_pre=[^;]+;.*Secure/);
    } finally {
      await https.close();
    }
  });
});

describe('sign-in never tells whether an account exists, and is rate-limited', () => {
  it('answers an unknown user and a wrong password alike, and throttles an account after 5 failures', async () => {
    const a = await new ConsoleClient(anvil).signIn('nobody-here', 'whatever password');
    const b = await new ConsoleClient(anvil).signIn('admin', 'wrong password entirely');
    expect(a.status).toBe(401);
    expect(b.status).toBe(401);
    const msg = (p: { html: string }) => textOf(p.html).match(/Sign-in failed[^.]*\./)?.[0];
    expect(msg(a)).toBe(msg(b));
    const victim = await anvil.authority.users.create({ username: 'victim', role: 'auditor' }, { id: 'test', name: 'test', source: null });
    for (let i = 0; i < 5; i++) await new ConsoleClient(anvil).signIn('victim', `wrong ${i} password`);
    // The right password is refused while the account is throttled, with the same answer.
    const throttled = await new ConsoleClient(anvil).signIn('victim', victim.password);
    expect(throttled.status).toBe(401);
    expect(msg(throttled)).toBe(msg(a));
    clock += 16 * 60_000; // the window passes
    expect((await new ConsoleClient(anvil).signIn('victim', victim.password)).url).toBe('/account/password');
    const audit = await anvil.authority.listAudit({ limit: 50, action: 'user.sign_in' });
    expect(audit.some((r) => r.outcome === 'failure' && r.details?.code === 'throttled')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(victim.password);
  });
});

describe('sessions', () => {
  it('ends after 30 idle minutes and after 12 hours whatever the activity; sign-out ends it in the database', async () => {
    const browser = new ConsoleClient(anvil);
    expect((await browser.signIn('admin', 'a new passphrase for admin')).url).toBe('/');
    clock += 29 * 60_000;
    expect((await browser.get('/')).url).toBe('/');
    clock += 31 * 60_000;
    const idle = await browser.get('/certificates');
    expect(idle.url).toMatch(/^\/sign-in\?next=%2Fcertificates&ended=1$/);
    expect(textOf(idle.html)).toContain('Your session ended');

    const busy = new ConsoleClient(anvil);
    await busy.signIn('admin', 'a new passphrase for admin');
    for (let step = 0; step < 14; step++) {
      clock += 25 * 60_000;
      expect((await busy.get('/')).url).toBe('/');
      clock += 25 * 60_000;
      expect((await busy.get('/')).url).toBe('/');
    }
    clock += 25 * 60_000;
    expect((await busy.get('/')).url).toMatch(/^\/sign-in/);

    const leaving = new ConsoleClient(anvil);
    await leaving.signIn('admin', 'a new passphrase for admin');
    const token = leaving.cookie('anvil_session')!;
    await leaving.post('/sign-out', {});
    expect(leaving.cookie('anvil_session')).toBeUndefined();
    // The cookie replayed after sign-out opens nothing: the session ended in the database.
    const replay = new ConsoleClient(anvil);
    replay.setCookie('anvil_session', token);
    expect((await replay.get('/')).url).toMatch(/^\/sign-in/);
  });
});

describe('CSRF', () => {
  it('refuses a form post without its token, or with another session’s, with 403 and changes nothing', async () => {
    const alice = new ConsoleClient(anvil);
    await alice.signIn('admin', 'a new passphrase for admin');
    await alice.get('/account/password');
    const bob = new ConsoleClient(anvil);
    await bob.signIn('admin', 'a new passphrase for admin');
    await bob.get('/account/password');
    const change = { current: 'a new passphrase for admin', next: 'never set by csrf attack', confirm: 'never set by csrf attack' };
    const without = await alice.post('/account/password', change, { csrf: false });
    expect(without.status).toBe(403);
    const foreign = await alice.post('/account/password', { ...change, _csrf: bob.csrf });
    expect(foreign.status).toBe(403);
    expect(textOf(foreign.html)).toContain('Nothing was changed');
    const signOut = await alice.post('/sign-out', {}, { csrf: false });
    expect(signOut.status).toBe(403);
    expect((await alice.get('/')).url).toBe('/'); // still signed in
    expect((await new ConsoleClient(anvil).signIn('admin', 'never set by csrf attack')).status).toBe(401);
    const signIn = await new ConsoleClient(anvil).post(
      '/sign-in',
      { username: 'admin', password: 'a new passphrase for admin' },
      { csrf: false },
    );
    expect(signIn.status).toBe(403);
  });

  it('sends a sign-in back only to a path of this site', async () => {
    const browser = new ConsoleClient(anvil);
    await browser.get('/sign-in?next=//evil.example/');
    const res = await browser.post('/sign-in', { username: 'admin', password: 'a new passphrase for admin', next: '//evil.example/' });
    expect(res.url).toBe('/');
  });

  it('answers an unknown console address with a 404 page in the layout', async () => {
    const browser = new ConsoleClient(anvil);
    await browser.signIn('admin', 'a new passphrase for admin');
    const res = await browser.get('/certificates/no/such/page');
    expect(res.status).toBe(404);
    expect(res.html).toContain('<main');
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });
});

describe.skipIf(TEST_DB !== 'postgres')('sessions shared by two server processes on one PostgreSQL', () => {
  it('a session opened on one process works on the other, and signing out on either ends it on both', async () => {
    const a = await createTestAnvil();
    const b = await createTestAnvil({ shareDatabase: { url: a.database.url!, kek: a.database.kek } });
    try {
      const onA = new ConsoleClient(a);
      expect((await onA.signIn()).url).toBe('/');
      const onB = new ConsoleClient(b);
      onB.setCookie('anvil_session', onA.cookie('anvil_session')!);
      expect((await onB.get('/certificates')).url).toBe('/certificates');
      await onB.get('/');
      await onB.post('/sign-out', {});
      expect((await onA.get('/')).url).toMatch(/^\/sign-in/);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

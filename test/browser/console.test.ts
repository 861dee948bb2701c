/**
 * The operator console in a real browser (Debian's chromium through playwright-core) against a
 * real server process on PostgreSQL: first sign-in with the generated password, issue and
 * revoke, offboarding a partner, CSRF and session expiry, roles, and axe-core plus a screenshot
 * of every page at 360 px and 1440 px (PNG files in test-results/screenshots/).
 * Under CI=true a missing chromium or PostgreSQL fails the run; elsewhere the suite skips loudly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, freshPostgresDatabase, PG_ADMIN_URL } from '../support/harness.ts';
import { haveTool, openssl, run, tempDir, writeFiles } from '../support/tools.ts';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [360, 1440] as const;

const haveChromium = existsSync(CHROMIUM) || haveTool('chromium');

async function postgresReachable(): Promise<boolean> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error(`PostgreSQL (${PG_ADMIN_URL}) is required under CI for the console browser suite`);
    console.warn('\n  !!! SKIPPING the console browser suite: PostgreSQL is not reachable\n');
    return false;
  } finally {
    await sql.end();
  }
}
const available = haveChromium && (await postgresReachable());

let server: ChildProcess;
let serverOut = '';
let serverErr = '';
let base = '';
let database: { url: string; drop: () => Promise<void> } | undefined;
let dbUrl = '';
let adminToken = '';
let generatedPassword = '';
let browser: Browser;
let admin: Page;
const ADMIN_NEW_PASSWORD = 'console admin passphrase 2026';

async function startServer() {
  const port = await freePort();
  const mtlsPort = await freePort();
  database = await freshPostgresDatabase('anvil_browser');
  dbUrl = database.url;
  base = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, ['--import', 'tsx', 'apps/server/src/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ANVIL_MTLS_PORT: String(mtlsPort),
      ANVIL_DATA_DIR: tempDir('anvil-browser-'),
      DATABASE_URL: dbUrl,
      ANVIL_PUBLIC_URL: base,
      ANVIL_ADMIN_PASSWORD: '',
      ANVIL_ADMIN_TOKEN: '',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (d) => (serverOut += d));
  server.stderr!.on('data', (d) => (serverErr += d));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const password = /user admin\s+password (\S+)/.exec(serverErr);
    const token = /export ANVIL_TOKEN=(\S+)/.exec(serverErr);
    if (password && token && serverOut.includes('Anvil listening')) {
      generatedPassword = password[1];
      adminToken = token[1];
      return;
    }
    if (server.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the server did not start:\n${serverOut}\n${serverErr}`);
}

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function issueClient(cn: string, o: string, dns: string) {
  const res = await api('POST', '/api/v1/certificates', { profile: 'client', subject: { CN: cn, O: o }, sans: { dns: [dns] } });
  expect(res.status).toBe(201);
  return res.body as { id: string; serial: string; certificate: string; issuer: string };
}

async function newPage(width = 1440): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  return { context, page };
}

/** axe-core violations of serious or critical impact on the page as it is now. */
async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: outside the page CSP, which the page itself keeps.
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (o: unknown) => Promise<any> } }).axe;
    return axe.run({ resultTypes: ['violations'] });
  });
  return (result.violations as Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }>)
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

const audited: string[] = [];

/** axe at both widths and a screenshot at each; the page is left at 1440 px. */
async function checkPage(page: Page, name: string) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    const violations = await seriousViolations(page);
    expect(violations.join('\n'), `${name} at ${width} px`).toBe('');
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
    // Nothing but a table region scrolls sideways at 360 px: the page itself fits.
    const overflow = await page.evaluate(() => {
      const root = document.documentElement;
      const wide = Array.from(document.querySelectorAll('main *'))
        .filter((e) => e.getBoundingClientRect().right > root.clientWidth + 1 && !e.closest('.table-wrap'))
        .slice(0, 3)
        .map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
      return { by: root.scrollWidth - root.clientWidth, wide };
    });
    expect(overflow.by, `${name} at ${width} px scrolls sideways (${overflow.wide.join(', ')})`).toBeLessThanOrEqual(1);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
  audited.push(name);
}

async function signIn(page: Page, username: string, password: string) {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function changePassword(page: Page, current: string, next: string) {
  await page.getByLabel('Current password').fill(current);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('New password again').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Your password was changed').waitFor();
}

function crlSerials(der: Uint8Array): string {
  const dir = tempDir();
  const files = writeFiles(dir, { 'crl.der': der });
  return openssl('crl', '-inform', 'DER', '-in', files['crl.der'], '-noout', '-text').toLowerCase();
}

/** What `openssl ocsp` hears from Anvil's responder about a certificate (good / revoked …). */
async function ocspStatus(certPem: string, issuer: string): Promise<string> {
  const issuerPem = await (await fetch(`${base}/pki/issuers/${issuer}/chain.pem`)).text();
  const trust = await (await fetch(`${base}/pki/trust-bundle.pem`)).text();
  const files = writeFiles(tempDir(), { 'cert.pem': certPem, 'issuer.pem': issuerPem, 'trust.pem': trust });
  return run('openssl', [
    'ocsp',
    '-issuer',
    files['issuer.pem'],
    '-cert',
    files['cert.pem'],
    '-url',
    `${base}/ocsp`,
    '-CAfile',
    files['trust.pem'],
  ]).out;
}

describe.skipIf(!available)('the operator console in chromium', () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    admin = (await newPage()).page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    await new Promise((r) => (server?.exitCode !== null ? r(null) : server.once('exit', r)));
    await database?.drop();
  });

  it('prints the generated password once to the terminal, never to the log', () => {
    expect(generatedPassword).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(serverOut).not.toContain(generatedPassword);
    expect(serverOut).not.toContain(adminToken);
  });

  it('signs in with the generated password and is made to change it', async () => {
    await admin.goto(`${base}/sign-in`);
    await checkPage(admin, 'sign-in');
    await signIn(admin, 'admin', generatedPassword);
    await admin.waitForURL(`${base}/account/password`);
    await admin.getByText('Choose a new password before you continue').waitFor();
    await checkPage(admin, 'account-password');
    await changePassword(admin, generatedPassword, ADMIN_NEW_PASSWORD);
    await admin.goto(`${base}/`);
    await admin.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await checkPage(admin, 'dashboard');
  });

  it('issues a client certificate with a generated key, finds it by organisation and revokes it with keyCompromise', async () => {
    await admin.goto(`${base}/issue`);
    await checkPage(admin, 'issue');
    await admin.getByLabel('Profile').selectOption('client');
    await admin.getByLabel('Common name (CN)').fill('payments.partner-a.test');
    await admin.getByLabel('Organization (O)').fill('Partner A');
    await admin.getByLabel('DNS names').fill('payments.partner-a.test');
    await admin.getByLabel('PKCS#12 password (optional)').fill('p12 passphrase');
    await admin.getByRole('button', { name: 'Issue', exact: true }).click();
    await admin.getByRole('heading', { level: 1, name: 'Certificate issued' }).waitFor();
    const keyPem = await admin.getByLabel('Private key (PKCS#8 PEM)').inputValue();
    expect(keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    const certPem = await admin.getByLabel('Certificate (PEM)').inputValue();
    // The key.pem link downloads the same key (a data: URL, under the page's CSP).
    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.getByRole('link', { name: /Private key \(key\.pem\)/ }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/key\.pem$/);
    expect(readFileSync((await download.path())!, 'utf8').trim()).toBe(keyPem.trim());
    await checkPage(admin, 'issue-result');
    // The key matches the certificate (openssl), and is not shown again on a reload (a resubmission).
    const files = writeFiles(tempDir(), { 'key.pem': keyPem, 'cert.pem': certPem });
    expect(openssl('pkey', '-in', files['key.pem'], '-pubout')).toBe(openssl('x509', '-in', files['cert.pem'], '-noout', '-pubkey'));
    admin.once('dialog', (d) => void d.accept());
    await admin.reload();
    await admin.getByRole('heading', { level: 1 }).waitFor();
    expect(await admin.content()).not.toContain('BEGIN PRIVATE KEY');
    await admin.goBack().catch(() => undefined);
    expect(await admin.content()).not.toContain('BEGIN PRIVATE KEY');

    await admin.goto(`${base}/certificates`);
    await admin.getByLabel('Search', { exact: true }).fill('Partner A');
    await admin.getByRole('button', { name: 'Search', exact: true }).click();
    await admin
      .getByRole('cell', { name: /payments\.partner-a\.test/ })
      .first()
      .waitFor();
    await checkPage(admin, 'certificates');
    const listed = (await api('GET', '/api/v1/certificates?q=partner%20a')).body.items as Array<{
      id: string;
      serial: string;
      issuer: string;
    }>;
    expect(listed).toHaveLength(1);
    const [cert] = listed;
    await admin.getByLabel(new RegExp(`Select .*${cert.serial}`)).check();
    await admin.getByRole('button', { name: 'Review revocation of selected' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Revoke 1 certificate?' }).waitFor();
    await checkPage(admin, 'revoke-review');
    await admin.getByRole('radio', { name: /keyCompromise/ }).check();
    await admin.getByRole('button', { name: /Confirm: revoke 1 certificate/ }).click();
    await admin.getByRole('heading', { level: 1, name: 'Revocation result' }).waitFor();
    await checkPage(admin, 'revoke-result');

    await admin.goto(`${base}/certificates/${cert.id}`);
    const detail = await admin.locator('main').innerText();
    expect(detail).toMatch(/revoked/i);
    expect(detail).toContain('keyCompromise');
    await checkPage(admin, 'certificate-detail');
    const crl = new Uint8Array(await (await fetch(`${base}/pki/crl/${cert.issuer}.crl`)).arrayBuffer());
    expect(crlSerials(crl)).toContain(cert.serial.toLowerCase().replace(/^0+/, ''));
    const ocsp = await ocspStatus(certPem, cert.issuer);
    expect(ocsp).toContain('Response verify OK');
    expect(ocsp).toMatch(/: revoked/);
    expect(ocsp).toContain('Reason: keyCompromise');
  });

  it('offboards a partner with three active certificates in one confirmation; another partner stays active', async () => {
    const partner = await Promise.all([1, 2, 3].map((n) => issueClient(`svc-${n}.partner-c.test`, 'Partner C', `svc-${n}.partner-c.test`)));
    const other = await issueClient('svc-1.partner-d.test', 'Partner D', 'svc-1.partner-d.test');
    await admin.goto(`${base}/certificates?q=${encodeURIComponent('Partner C')}&status=active`);
    await admin.getByRole('button', { name: 'Review revocation of every active certificate of this search' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Revoke 3 certificates?' }).waitFor();
    const listedText = await admin.locator('main').innerText();
    for (const c of partner) expect(listedText).toContain(c.serial);
    expect(listedText).not.toContain(other.serial);
    await admin.getByRole('radio', { name: /cessationOfOperation/ }).check();
    await admin.getByRole('button', { name: /Confirm: revoke 3 certificates/ }).click();
    await admin.getByRole('heading', { level: 1, name: 'Revocation result' }).waitFor();
    for (const c of partner) expect((await api('GET', `/api/v1/certificates/${c.id}`)).body.status).toBe('revoked');
    expect((await api('GET', `/api/v1/certificates/${other.id}`)).body.status).toBe('active');
  });

  it('refuses a form post without its CSRF token (403, nothing changes); an expired session goes to sign-in', async () => {
    const target = await issueClient('csrf.partner-e.test', 'Partner E', 'csrf.partner-e.test');
    await admin.goto(`${base}/certificates/${target.id}`);
    const status = await admin.evaluate(async (id) => {
      const body = new URLSearchParams({ id, reason: 'keyCompromise' });
      return (await fetch('/revoke/confirm', { method: 'POST', body })).status;
    }, target.id);
    expect(status).toBe(403);
    expect((await api('GET', `/api/v1/certificates/${target.id}`)).body.status).toBe('active');

    const { context, page } = await newPage();
    await signIn(page, 'admin', ADMIN_NEW_PASSWORD);
    await page.waitForURL(`${base}/`);
    // 31 minutes without a request, as the database sees it.
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    // The newest session is this page's (the admin page's own stays open).
    await sql`update sessions set last_seen_at = last_seen_at - interval '31 minutes' where id_hash = (select id_hash from sessions order by created_at desc limit 1)`;
    await sql.end();
    await page.goto(`${base}/certificates`);
    await page.waitForURL(/\/sign-in\?next=%2Fcertificates&ended=1$/);
    await page.getByText('Your session ended').waitFor();
    await context.close();
  });

  it('an auditor sees no issue or revoke control and gets 403 from them; an operator cannot manage users', async () => {
    const created: Record<string, string> = {};
    for (const [username, role] of [
      ['olga', 'operator'],
      ['arthur', 'auditor'],
    ] as const) {
      await admin.goto(`${base}/users`);
      await admin.getByLabel('Username', { exact: true }).fill(username);
      await admin.getByLabel('Role', { exact: true }).selectOption(role);
      await admin.getByRole('button', { name: 'Create user' }).click();
      created[username] = (await admin.locator('code.secret').innerText()).trim();
      if (username === 'olga') await checkPage(admin, 'user-created');
    }
    const cert = await issueClient('audit.partner-f.test', 'Partner F', 'audit.partner-f.test');

    const auditor = await newPage();
    await signIn(auditor.page, 'arthur', created.arthur);
    await auditor.page.waitForURL(`${base}/account/password`);
    await changePassword(auditor.page, created.arthur, 'auditor passphrase 2026');
    await auditor.page.goto(`${base}/certificates?q=partner%20f`);
    expect(await auditor.page.getByRole('link', { name: 'Issue', exact: true }).count()).toBe(0);
    expect(await auditor.page.getByRole('checkbox').count()).toBe(0);
    expect(await auditor.page.getByRole('button', { name: /revoc|revoke/i }).count()).toBe(0);
    await auditor.page.goto(`${base}/certificates/${cert.id}`);
    expect(await auditor.page.getByRole('button', { name: /revoke|release/i }).count()).toBe(0);
    const refused = await auditor.page.evaluate(async (id) => {
      const csrf = (document.querySelector('input[name=_csrf]') as HTMLInputElement).value;
      const post = async (path: string, fields: Record<string, string>) =>
        (await fetch(path, { method: 'POST', body: new URLSearchParams({ _csrf: csrf, ...fields }) })).status;
      return {
        issue: await post('/issue', { profile: 'client', keySource: 'generate', CN: 'x.partner-f.test', dns: 'x.partner-f.test' }),
        review: await post('/revoke/review', { id }),
        confirm: await post('/revoke/confirm', { id, reason: 'keyCompromise' }),
      };
    }, cert.id);
    expect(refused).toEqual({ issue: 403, review: 403, confirm: 403 });
    expect((await api('GET', `/api/v1/certificates/${cert.id}`)).body.status).toBe('active');
    await auditor.page.goto(`${base}/issue`);
    await checkPage(auditor.page, 'forbidden');
    await auditor.context.close();

    const operator = await newPage();
    await signIn(operator.page, 'olga', created.olga);
    await operator.page.waitForURL(`${base}/account/password`);
    await changePassword(operator.page, created.olga, 'operator passphrase 2026');
    expect(await operator.page.getByRole('link', { name: 'Users', exact: true }).count()).toBe(0);
    const users = await operator.page.goto(`${base}/users`);
    expect(users?.status()).toBe(403);
    await operator.context.close();
  });

  it('every other page passes axe at 360 and 1440 px, with a screenshot of each', async () => {
    const cert = await issueClient('pages.partner-g.test', 'Partner G', 'pages.partner-g.test');
    const chain = await (await fetch(`${base}/pki/issuers/${cert.issuer}/chain.pem`)).text();
    const pages: Array<[string, string]> = [
      ['issuers', '/issuers'],
      ['issuer-detail', `/issuers/${cert.issuer}`],
      ['profiles', '/profiles'],
      ['profile-detail', '/profiles/client'],
      ['profile-new', '/profiles/new'],
      ['profile-edit', '/profiles/client/edit'],
      ['users', '/users'],
      ['tokens', '/tokens'],
      ['invitations', '/invitations'],
      ['gateway-nginx', `/issuers/${cert.issuer}/gateway/nginx`],
      ['audit', '/audit'],
      ['judge', '/judge'],
      ['not-found', '/certificates/00000000-0000-0000-0000-000000000000'],
    ];
    for (const [name, path] of pages) {
      const res = await admin.goto(`${base}${path}`);
      expect(res?.status(), path).toBe(name === 'not-found' ? 404 : 200);
      await checkPage(admin, name);
    }
    // The judge's verdict on a pasted chain.
    await admin.goto(`${base}/judge`);
    await admin
      .getByLabel(/chain/i)
      .first()
      .fill(cert.certificate + chain);
    await admin.getByRole('button', { name: /judge/i }).click();
    await admin.getByText('SUCCESS').first().waitFor();
    await checkPage(admin, 'judge-verdict');
    expect(audited.length).toBeGreaterThanOrEqual(20);
  });

  it('a partner without an account enrols through an invitation link, with a key made as PKCS#12; the used link says so', async () => {
    const invited = await api('POST', '/api/v1/invitations', {
      name: 'Partner H',
      profile: 'client',
      subject: { O: 'Partner H' },
      sans: { dns: ['api.partner-h.test'] },
    });
    expect(invited.status).toBe(201);
    const { context, page } = await newPage(); // no session cookie: no account
    const opened = await page.goto(invited.body.url);
    expect(opened?.status()).toBe(200);
    await page.getByText('Certificate for Partner H').first().waitFor();
    await checkPage(page, 'enroll');
    await page.getByLabel('PKCS#12 password').fill('partner h p12 password');
    await page.getByRole('button', { name: /make the key/i }).click();
    await page.getByRole('heading', { name: 'Certificate issued' }).waitFor();
    await checkPage(page, 'enroll-result');
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: /PKCS#12/ }).click();
    expect((await download).suggestedFilename()).toBe('api.partner-h.test.p12');
    const again = await page.goto(invited.body.url);
    expect(again?.status()).toBe(410);
    await checkPage(page, 'enroll-used');
    await context.close();
  });
});

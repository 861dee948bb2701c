/**
 * No secret in the server's output or the audit trail. The real server process (`apps/server/src/main.ts`,
 * LOG_LEVEL=trace, every byte of stdout and stderr captured) goes through a whole flow: bootstrap,
 * a partner token created and used, a key generated with a PKCS#12 password, an invitation opened
 * and used (its key made here, with a PKCS#12 password too), refused requests carrying secrets
 * (a wrong token, a wrong password, a used invitation), console sign-in, a user created and its
 * password changed. Then every secret of the flow is looked for in the output and in every audit
 * row, whole and by its base64 body lines. Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient } from '../support/console.ts';
import { freePort, freshPostgresDatabase, TEST_DB } from '../support/harness.ts';
import { tempDir } from '../support/tools.ts';

const ADMIN_TOKEN = `anvil_${'s'.repeat(20)}AdminTokenNeverLogged`;
const ADMIN_PASSWORD = 'admin password never logged 7f3a';

let server: ChildProcess;
let output = '';
let base = '';
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(port),
    HOST: '127.0.0.1',
    ANVIL_MTLS_PORT: String(await freePort()),
    ANVIL_DATA_DIR: tempDir('anvil-secrets-'),
    ANVIL_PUBLIC_URL: base,
    ANVIL_ADMIN_TOKEN: ADMIN_TOKEN,
    ANVIL_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOG_LEVEL: 'trace',
  };
  delete env.DATABASE_URL;
  if (TEST_DB === 'postgres') {
    const db = await freshPostgresDatabase('anvil_secrets');
    env.DATABASE_URL = db.url;
    drop = db.drop;
  }
  server = spawn(process.execPath, ['--import', 'tsx', 'apps/server/src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d) => (output += d));
  server.stderr!.on('data', (d) => (output += d));
  // Generous: under a loaded CI the first start (PGlite, migrations, two CA keys) can take long.
  const deadline = Date.now() + 150_000;
  while (!output.includes('Anvil listening') && server.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  if (!output.includes('Anvil listening')) throw new Error(`the server did not start:\n${output}`);
}, 180_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  await drop?.();
});

async function call(method: string, path: string, body?: unknown, token = ADMIN_TOKEN, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: text.startsWith('{') ? JSON.parse(text) : null };
}

/** Every way a secret could show: whole, and each base64 line of a PEM body (a key logged re-wrapped or in pieces). */
function needles(secret: string): string[] {
  if (!secret.includes('-----BEGIN')) return [secret];
  return secret
    .split('\n')
    .filter((l) => l.length >= 40 && !l.startsWith('-----'))
    .concat(secret.replace(/-----[^-]+-----|\s/g, '').slice(0, 64));
}

describe('a whole flow leaves no secret in the server output or the audit trail', () => {
  it('bootstrap, tokens, keys, PKCS#12, invitation, sign-in, users', async () => {
    const secrets: Record<string, string> = { adminToken: ADMIN_TOKEN, adminPassword: ADMIN_PASSWORD };

    // A partner token, created and used to issue with a key made by the server and a PKCS#12 password.
    const created = await call('POST', '/api/v1/tokens', {
      name: 'partner-s',
      scopes: ['certificates:issue', 'certificates:read'],
      profiles: ['client'],
      sanPatterns: ['*.partner-s.test'],
    });
    expect(created.status).toBe(201);
    secrets.partnerToken = created.body.token;
    secrets.pkcs12Password = 'partner p12 password never logged';
    const issued = await call(
      'POST',
      '/api/v1/certificates',
      {
        profile: 'client',
        subject: { CN: 'api.partner-s.test' },
        sans: { dns: ['api.partner-s.test'] },
        pkcs12Password: secrets.pkcs12Password,
      },
      secrets.partnerToken,
    );
    expect(issued.status, issued.text).toBe(201);
    secrets.generatedKey = issued.body.privateKey;
    secrets.pkcs12 = issued.body.pkcs12;
    expect((await call('GET', '/api/v1/certificates', undefined, 'anvil_wrongTokenNeverLogged0000000000000000000')).status).toBe(401);

    // An invitation: opened, used with a key made here, used again (refused).
    const invited = await call('POST', '/api/v1/invitations', {
      name: 'Partner S',
      profile: 'client',
      sans: { dns: ['inv.partner-s.test'] },
    });
    expect(invited.status, invited.text).toBe(201);
    const secret = new URL(invited.body.url).pathname.split('/').pop()!;
    secrets.invitationSecret = secret;
    expect((await fetch(invited.body.url)).status).toBe(200);
    secrets.invitationP12Password = 'invitation p12 password never logged';
    const enrolled = await call('POST', new URL(invited.body.url).pathname, {
      keyAlgorithm: 'EC-P256',
      pkcs12Password: secrets.invitationP12Password,
    });
    expect(enrolled.status, enrolled.text).toBe(201);
    secrets.invitationKey = enrolled.body.privateKey;
    expect((await call('POST', new URL(invited.body.url).pathname, { keyAlgorithm: 'EC-P256' })).status).toBe(410);
    expect((await fetch(`${base}/enroll/${secret.slice(0, -4)}AAAA`)).status).toBe(404);

    // The console: a failed and a good sign-in, a user created (generated password), its password changed.
    const browser = new ConsoleClient({
      app: { request: (url: string, init?: RequestInit) => fetch(`${base}${url}`, { ...init, redirect: 'manual' }) },
    } as never);
    expect((await browser.signIn('admin', 'wrong password never logged')).status).not.toBe(200);
    secrets.wrongPassword = 'wrong password never logged';
    expect((await browser.signIn('admin', ADMIN_PASSWORD)).url).toBe('/');
    secrets.sessionCookie = [...(browser as unknown as { jar: Map<string, string> }).jar.values()].join('\n');
    secrets.csrf = browser.csrf;
    await browser.get('/users');
    const user = await browser.post('/users', { username: 'sam', role: 'operator' });
    const generated = /<code class="mono secret">([^<]+)<\/code>/.exec(user.html)![1];
    secrets.userPassword = generated;
    const sam = new ConsoleClient({
      app: { request: (url: string, init?: RequestInit) => fetch(`${base}${url}`, { ...init, redirect: 'manual' }) },
    } as never);
    await sam.signIn('sam', generated);
    secrets.userNewPassword = 'sam chose this passphrase';
    const changed = await sam.post('/account/password', {
      current: generated,
      next: secrets.userNewPassword,
      confirm: secrets.userNewPassword,
    });
    expect(changed.url).toBe('/account/password?done=1');
    await browser.post('/sign-out', {});

    // Everything the audit trail holds, and everything the process wrote.
    const audit = await fetch(`${base}/api/v1/audit/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(audit.status).toBe(200);
    const trail = await audit.text();
    expect(trail).toContain('invitation.create');
    expect(trail).toContain('user.sign_in');
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    expect(output).toContain('"msg":"request"'); // the access lines are in what is searched

    const hashes = Object.fromEntries(
      ['adminToken', 'partnerToken', 'invitationSecret'].map((k) => [`${k}Hash`, createHash('sha256').update(secrets[k]).digest('hex')]),
    );
    for (const [name, value] of Object.entries({ ...secrets, ...hashes })) {
      expect(value, name).toBeTruthy();
      for (const needle of needles(value)) {
        for (const line of needle.split('\n').filter((l) => l.length >= 8)) {
          expect(output.includes(line), `${name} in the server output`).toBe(false);
          expect(trail.includes(line), `${name} in the audit trail`).toBe(false);
        }
      }
    }
  }, 120_000);
});

/**
 * EST (RFC 7030) with the clients RFC 7030 itself shows: curl sends a base64 PKCS#10 made by
 * `openssl req -outform DER | base64`, and `base64 -d | openssl pkcs7 -print_certs` reads the
 * answer; `openssl verify` then checks what was issued. Against a listening test Anvil with its
 * mTLS listener (enrollment) and its plain HTTP listener (cacerts, csrattrs; enrollment refused).
 */
import { KeyObject, X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';

const execFileP = promisify(execFile);
const TOOLS = haveTool('curl') && haveTool('openssl') && haveTool('base64');
if (!TOOLS) {
  if (process.env.CI === 'true') throw new Error('curl, openssl and base64 are required for the EST suite under CI');
  console.warn('\n  !!! SKIPPING the EST suite: curl, openssl or base64 is missing\n');
}

let anvil: TestAnvil;
let dir: string;
let bundle: string;
let mtlsBase: string;
let httpBase: string;

beforeAll(async () => {
  if (!TOOLS) return;
  anvil = await createTestAnvil({ listen: true, mtls: true });
  dir = tempDir('anvil-est-');
  bundle = writeFiles(dir, { 'trust-bundle.pem': await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text() })[
    'trust-bundle.pem'
  ];
  mtlsBase = `https://127.0.0.1:${anvil.mtls!.port}/.well-known/est`;
  httpBase = `${anvil.publicUrl}/.well-known/est`;
});
afterAll(async () => {
  await anvil?.close();
});

let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);
/** A new file in the work directory with `content`; its path. */
const file = (name: string, content: string) => {
  const path = fresh(name);
  writeFileSync(path, content);
  return path;
};

/** A shell line (RFC 7030's examples are pipelines); fails the test when it fails. */
function sh(line: string): string {
  const r = run('sh', ['-c', line]);
  expect(r.status, `${line}\n${r.out}`).toBe(0);
  return r.out;
}

interface Answer {
  status: number;
  headers: string;
  body: string;
  bodyPath: string;
}

/**
 * curl against `url` with `args`: status, raw headers and body (also kept in a file). Asynchronous:
 * the server answering it runs in this process, so a spawnSync would wait for itself.
 */
async function curl(url: string, args: string[] = []): Promise<Answer> {
  const headersPath = fresh('headers.txt');
  const bodyPath = fresh('body');
  const { stdout } = await execFileP(
    'curl',
    ['-sS', '--max-time', '30', '--cacert', bundle, '-D', headersPath, '-o', bodyPath, '-w', '%{http_code}', ...args, url],
    { encoding: 'utf8' },
  );
  return { status: Number(stdout.trim()), headers: readFileSync(headersPath, 'utf8'), body: readFileSync(bodyPath, 'utf8'), bodyPath };
}

const header = (a: Answer, name: string) => new RegExp(`^${name}:\\s*(.*?)\\r?$`, 'im').exec(a.headers)?.[1] ?? null;

/** `openssl req -new ... -outform DER | base64 > req.b64`, with a new P-256 key. */
function newCsr(subject: string, san?: string): { key: string; b64: string } {
  const key = fresh('key.pem');
  const b64 = fresh('req.b64');
  sh(
    `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${key} -subj '${subject}'` +
      `${san ? ` -addext 'subjectAltName=${san}'` : ''} -outform DER | base64 > ${b64}`,
  );
  return { key, b64 };
}

/** POST of a base64 request as RFC 7030 shows it. */
function post(url: string, b64: string, auth: string[] = []): Promise<Answer> {
  return curl(url, ['--data-binary', `@${b64}`, '-H', 'Content-Type: application/pkcs10', ...auth]);
}

/** `base64 -d | openssl pkcs7 -inform DER -print_certs`: the PEM certificates of a certs-only answer, in order. */
function printCerts(a: Answer): string[] {
  const pem = sh(`base64 -d ${a.bodyPath} | openssl pkcs7 -inform DER -print_certs`);
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
}

/** openssl verify -x509_strict of a leaf with its chain against the trust bundle. */
function verify(leaf: string, chain: string[], purpose = 'sslclient'): string {
  return sh(
    `openssl verify -x509_strict -purpose ${purpose} -CAfile ${bundle} -untrusted ${file('chain.pem', chain.join(''))} ${file('leaf.pem', leaf)}`,
  );
}

/** SubjectPublicKeyInfo hex of a certificate's key or of a private key file. */
const spki = (key: KeyObject | Buffer) =>
  (key instanceof KeyObject && key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' }).toString('hex');

async function invite(profile: string, dns: string): Promise<string> {
  const r = await anvil.api('POST', '/api/v1/invitations', { name: `EST ${dns}`, profile, sans: { dns: [dns] } });
  const body = (await r.json()) as { url: string };
  expect(r.status, JSON.stringify(body)).toBe(201);
  return new URL(body.url).pathname.split('/').pop()!;
}

async function certificateCount(): Promise<number> {
  const r = await anvil.api('GET', '/api/v1/certificates?limit=500');
  return ((await r.json()) as { items: unknown[] }).items.length;
}

function expectTextRefusal(a: Answer, status: number, text: RegExp): void {
  expect(a.status, a.body).toBe(status);
  expect(header(a, 'content-type')).toMatch(/^text\/plain/);
  expect(a.body).toMatch(text);
}

/** A client certificate enrolled over EST with an invitation: its key, leaf and chain files. */
async function enrolled(dns: string) {
  const secret = await invite('client', dns);
  const { key, b64 } = newCsr(`/CN=${dns}`);
  const a = await post(`${mtlsBase}/client/simpleenroll`, b64, ['-u', `partner:${secret}`]);
  expect(a.status, a.body).toBe(200);
  const [leaf, ...chain] = printCerts(a);
  const fullchain = file('fullchain.pem', leaf + chain.join(''));
  return { key, leaf, chain, fullchain, secret };
}

describe.skipIf(!TOOLS)('EST (RFC 7030) with curl and openssl', () => {
  it('cacerts: the profile issuer chain up to the root as base64 certs-only PKCS#7, on both listeners', async () => {
    const root = new X509Certificate(readFileSync(bundle));
    for (const base of [mtlsBase, httpBase]) {
      const a = await curl(`${base}/client/cacerts`);
      expect(a.status, a.body).toBe(200);
      expect(header(a, 'content-type')).toBe('application/pkcs7-mime; smime-type=certs-only');
      expect(header(a, 'content-transfer-encoding')).toBe('base64');
      expect(a.body.split('\n').every((line) => line.length <= 64)).toBe(true);
      const certs = printCerts(a).map((pem) => new X509Certificate(pem));
      expect(certs.length).toBe(2);
      expect(certs[1].fingerprint256).toBe(root.fingerprint256);
      expect(certs[0].checkIssued(certs[1])).toBe(true);
      expect(certs[0].ca).toBe(true);
    }
    expectTextRefusal(await curl(`${mtlsBase}/no-such-profile/cacerts`), 404, /there is no profile "no-such-profile"/);
  });

  it('csrattrs: the key types the profile accepts and the extensionRequest, read by openssl asn1parse', async () => {
    const a = await curl(`${httpBase}/client/csrattrs`);
    expect(a.status, a.body).toBe(200);
    expect(header(a, 'content-type')).toBe('application/csrattrs');
    const parsed = sh(`base64 -d ${a.bodyPath} | openssl asn1parse -inform DER`);
    for (const name of [
      'id-ecPublicKey',
      'prime256v1',
      'secp384r1',
      'rsaEncryption',
      'ED25519',
      'Extension Request',
      'Subject Alternative Name',
    ]) {
      expect(parsed).toContain(name);
    }
  });

  it('simpleenroll with an invitation secret: the certificate for the CSR key, which openssl verifies; the secret then is used up (401)', async () => {
    const before = await certificateCount();
    const secret = await invite('client', 'est-a.partner.test');
    const { key, b64 } = newCsr('/CN=est-a.partner.test');
    const a = await post(`${mtlsBase}/client/simpleenroll`, b64, ['-u', `partner:${secret}`]);
    expect(a.status, a.body).toBe(200);
    expect(header(a, 'content-type')).toBe('application/pkcs7-mime; smime-type=certs-only');
    const [leaf, ...chain] = printCerts(a);
    expect(chain.length).toBe(1);
    expect(verify(leaf, chain)).toMatch(/: OK/);
    const cert = new X509Certificate(leaf);
    expect(cert.subjectAltName).toBe('DNS:est-a.partner.test');
    expect(spki(cert.publicKey)).toBe(spki(readFileSync(key)));
    expect(await certificateCount()).toBe(before + 1);

    const again = await post(`${mtlsBase}/client/simpleenroll`, newCsr('/CN=est-a.partner.test').b64, ['-u', `partner:${secret}`]);
    expectTextRefusal(again, 401, /invitation was used .*\(invitation_used\)/);
    expect(header(again, 'www-authenticate')).toMatch(/^Basic realm="anvil-est"/);
    expect(await certificateCount()).toBe(before + 1);
  });

  it('refuses without issuing: wrong profile 403, malformed base64 400, a non-CSR 400, no credentials 401, a bad secret 401, a huge body 413', async () => {
    const before = await certificateCount();
    const secret = await invite('client', 'est-b.partner.test');
    const { b64 } = newCsr('/CN=est-b.partner.test');
    const auth = ['-u', `x:${secret}`];
    expectTextRefusal(await post(`${mtlsBase}/server/simpleenroll`, b64, auth), 403, /this invitation is for profile "client"/);

    const notBase64 = file('bad.b64', 'MIIB%%%not base64!!\r\n');
    expectTextRefusal(
      await post(`${mtlsBase}/client/simpleenroll`, notBase64, auth),
      400,
      /^the body is not a base64 PKCS#10 request: it is not base64/,
    );
    const garbage = file('garbage.b64', `${Buffer.from('hello, this is no CSR').toString('base64')}\r\n`);
    expectTextRefusal(await post(`${mtlsBase}/client/simpleenroll`, garbage, auth), 400, /^the body is not a base64 PKCS#10 request: /);

    const anonymous = await post(`${mtlsBase}/client/simpleenroll`, b64);
    expectTextRefusal(anonymous, 401, /authenticate with the invitation secret/);
    expect(header(anonymous, 'www-authenticate')).toMatch(/^Basic realm="anvil-est"/);
    const unknown = await post(`${mtlsBase}/client/simpleenroll`, b64, ['-u', `x:anvil_inv_${'A'.repeat(43)}`]);
    expectTextRefusal(unknown, 401, /invitation_not_found/);
    expectTextRefusal(await post(`${mtlsBase}/client/simpleenroll`, b64, ['-u', 'x:hunter2']), 401, /no Anvil invitation secret/);
    const huge = file('huge.b64', 'A'.repeat(70_000));
    expectTextRefusal(await post(`${mtlsBase}/client/simpleenroll`, huge, auth), 413, /exceeds 65536 bytes/);
    expect(await certificateCount()).toBe(before);

    // None of that used the invitation up: it still enrolls, with CRLF line breaks in the body.
    const crlf = file('crlf.b64', readFileSync(b64, 'utf8').replace(/\n/g, '\r\n'));
    expect((await post(`${mtlsBase}/client/simpleenroll`, crlf, auth)).status).toBe(200);
  });

  it('enrollment on the plain HTTP listener is 403: it needs TLS', async () => {
    const secret = await invite('client', 'est-c.partner.test');
    const { b64 } = newCsr('/CN=est-c.partner.test');
    for (const op of ['simpleenroll', 'simplereenroll', 'serverkeygen']) {
      expectTextRefusal(
        await post(`${httpBase}/client/${op}`, b64, ['-u', `x:${secret}`]),
        403,
        /^EST enrollment needs TLS: use the mTLS listener/,
      );
    }
  });

  it('simplereenroll with the current certificate: a new serial with the same subject and names; the old one is superseded', async () => {
    const old = await enrolled('est-d.partner.test');
    const before = await certificateCount();
    const next = newCsr('/CN=whatever-the-csr-says');
    const a = await post(`${mtlsBase}/client/simplereenroll`, next.b64, ['--cert', old.fullchain, '--key', old.key]);
    expect(a.status, a.body).toBe(200);
    const [leaf, ...chain] = printCerts(a);
    expect(verify(leaf, chain)).toMatch(/: OK/);
    const was = new X509Certificate(old.leaf);
    const now = new X509Certificate(leaf);
    expect(now.serialNumber).not.toBe(was.serialNumber);
    expect(now.subject).toBe(was.subject);
    expect(now.subjectAltName).toBe(was.subjectAltName);
    expect(spki(now.publicKey)).toBe(spki(readFileSync(next.key)));
    expect(await certificateCount()).toBe(before + 1);

    // Renewed once: the old certificate renews nothing more.
    const twice = await post(`${mtlsBase}/client/simplereenroll`, newCsr('/CN=x').b64, ['--cert', old.fullchain, '--key', old.key]);
    expect(twice.status, twice.body).toBe(403);
    // Without a certificate: 401 (an invitation secret does not renew).
    expectTextRefusal(await post(`${mtlsBase}/client/simplereenroll`, next.b64, ['-u', `x:${old.secret}`]), 401, /present it/);
    expect(await certificateCount()).toBe(before + 1);
  });

  it('simpleenroll authenticated by an Anvil certificate of the same profile; another profile is 403', async () => {
    const holder = await enrolled('est-e.partner.test');
    const next = newCsr('/CN=est-e.partner.test');
    const auth = ['--cert', holder.fullchain, '--key', holder.key];
    // A client certificate is no server certificate (the judge says so), and of profile client, not peer (its row says so).
    expectTextRefusal(await post(`${mtlsBase}/server/simpleenroll`, next.b64, auth), 403, /does not verify/);
    expectTextRefusal(
      await post(`${mtlsBase}/peer/simpleenroll`, next.b64, auth),
      403,
      /of profile "client", not "peer" \(profile_mismatch\)/,
    );
    const a = await post(`${mtlsBase}/client/simpleenroll`, next.b64, ['--cert', holder.fullchain, '--key', holder.key]);
    expect(a.status, a.body).toBe(200);
    const [leaf, ...chain] = printCerts(a);
    expect(verify(leaf, chain)).toMatch(/: OK/);
    expect(new X509Certificate(leaf).subjectAltName).toBe('DNS:est-e.partner.test');
  });

  it('a revoked client certificate is refused, and nothing is issued', async () => {
    const holder = await enrolled('est-f.partner.test');
    const serial = new X509Certificate(holder.leaf).serialNumber.toLowerCase();
    const list = (await (await anvil.api('GET', `/api/v1/certificates?q=${serial}`)).json()) as { items: { id: string }[] };
    expect(list.items.length).toBe(1);
    expect((await anvil.api('POST', `/api/v1/certificates/${list.items[0].id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const before = await certificateCount();
    for (const op of ['simplereenroll', 'simpleenroll']) {
      const a = await post(`${mtlsBase}/client/${op}`, newCsr('/CN=x').b64, ['--cert', holder.fullchain, '--key', holder.key]);
      expectTextRefusal(a, 403, /revoked/);
    }
    expect(await certificateCount()).toBe(before);
  });

  it('serverkeygen: multipart with the PKCS#8 key and the certificate; the key matches and is nowhere in the database', async () => {
    const secret = await invite('client', 'est-g.partner.test');
    const { b64, key: csrKey } = newCsr('/CN=est-g.partner.test');
    const a = await post(`${mtlsBase}/client/serverkeygen`, b64, ['-u', `x:${secret}`]);
    expect(a.status, a.body).toBe(200);
    const boundary = /^multipart\/mixed;\s*boundary=(\S+)$/.exec(header(a, 'content-type') ?? '')?.[1];
    expect(boundary).toBeTruthy();
    expect(header(a, 'cache-control')).toBe('no-store');
    const parts = a.body
      .split(`--${boundary}`)
      .slice(1, -1)
      .map((p) => {
        const [head, body] = p.replace(/^\r\n/, '').split('\r\n\r\n');
        // MIME lines end in CRLF; as a MIME reader does, hand base64 -d local (LF) lines.
        return { head, body: body.trim().replace(/\r\n/g, '\n') };
      });
    expect(parts.map((p) => /Content-Type: (.*)/.exec(p.head)?.[1])).toEqual([
      'application/pkcs8',
      'application/pkcs7-mime; smime-type=certs-only',
    ]);
    expect(a.body.trimEnd().endsWith(`--${boundary}--`)).toBe(true);

    const keyDer = fresh('key.der');
    sh(`base64 -d ${file('key.b64', parts[0].body)} > ${keyDer} && openssl pkey -inform DER -in ${keyDer} -noout`);
    const certs = sh(`base64 -d ${file('certs.b64', parts[1].body)} | openssl pkcs7 -inform DER -print_certs`);
    const [leaf, ...chain] = certs.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [''];
    expect(verify(leaf, chain)).toMatch(/: OK/);
    const key = createPrivateKey({ key: readFileSync(keyDer), format: 'der', type: 'pkcs8' });
    expect(spki(new X509Certificate(leaf).publicKey)).toBe(spki(key));
    // The CSR's key is not the certificate's: the server made the key.
    expect(spki(new X509Certificate(leaf).publicKey)).not.toBe(spki(readFileSync(csrKey)));

    // Every row of every table, as text: neither the key's DER (bytea prints as hex) nor its base64 is there.
    const db = (anvil.store as unknown as { db: { execute(q: unknown): Promise<unknown> } }).db;
    const rows = (r: unknown) => (Array.isArray(r) ? r : (r as { rows: unknown[] }).rows) as Record<string, string>[];
    const tables = rows(await db.execute(sql`select table_name from information_schema.tables where table_schema = current_schema()`));
    expect(tables.map((t) => t.table_name)).toContain('certificates');
    // The private scalar itself (an EC PKCS#8 ends with the public point, which the certificate rightly holds).
    const scalar = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
    const secrets = [scalar.toString('hex'), scalar.toString('base64'), readFileSync(keyDer).toString('hex'), parts[0].body.split('\n')[0]];
    for (const { table_name } of tables) {
      const dump = rows(await db.execute(sql.raw(`select coalesce(string_agg(t::text, E'\\n'), '') as dump from "${table_name}" t`)))[0]
        .dump;
      for (const secret of secrets) expect(dump.includes(secret), table_name).toBe(false);
    }
  });

  it('serverkeygen authenticated by the current certificate renews it with a key made here', async () => {
    const holder = await enrolled('est-h.partner.test');
    const a = await post(`${mtlsBase}/client/serverkeygen`, newCsr('/CN=x').b64, ['--cert', holder.fullchain, '--key', holder.key]);
    expect(a.status, a.body).toBe(200);
    expect(a.body).toContain('Content-Type: application/pkcs8');
    const renewedAgain = await post(`${mtlsBase}/client/simplereenroll`, newCsr('/CN=x').b64, [
      '--cert',
      holder.fullchain,
      '--key',
      holder.key,
    ]);
    expectTextRefusal(renewedAgain, 403, /renewed already/);
  });
});

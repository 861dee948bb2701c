/**
 * Hostile input never reaches the signer (issue 8): names with control, lone-surrogate or
 * bidirectional-override characters are refused before signing (`invalid_name`, naming the
 * field), path and query parameters holding them are 404/400 (never 500), a `csr` field holds
 * exactly one CSR, and a certificate whose row cannot be written after signing still has its
 * serial on record. Runs on PGlite and PostgreSQL (where a NUL in text is what the database refuses).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { tempDir } from '../support/tools.ts';

let anvil: TestAnvil;
let dir: string;
beforeAll(async () => {
  anvil = await createTestAnvil();
  dir = tempDir('anvil-hostile-');
});
afterAll(() => anvil?.close());

const rows = async (query: ReturnType<typeof sql>) => {
  const result: unknown = await anvil.store.database.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<Record<string, unknown>>;
};
const certificateCount = async () => Number((await rows(sql`select count(*)::int as n from certificates`))[0].n);

/** POST /api/v1/certificates with a raw JSON text (escapes such as \ud800 stay as sent). */
const issueRaw = (body: string) => anvil.api('POST', '/api/v1/certificates', body);

function makeCsr(cn: string, san: string): string {
  const keyPath = join(dir, `${randomBytes(4).toString('hex')}.key`);
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyPath,
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${san}`,
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('names that mislead or break storage are refused before signing', () => {
  const client = (subject: string, sans = '{"dns": ["a.partner.test"]}') => `{"profile": "client", "subject": ${subject}, "sans": ${sans}}`;
  const cases = [
    { name: 'a NUL in CN', body: client('{"CN": "good\\u0000evil"}'), field: 'subject.CN' },
    { name: 'a NUL in O', body: client('{"CN": "partner", "O": "Acme\\u0000Evil"}'), field: 'subject.O' },
    { name: 'a lone high surrogate in CN', body: client('{"CN": "bad\\ud800"}'), field: 'subject.CN' },
    { name: 'a lone low surrogate in OU', body: client('{"CN": "partner", "OU": "\\udc00x"}'), field: 'subject.OU' },
    { name: 'CR LF in CN', body: client('{"CN": "partner\\r\\nX-Injected: 1"}'), field: 'subject.CN' },
    { name: 'U+202E (right-to-left override) in CN', body: client('{"CN": "partner\\u202Etxt.exe"}'), field: 'subject.CN' },
    { name: 'U+2066 (left-to-right isolate) in L', body: client('{"CN": "partner", "L": "\\u2066x"}'), field: 'subject.L' },
    { name: 'a C1 control (U+0085) in ST', body: client('{"CN": "partner", "ST": "a\\u0085b"}'), field: 'subject.ST' },
    { name: 'DEL in CN', body: client('{"CN": "part\\u007fner"}'), field: 'subject.CN' },
    { name: 'a NUL in a DNS SAN', body: client('{"CN": "partner"}', '{"dns": ["a.partner.test\\u0000.evil"]}'), field: 'sans.dns[0]' },
    { name: 'a NUL in a URI SAN', body: client('{"CN": "partner"}', '{"uri": ["spiffe://prod/\\u0000"]}'), field: 'sans.uri[0]' },
    { name: 'a NUL in an email SAN', body: client('{"CN": "partner"}', '{"email": ["a\\u0000@partner.test"]}'), field: 'sans.email[0]' },
  ];
  for (const t of cases) {
    it(`${t.name}: 422 invalid_name naming ${t.field}, nothing signed or stored`, async () => {
      const before = await certificateCount();
      const res = await issueRaw(t.body);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const body = (await res.json()) as { code: string; field?: string; detail: string };
      expect([res.status, body.code, body.field]).toEqual([422, 'invalid_name', t.field]);
      expect(body.detail).toContain(t.field);
      expect(await certificateCount()).toBe(before);
    });
  }

  it('a CN with a NUL in a CSR is refused the same way', async () => {
    // openssl writes the escape literally; build the CSR subject with a real control character instead.
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'server',
      csr: makeCsr('ok.partner.test', 'DNS:ok.partner.test'),
      subject: { CN: 'ok.partner.test\u0001' },
    });
    expect([res.status, (await res.json()).code]).toEqual([422, 'invalid_name']);
  });

  it('ordinary international names still issue', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'Zürich Büro – 東京 😀', O: 'Ünïcode AG' },
      sans: { dns: ['z.partner.test'] },
    });
    expect(res.status, await res.clone().text()).toBe(201);
  });
});

describe('path and query parameters with control characters are 404/400, never 500', () => {
  const paths: Array<[string, string, number]> = [
    ['GET', '/api/v1/profiles/%00', 404],
    ['PUT', '/api/v1/profiles/a%00b', 404],
    ['GET', '/api/v1/certificates/%00', 404],
    ['GET', '/api/v1/certificates/a%0d%0ab/cert.pem', 404],
    ['GET', '/api/v1/profiles/%ed%a0%80', 404],
    ['GET', '/pki/issuers/%00.crt', 404],
    ['GET', '/pki/crl/%00.crl', 404],
    ['GET', '/api/v1/certificates?q=%00', 400],
    ['GET', '/api/v1/certificates?profile=a%00b', 400],
    ['GET', '/api/v1/certificates?q=%ff', 400],
  ];
  for (const [method, path, status] of paths) {
    it(`${method} ${path} -> ${status}`, async () => {
      const res = await anvil.api(method, path, method === 'PUT' ? { kind: 'client', policy: {} } : undefined);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    });
  }

  it('a NUL in a JSON field that is looked up (profile, issuer) is a clear refusal, not a 500', async () => {
    for (const body of [
      { profile: 'client\u0000', subject: { CN: 'x' }, sans: { dns: ['x.partner.test'] } },
      { profile: 'client', issuer: 'issuing-ca\u0000', subject: { CN: 'x' }, sans: { dns: ['x.partner.test'] } },
    ]) {
      const res = await anvil.api('POST', '/api/v1/certificates', body);
      expect(res.status, await res.clone().text()).toBeLessThan(500);
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
  });
});

describe('one CSR means one CSR', () => {
  it('two PEM CSRs, trailing garbage, and base64 with junk are refused as invalid_csr', async () => {
    const first = makeCsr('one.partner.test', 'DNS:one.partner.test');
    const second = makeCsr('two.partner.test', 'DNS:two.partner.test');
    const body = first
      .replace(/-----BEGIN[\s\S]*?-----END CERTIFICATE REQUEST-----/, (m) => m)
      .split('\n')
      .filter((l) => !l.startsWith('-----'))
      .join('');
    const bad = [
      { csr: first + second, says: /2 PEM blocks/ },
      { csr: `${first}garbage after the block\n`, says: /text after the end/ },
      { csr: `${first}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`, says: /2 PEM blocks/ },
      { csr: `${body}!!!`, says: /neither PEM nor base64/ },
    ];
    const before = await certificateCount();
    for (const { csr, says } of bad) {
      const res = await anvil.api('POST', '/api/v1/certificates', { profile: 'server', csr });
      const problem = (await res.json()) as { code: string; detail: string };
      expect([res.status, problem.code]).toEqual([422, 'invalid_csr']);
      expect(problem.detail).toMatch(says);
    }
    expect(await certificateCount()).toBe(before);
    // The same CSR alone, with explanatory text before it and a newline after, issues.
    const ok = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'server',
      csr: `Certificate request for one.partner.test\n${first}\n\n`,
    });
    expect(ok.status, await ok.clone().text()).toBe(201);
    const bare = await anvil.api('POST', '/api/v1/certificates', { profile: 'server', csr: body });
    expect(bare.status, await bare.clone().text()).toBe(201);
  });
});

describe('nothing is signed that is not recorded', () => {
  it('when the row of a signed certificate cannot be written, its serial is on record (reserved before signing) and audited', async () => {
    const store = anvil.store as unknown as { insertIssuedCertificate: (...args: unknown[]) => Promise<unknown> };
    const original = store.insertIssuedCertificate;
    let signedSerial = '';
    store.insertIssuedCertificate = async (cert: unknown) => {
      signedSerial = (cert as { serial: string }).serial;
      throw Object.assign(new Error('simulated: the insert failed after signing'), { code: 'XX000' });
    };
    let res: Response;
    try {
      res = await anvil.api('POST', '/api/v1/certificates', {
        profile: 'client',
        subject: { CN: 'lost-row' },
        sans: { dns: ['lost.partner.test'] },
      });
    } finally {
      store.insertIssuedCertificate = original;
    }
    expect(res.status).toBe(500);
    expect(signedSerial).toMatch(/^[0-9a-f]+$/);
    const issuerId = anvil.authority.issuerByName('issuing-ca').record.id;
    const reserved = await rows(sql`select serial from serial_reservations where issuer_id = ${issuerId} and serial = ${signedSerial}`);
    expect(reserved).toHaveLength(1);
    const audit = await anvil.store.listAudit({ limit: 20 });
    const entry = audit.find((a) => a.details?.serial === signedSerial);
    expect(entry).toMatchObject({
      action: 'certificate.issue',
      outcome: 'failure',
      details: { code: 'record_failed', reason: 'XX000', issuer: 'issuing-ca' },
    });
  });

  it('every issued certificate has a reserved serial', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'kept' },
      sans: { dns: ['kept.partner.test'] },
    });
    expect(res.status).toBe(201);
    const missing = await rows(
      sql`select c.serial from certificates c left join serial_reservations r on r.issuer_id = c.issuer_id and r.serial = c.serial where r.serial is null`,
    );
    expect(missing).toEqual([]);
  });
});

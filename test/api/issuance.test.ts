/**
 * Issuance API (issue 2): CSR and generated-key issuance, what is taken from a CSR, idempotency,
 * listing and downloads, refusals (each one issuing nothing), the audit trail and key custody.
 * Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL. Certificates are also read
 * back with node's X509Certificate (OpenSSL), a parser we did not write.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, sign as nodeSign } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { request as httpRequest } from 'node:http';
import { serve } from '@hono/node-server';
import * as pkijs from 'pkijs';
import { Authority, KeyEncryptionKey, SoftwareKeyCustody } from '@anvil/ca';
import {
  algorithmIdentifierDer,
  buildName,
  describeCertificate,
  derSequence,
  encodeTbsCertificate,
  generateKey,
  keyIdentifier,
  lintTbs,
  OID,
  parseAndVerifyCsr,
  parseCertificate,
  pemToDerList,
  serialFromRandom,
  SoftwareSigner,
  toPem,
  type CertificateParams,
  type CertificateRole,
} from '@anvil/pki';
import { buildTbsCertificate, encodeTbs, lintCertificate, parseTbs } from '../../packages/pki/test/oracle/pkijs-tbs.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { tempDir } from '../support/tools.ts';

let anvil: TestAnvil;
let dir: string;
const RUN = randomBytes(3).toString('hex'); // keeps names unique within this file's database

beforeAll(async () => {
  anvil = await createTestAnvil();
  dir = tempDir('anvil-issuance-');
});
afterAll(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers ---------------------------------------------------------------------------------

type CsrKey = 'EC-P256' | 'EC-P384' | 'P-521' | 'secp256k1' | 'RSA-1024' | 'RSA-2048' | 'Ed25519';

function newKey(kind: CsrKey): KeyObject {
  switch (kind) {
    case 'EC-P256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'EC-P384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'P-521':
      return generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
    case 'secp256k1':
      return generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    case 'Ed25519':
      return generateKeyPairSync('ed25519').privateKey;
    default:
      return generateKeyPairSync('rsa', { modulusLength: Number(kind.slice(4)) }).privateKey;
  }
}

let csrCount = 0;
/** A PKCS#10 request made by the openssl CLI, with whatever extensions the test asks for. */
function makeCsr(kind: CsrKey, subject: string, addext: string[] = []): { csr: string; key: KeyObject; spki: Buffer } {
  const key = newKey(kind);
  const keyPath = join(dir, `csr-key-${csrCount++}.pem`);
  writeFileSync(keyPath, key.export({ format: 'pem', type: 'pkcs8' }));
  const r = spawnSync('openssl', ['req', '-new', '-utf8', '-key', keyPath, '-subj', subject, ...addext.flatMap((e) => ['-addext', e])], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { csr: r.stdout, key, spki: createPublicKey(key).export({ format: 'der', type: 'spki' }) };
}

function spkiOf(pem: string): Buffer {
  return new X509Certificate(pem).publicKey.export({ format: 'der', type: 'spki' });
}

async function rows<T>(query: SQL): Promise<T[]> {
  const r = (await anvil.store.database.execute(query)) as unknown as T[] | { rows: T[] };
  return Array.isArray(r) ? r : r.rows;
}

async function certificateCount(): Promise<number> {
  const [row] = await rows<{ n: number }>(sql`select count(*)::int as n from certificates`);
  return row.n;
}

async function issueAuditCount(): Promise<number> {
  const [row] = await rows<{ n: number }>(
    sql`select count(*)::int as n from audit_log where action = 'certificate.issue' and outcome = 'success'`,
  );
  return row.n;
}

async function issue(body: Record<string, unknown>, headers?: Record<string, string>) {
  const res = await anvil.api('POST', '/api/v1/certificates', body, headers);
  return { res, body: (await res.json()) as Record<string, any> };
}

async function issueOk(body: Record<string, unknown>) {
  const { res, body: json } = await issue(body);
  expect(res.status, JSON.stringify(json)).toBe(201);
  return json;
}

const RESPONSE_FIELDS = [
  'id',
  'serial',
  'issuer',
  'profile',
  'subject',
  'sans',
  'notBefore',
  'notAfter',
  'status',
  'certificate',
  'chain',
  'fullchain',
];

/** What every issuance response must say, checked against the certificate itself. */
function expectWellFormed(view: Record<string, any>, profile: string) {
  for (const field of RESPONSE_FIELDS) expect(view, field).toHaveProperty(field);
  expect(view.profile).toBe(profile);
  expect(view.status).toBe('active');
  expect(view.issuer).toBe('issuing-ca');
  expect(view.fullchain).toBe(view.certificate + view.chain);
  const leaf = new X509Certificate(view.certificate);
  const intermediate = new X509Certificate(view.chain);
  expect(leaf.checkIssued(intermediate)).toBe(true);
  expect(leaf.verify(intermediate.publicKey)).toBe(true);
  expect(leaf.ca).toBe(false);
  expect(leaf.serialNumber.toLowerCase().replace(/^0+/, '')).toBe(view.serial.replace(/^0+/, ''));
  expect(view.serial.length).toBeLessThanOrEqual(40);
  expect(new Date(leaf.validFrom).toISOString()).toBe(view.notBefore);
  expect(new Date(leaf.validTo).toISOString()).toBe(view.notAfter);
  expect(new Date(view.notBefore).getUTCMilliseconds()).toBe(0);
  const expectedEku = { server: ['1.3.6.1.5.5.7.3.1'], client: ['1.3.6.1.5.5.7.3.2'], peer: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }[
    profile
  ];
  expect([...(leaf.keyUsage ?? [])].sort()).toEqual(expectedEku);
  return leaf;
}

const SERVER_EXTENSIONS = [
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.subjectAltName,
  OID.crlDistributionPoints,
  OID.authorityInfoAccess,
].sort();

function derOf(pem: string): Uint8Array {
  return pemToDerList(pem, ['CERTIFICATE'])[0];
}

// ---- issuance from a CSR -------------------------------------------------------------------

describe('issuance from a PEM CSR', () => {
  const cases: Array<{ profile: string; key: CsrKey; subject: string; sans: Record<string, string[]> }> = [
    { profile: 'server', key: 'EC-P256', subject: '/CN=api.example.com', sans: { dns: ['api.example.com'], ip: ['10.0.0.7'] } },
    { profile: 'server', key: 'RSA-2048', subject: '/CN=rsa.example.com', sans: { dns: ['rsa.example.com'] } },
    {
      profile: 'client',
      key: 'EC-P384',
      subject: '/CN=partner-a',
      sans: { uri: ['spiffe://prod.example/ns/a/sa/partner-a'], email: ['ops@partner-a.example'] },
    },
    { profile: 'client', key: 'Ed25519', subject: '/CN=partner-b', sans: { dns: ['b.partner.example'] } },
    {
      profile: 'peer',
      key: 'EC-P256',
      subject: '/CN=node-1.mesh.example',
      sans: { dns: ['node-1.mesh.example'], uri: ['spiffe://prod.example/node-1'] },
    },
  ];
  for (const c of cases) {
    it(`${c.profile} from a ${c.key} CSR: the CSR's key, the body's names, no private key returned`, async () => {
      const { csr, spki } = makeCsr(c.key, c.subject);
      const view = await issueOk({ profile: c.profile, csr, subject: { CN: c.subject.slice(4) }, sans: c.sans });
      const leaf = expectWellFormed(view, c.profile);
      expect(view.privateKey).toBeUndefined();
      expect(leaf.publicKey.export({ format: 'der', type: 'spki' }).equals(spki)).toBe(true);
      expect(view.sans).toEqual({ dns: [], ip: [], uri: [], email: [], ...c.sans });
      expect(describeCertificate(derOf(view.certificate)).sans).toEqual(view.sans);
      const info = describeCertificate(derOf(view.certificate));
      // keyEncipherment only for RSA keys of server-named profiles (TLS 1.2 RSA key exchange).
      const wantKu = c.key.startsWith('RSA') && c.profile !== 'client' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
      expect(info.keyUsage).toEqual(wantKu);
    });
  }

  it('accepts the CSR as bare base64 DER too', async () => {
    const { csr, spki } = makeCsr('EC-P256', '/CN=bare.example.com');
    const b64 = csr.replace(/-----[^-]+-----/g, '').replace(/\s/g, '');
    const view = await issueOk({ profile: 'server', csr: b64, sans: { dns: ['bare.example.com'] } });
    expect(spkiOf(view.certificate).equals(spki)).toBe(true);
  });
});

// ---- issuance with a generated key ----------------------------------------------------------

describe('issuance with a key generated by Anvil', () => {
  const algorithms: Array<{ alg: string; type: string; check: (k: KeyObject) => void; timeout?: number }> = [
    { alg: 'EC-P256', type: 'ec', check: (k) => expect(k.asymmetricKeyDetails?.namedCurve).toBe('prime256v1') },
    { alg: 'EC-P384', type: 'ec', check: (k) => expect(k.asymmetricKeyDetails?.namedCurve).toBe('secp384r1') },
    { alg: 'RSA-2048', type: 'rsa', check: (k) => expect(k.asymmetricKeyDetails?.modulusLength).toBe(2048) },
    { alg: 'RSA-3072', type: 'rsa', check: (k) => expect(k.asymmetricKeyDetails?.modulusLength).toBe(3072) },
    { alg: 'RSA-4096', type: 'rsa', check: (k) => expect(k.asymmetricKeyDetails?.modulusLength).toBe(4096), timeout: 120_000 },
    { alg: 'Ed25519', type: 'ed25519', check: () => {} },
  ];
  for (const a of algorithms) {
    it(
      `${a.alg}: returns a PKCS#8 key matching the certificate, once`,
      async () => {
        const name = `gen-${a.alg.toLowerCase()}-${RUN}.example.com`;
        const view = await issueOk({ profile: 'peer', keyAlgorithm: a.alg, subject: { CN: name }, sans: { dns: [name] } });
        expectWellFormed(view, 'peer');
        expect(view.keyAlgorithm).toBe(a.alg);
        expect(view.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
        const privateKey = createPrivateKey(view.privateKey);
        expect(privateKey.asymmetricKeyType).toBe(a.type);
        a.check(privateKey);
        expect(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).equals(spkiOf(view.certificate))).toBe(true);

        // The key is never stored: neither GET nor the list returns it.
        const again = await (await anvil.api('GET', `/api/v1/certificates/${view.id}`)).json();
        expect(again.privateKey).toBeUndefined();
        expect(again.certificate).toBe(view.certificate);
        const list = await (await anvil.api('GET', `/api/v1/certificates?q=${encodeURIComponent(name)}`)).json();
        expect(list.items).toHaveLength(1);
        expect(list.items[0].privateKey).toBeUndefined();
        const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
        const leaks = await rows<{ n: number }>(sql`select count(*)::int as n from certificates where position(${pkcs8} in der) > 0`);
        expect(leaks[0].n).toBe(0);
      },
      a.timeout,
    );
  }

  it('defaults to EC-P256 when neither csr nor keyAlgorithm is sent', async () => {
    const view = await issueOk({ profile: 'client', subject: { CN: `default-${RUN}` }, sans: { email: [`a@${RUN}.example`] } });
    expect(view.keyAlgorithm).toBe('EC-P256');
    expect(createPrivateKey(view.privateKey).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });
});

// ---- nothing from a CSR is copied blindly ---------------------------------------------------

describe('only the CSR public key and the names the profile allows are used', () => {
  it('ignores CA:TRUE, another EKU, KU and extra subject attributes in the CSR', async () => {
    const { csr, spki } = makeCsr('EC-P256', '/C=DE/O=Evil Corp/OU=Root/CN=svc.example.com', [
      'basicConstraints=critical,CA:TRUE,pathlen:3',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      'extendedKeyUsage=codeSigning,emailProtection',
      'subjectAltName=DNS:svc.example.com',
      'nsComment=copied blindly?',
      'subjectKeyIdentifier=hash',
    ]);
    const view = await issueOk({ profile: 'server', csr });
    const leaf = expectWellFormed(view, 'server');
    expect(leaf.publicKey.export({ format: 'der', type: 'spki' }).equals(spki)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(view.subject).toBe('CN=svc.example.com');
    const parsed = parseCertificate(derOf(view.certificate));
    expect(parsed.extensions!.map((e) => e.extnID).sort()).toEqual(SERVER_EXTENSIONS);
    const info = describeCertificate(derOf(view.certificate));
    expect(info.keyUsage).toEqual(['digitalSignature']);
    expect(info.extendedKeyUsage).toEqual(['serverAuth']);
    expect(info.isCA).toBe(false);
    const bc = parsed.extensions!.find((e) => e.extnID === OID.basicConstraints)!;
    const ku = parsed.extensions!.find((e) => e.extnID === OID.keyUsage)!;
    expect(bc.critical).toBe(true);
    expect(ku.critical).toBe(true);
  });

  it("uses the CSR's SANs when the body names none", async () => {
    const { csr } = makeCsr('EC-P256', '/CN=from-csr.example.com', [
      'subjectAltName=DNS:from-csr.example.com,DNS:Alt.Example.com,IP:10.9.8.7',
    ]);
    const view = await issueOk({ profile: 'server', csr });
    expect(view.sans).toEqual({ dns: ['from-csr.example.com', 'alt.example.com'], ip: ['10.9.8.7'], uri: [], email: [] });
    expect(new X509Certificate(view.certificate).subjectAltName).toBe('DNS:from-csr.example.com, DNS:alt.example.com, IP Address:10.9.8.7');
  });

  it("uses the body's SANs, not the CSR's, when the body names some", async () => {
    const { csr } = makeCsr('EC-P256', '/CN=body.example.com', ['subjectAltName=DNS:csr-only.example.com,DNS:body.example.com']);
    const view = await issueOk({ profile: 'server', csr, sans: { dns: ['body.example.com'] } });
    expect(view.sans.dns).toEqual(['body.example.com']);
    expect(new X509Certificate(view.certificate).subjectAltName).toBe('DNS:body.example.com');
  });

  it("refuses the CSR's SANs when the profile does not allow their type", async () => {
    const before = await certificateCount();
    const { csr } = makeCsr('EC-P256', '/CN=mail.example.com', ['subjectAltName=DNS:mail.example.com,email:root@example.com']);
    const { res, body } = await issue({ profile: 'server', csr });
    expect(res.status).toBe(422);
    expect(body.code).toBe('san_type_not_allowed');
    const { csr: uriCsr } = makeCsr('EC-P256', '/CN=u.example.com', ['subjectAltName=DNS:u.example.com,URI:spiffe://prod.example/x']);
    expect((await issue({ profile: 'server', csr: uriCsr })).body.code).toBe('san_type_not_allowed');
    expect(await certificateCount()).toBe(before);
  });

  it("refuses a CSR's CN that is not among the SANs of a server certificate", async () => {
    const { csr } = makeCsr('EC-P256', '/CN=not-listed.example.com', ['subjectAltName=DNS:listed.example.com']);
    const { res, body } = await issue({ profile: 'server', csr });
    expect(res.status).toBe(422);
    expect(body.code).toBe('cn_not_in_sans');
  });
});

// ---- Idempotency-Key ----------------------------------------------------------------------

describe('Idempotency-Key', () => {
  it('a retry returns the same certificate (200) and the database holds one', async () => {
    const name = `idem-${RUN}.example.com`;
    const body = { profile: 'server', sans: { dns: [name] } };
    const key = { 'idempotency-key': `retry-${RUN}` };
    const first = await issue(body, key);
    expect(first.res.status).toBe(201);
    expect(first.body.privateKey).toBeDefined();
    const second = await issue(body, key);
    expect(second.res.status).toBe(200);
    expect(second.res.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.certificate).toBe(first.body.certificate);
    // The generated key is not kept, so a replay cannot return it.
    expect(second.body.privateKey).toBeUndefined();
    const stored = await rows<{ n: number }>(sql`select count(*)::int as n from certificates where search_text like ${`%${name}%`}`);
    expect(stored[0].n).toBe(1);
  });

  it('the same key with a different body is refused with 409 idempotency_key_reused', async () => {
    const key = { 'idempotency-key': `reuse-${RUN}` };
    expect((await issue({ profile: 'server', sans: { dns: [`reuse-a-${RUN}.example.com`] } }, key)).res.status).toBe(201);
    const before = await certificateCount();
    const { res, body } = await issue({ profile: 'server', sans: { dns: [`reuse-b-${RUN}.example.com`] } }, key);
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(body.code).toBe('idempotency_key_reused');
    expect(await certificateCount()).toBe(before);
  });

  it('five concurrent requests with one key yield one certificate', async () => {
    const name = `concurrent-${RUN}.example.com`;
    const before = await certificateCount();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => issue({ profile: 'server', sans: { dns: [name] } }, { 'idempotency-key': `burst-${RUN}` })),
    );
    const statuses = results.map((r) => r.res.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await certificateCount()).toBe(before + 1);
    const audits = await rows<{ n: number }>(
      sql`select count(*)::int as n from audit_log where action = 'certificate.issue' and target = ${results[0].body.id}`,
    );
    expect(audits[0].n).toBe(1);
  });

  it('different keys issue different certificates', async () => {
    const body = { profile: 'server', sans: { dns: [`twokeys-${RUN}.example.com`] } };
    const a = await issue(body, { 'idempotency-key': `k-a-${RUN}` });
    const b = await issue(body, { 'idempotency-key': `k-b-${RUN}` });
    expect(a.res.status).toBe(201);
    expect(b.res.status).toBe(201);
    expect(a.body.id).not.toBe(b.body.id);
  });
});

// ---- listing, filters, pagination, downloads -------------------------------------------------

describe('listing, reading and downloading', () => {
  const tag = `lst${RUN}`;
  const issued: Array<Record<string, any>> = [];
  let other: Record<string, any>;

  beforeAll(async () => {
    // A second issuing CA for the issuer filter.
    const created = await anvil.api('POST', '/api/v1/issuers', { name: `issuing-${tag}`, keyAlgorithm: 'EC-P256' });
    expect(created.status).toBe(201);
    // Sequential on purpose: see the pagination note below.
    for (let i = 0; i < 7; i++) {
      const profile = ['server', 'client', 'peer'][i % 3];
      issued.push(
        await issueOk({
          profile,
          subject: { CN: profile === 'client' ? `${tag}-client-${i}` : `h${i}.${tag}.example.com` },
          sans:
            profile === 'client'
              ? { uri: [`spiffe://prod.example/${tag}/${i}`], ip: [`10.77.0.${i}`] }
              : { dns: [`h${i}.${tag}.example.com`] },
        }),
      );
    }
    other = await issueOk({ profile: 'server', issuer: `issuing-${tag}`, sans: { dns: [`other.${tag}.example.com`] } });
  });

  const list = async (query: string) => {
    const res = await anvil.api('GET', `/api/v1/certificates?${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as { items: Array<Record<string, any>>; nextCursor: string | null };
  };

  it('lists newest first and searches q over CN, SANs and serial, case-insensitively', async () => {
    const all = await list(`q=${tag}&limit=100`);
    expect(all.items.map((i) => i.id)).toEqual([other, ...[...issued].reverse()].map((i) => i.id));
    expect(all.nextCursor).toBeNull();
    // CN of a client certificate
    expect((await list(`q=${tag}-CLIENT-4`)).items.map((i) => i.id)).toEqual([issued[4].id]);
    // DNS SAN
    expect((await list(`q=h2.${tag}.example.com`)).items.map((i) => i.id)).toEqual([issued[2].id]);
    // URI SAN
    expect((await list(`q=${encodeURIComponent(`spiffe://prod.example/${tag}/1`)}`)).items.map((i) => i.id)).toEqual([issued[1].id]);
    // IP SAN
    expect((await list(`q=10.77.0.7`)).items.map((i) => i.id)).toEqual([]);
    expect((await list(`q=10.77.0.4`)).items.map((i) => i.id)).toEqual([issued[4].id]);
    // serial, whole and in part, any case
    const serial: string = issued[3].serial;
    expect((await list(`q=${serial}`)).items.map((i) => i.id)).toEqual([issued[3].id]);
    expect((await list(`q=${serial.slice(4, 24).toUpperCase()}`)).items.map((i) => i.id)).toContain(issued[3].id);
    // LIKE wildcards in q are literal
    expect((await list(`q=${encodeURIComponent('%')}`)).items).toEqual([]);
    expect((await list(`q=${encodeURIComponent('_')}`)).items).toEqual([]);
  });

  it('filters by profile, issuer and status', async () => {
    const clients = await list(`q=${tag}&profile=client&limit=100`);
    expect(clients.items.map((i) => i.id).sort()).toEqual([issued[1].id, issued[4].id].sort());
    expect(clients.items.every((i) => i.profile === 'client')).toBe(true);

    const byIssuer = await list(`issuer=issuing-${tag}&limit=100`);
    expect(byIssuer.items.map((i) => i.id)).toEqual([other.id]);
    expect(byIssuer.items[0].issuer).toBe(`issuing-${tag}`);
    const byDefault = await list(`q=${tag}&issuer=issuing-ca&limit=100`);
    expect(byDefault.items).toHaveLength(7);

    expect((await list(`q=${tag}&status=active&limit=100`)).items).toHaveLength(8);
    expect((await list(`q=${tag}&status=revoked&limit=100`)).items).toHaveLength(0);
    const revoke = await anvil.api('POST', `/api/v1/certificates/${issued[0].id}/revoke`, { reason: 'keyCompromise' });
    expect(revoke.status, await revoke.clone().text()).toBe(200);
    const revoked = await list(`q=${tag}&status=revoked`);
    expect(revoked.items.map((i) => i.id)).toEqual([issued[0].id]);
    expect(revoked.items[0].status).toBe('revoked');
    expect((await list(`q=${tag}&status=active&limit=100`)).items).toHaveLength(7);
    expect((await list(`q=${tag}&status=revoked&profile=client`)).items).toHaveLength(0);

    const unknown = await anvil.api('GET', '/api/v1/certificates?issuer=no-such-ca');
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe('unknown_issuer');
    const badStatus = await anvil.api('GET', '/api/v1/certificates?status=pending');
    expect(badStatus.status).toBe(400);
    expect((await badStatus.json()).code).toBe('validation_failed');
  });

  it('pages with a cursor: every certificate exactly once, in order', async () => {
    const expected = [other, ...[...issued].reverse()].map((i) => i.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`q=${tag}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expected);

    const bad = await anvil.api('GET', '/api/v1/certificates?cursor=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect((await bad.json()).code).toBe('invalid_cursor');
  });

  // Rows created within one millisecond (routine under concurrent issuance on PostgreSQL, which
  // keeps microseconds): two are pinned 200 µs apart so a cursor that lost precision would skip one.
  it('pages certificates created within one millisecond without skipping any', async () => {
    const burst = `burst${RUN}`;
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await issueOk({ profile: 'server', sans: { dns: [`b${i}.${burst}.example.com`] } })).id);
    await rows(sql`update certificates set created_at = '2031-01-01 00:00:00.123400+00' where id = ${made[0]}`);
    await rows(sql`update certificates set created_at = '2031-01-01 00:00:00.123200+00' where id = ${made[1]}`);
    await rows(sql`update certificates set created_at = '2031-01-01 00:00:00.100000+00' where id = ${made[2]}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`q=${burst}&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor && ++pages < 10);
    expect(seen).toEqual(made);
  });

  it('GET one returns the certificate without a private key; unknown ids are 404, malformed ids 400', async () => {
    const one = await anvil.api('GET', `/api/v1/certificates/${issued[2].id}`);
    expect(one.status).toBe(200);
    const view = await one.json();
    for (const field of RESPONSE_FIELDS) expect(view).toHaveProperty(field);
    expect(view.certificate).toBe(issued[2].certificate);
    expect(view.privateKey).toBeUndefined();

    const missing = await anvil.api('GET', '/api/v1/certificates/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect((await missing.json()).code).toBe('certificate_not_found');
    const malformed = await anvil.api('GET', '/api/v1/certificates/not-a-uuid');
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).code).toBe('validation_failed');
  });

  it('downloads cert.pem, chain.pem, fullchain.pem and cert.der', async () => {
    const cert = issued[5];
    const get = async (file: string) => {
      const res = await anvil.api('GET', `/api/v1/certificates/${cert.id}/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${file}"`);
      return res;
    };
    const certPem = await (await get('cert.pem')).text();
    const chainPem = await (await get('chain.pem')).text();
    const fullchainRes = await get('fullchain.pem');
    expect(fullchainRes.headers.get('content-type')).toBe('application/x-pem-file');
    const fullchainPem = await fullchainRes.text();
    const derRes = await get('cert.der');
    expect(derRes.headers.get('content-type')).toBe('application/pkix-cert');
    const der = Buffer.from(await derRes.arrayBuffer());

    expect(certPem).toBe(cert.certificate);
    expect(chainPem).toBe(cert.chain);
    expect(fullchainPem).toBe(certPem + chainPem);
    // The chain is the issuing intermediate (not the root), and fullchain = leaf + chain.
    const chain = new X509Certificate(chainPem);
    expect(chain.ca).toBe(true);
    expect(chain.subject).toContain('Anvil Issuing CA (issuing-ca)');
    const x = new X509Certificate(der);
    expect(x.raw.equals(new X509Certificate(certPem).raw)).toBe(true);
    expect(x.checkIssued(chain)).toBe(true);
    expect(Buffer.from(derOf(certPem)).equals(der)).toBe(true);

    const other404 = await anvil.api('GET', '/api/v1/certificates/00000000-0000-4000-8000-000000000000/cert.pem');
    expect(other404.status).toBe(404);
  });

  it('the chain of a certificate from another intermediate is that intermediate', async () => {
    const chain = new X509Certificate(other.chain);
    expect(chain.subject).toContain(`issuing-${tag}`);
    expect(new X509Certificate(other.certificate).verify(chain.publicKey)).toBe(true);
  });
});

// ---- refusals --------------------------------------------------------------------------------

describe('bad input is refused with a problem+json code and issues nothing', () => {
  let restricted: string;
  beforeAll(async () => {
    restricted = `restricted-${RUN}`;
    const res = await anvil.api('POST', '/api/v1/profiles', {
      name: restricted,
      kind: 'server',
      policy: { sanTypes: ['dns', 'ip'], dnsSuffixes: ['internal.example'], ipCidrs: ['10.10.0.0/16'], allowWildcards: false },
    });
    expect(res.status).toBe(201);
  });

  const goodCsr = () => makeCsr('EC-P256', '/CN=ok.example.com', ['subjectAltName=DNS:ok.example.com']).csr;
  const armour = (body: string) => `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`;

  type Case = {
    name: string;
    status: number;
    code: string;
    /** JSON body (object), raw text, or a full custom request. */
    body?: () => unknown;
    request?: () => Promise<Response>;
  };
  const server = (extra: Record<string, unknown>) => ({ profile: 'server', sans: { dns: ['ok.example.com'] }, ...extra });

  const cases: Case[] = [
    {
      name: 'malformed PEM (not base64)',
      status: 422,
      code: 'malformed_csr',
      body: () => server({ sans: undefined, csr: armour('MIIB!!not*base64') }),
    },
    {
      name: 'malformed DER inside PEM armour',
      status: 422,
      code: 'malformed_csr',
      body: () => server({ csr: armour(Buffer.from('this is not DER at all').toString('base64')) }),
    },
    {
      name: 'truncated DER inside PEM armour',
      status: 422,
      code: 'malformed_csr',
      body: () => {
        const der = Buffer.from(
          goodCsr()
            .replace(/-----[^-]+-----/g, '')
            .replace(/\s/g, ''),
          'base64',
        );
        return server({ csr: armour(der.subarray(0, der.length - 10).toString('base64')) });
      },
    },
    {
      name: 'a PEM block that is not a CSR',
      status: 422,
      code: 'malformed_csr',
      body: () => server({ csr: goodCsr().replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE') }),
    },
    {
      name: 'a CSR whose signature does not verify',
      status: 422,
      code: 'csr_signature_invalid',
      body: () => {
        const der = Buffer.from(
          goodCsr()
            .replace(/-----[^-]+-----/g, '')
            .replace(/\s/g, ''),
          'base64',
        );
        der[der.length - 2] ^= 0x01; // inside the signature's last INTEGER
        return server({ csr: armour(der.toString('base64')) });
      },
    },
    {
      name: 'a CSR signed by a different key',
      status: 422,
      code: 'csr_signature_invalid',
      body: () => {
        // Swap the public key of one CSR into another: the structure parses, the proof fails.
        const a = makeCsr('EC-P256', '/CN=ok.example.com');
        const b = makeCsr('EC-P256', '/CN=ok.example.com');
        const derA = Buffer.from(a.csr.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
        const at = derA.indexOf(a.spki);
        b.spki.copy(derA, at);
        return server({ csr: armour(derA.toString('base64')) });
      },
    },
    {
      name: 'a DNS SAN outside the profile policy',
      status: 422,
      code: 'san_not_allowed',
      body: () => ({ profile: restricted, sans: { dns: ['api.public.example'] } }),
    },
    {
      name: 'an IP SAN outside the profile CIDRs',
      status: 422,
      code: 'san_not_allowed',
      body: () => ({ profile: restricted, sans: { dns: ['a.internal.example'], ip: ['10.11.0.1'] } }),
    },
    {
      name: 'a SAN type the profile does not allow',
      status: 422,
      code: 'san_type_not_allowed',
      body: () => server({ sans: { dns: ['ok.example.com'], email: ['a@example.com'] } }),
    },
    {
      name: 'a wildcard where the profile allows none',
      status: 422,
      code: 'wildcard_not_allowed',
      body: () => ({ profile: 'client', subject: { CN: 'c' }, sans: { dns: ['*.example.com'] } }),
    },
    {
      name: 'a wildcard on a restricted server profile',
      status: 422,
      code: 'wildcard_not_allowed',
      body: () => ({ profile: restricted, sans: { dns: ['*.internal.example'] } }),
    },
    {
      name: '"*" not the leftmost label (a.*.example.com)',
      status: 422,
      code: 'invalid_dns_name',
      body: () => server({ sans: { dns: ['a.*.example.com'] } }),
    },
    {
      name: 'a partial-label wildcard (w*.example.com)',
      status: 422,
      code: 'invalid_dns_name',
      body: () => server({ sans: { dns: ['w*.example.com'] } }),
    },
    {
      name: 'a wildcard over a public suffix (*.com)',
      status: 422,
      code: 'invalid_dns_name',
      body: () => server({ sans: { dns: ['*.com'] } }),
    },
    {
      name: 'a DNS name with a trailing dot',
      status: 422,
      code: 'invalid_dns_name',
      body: () => server({ sans: { dns: ['ok.example.com.'] } }),
    },
    {
      name: 'an IP SAN that is not an address',
      status: 422,
      code: 'invalid_ip',
      body: () => server({ sans: { dns: ['ok.example.com'], ip: ['10.0.0.256'] } }),
    },
    {
      name: 'a server CN not among the SANs',
      status: 422,
      code: 'cn_not_in_sans',
      body: () => server({ subject: { CN: 'elsewhere.example.com' } }),
    },
    {
      name: 'a client certificate without a CN',
      status: 422,
      code: 'cn_required',
      body: () => ({ profile: 'client', sans: { dns: ['c.example.com'] } }),
    },
    { name: 'no SAN at all', status: 422, code: 'san_required', body: () => ({ profile: 'server', subject: { CN: 'x' }, sans: {} }) },
    { name: 'an RSA-1024 CSR', status: 422, code: 'weak_key', body: () => server({ csr: makeCsr('RSA-1024', '/CN=ok.example.com').csr }) },
    {
      name: 'a secp256k1 CSR',
      status: 422,
      code: 'unsupported_key',
      body: () => server({ csr: makeCsr('secp256k1', '/CN=ok.example.com').csr }),
    },
    {
      name: 'a secp521r1 CSR',
      status: 422,
      code: 'unsupported_key',
      body: () => server({ csr: makeCsr('P-521', '/CN=ok.example.com').csr }),
    },
    {
      name: 'a csr and a keyAlgorithm',
      status: 422,
      code: 'csr_and_key_algorithm',
      body: () => server({ csr: goodCsr(), keyAlgorithm: 'EC-P256' }),
    },
    { name: 'an unknown keyAlgorithm', status: 400, code: 'validation_failed', body: () => server({ keyAlgorithm: 'RSA-1024' }) },
    { name: 'a TTL above the profile maximum', status: 422, code: 'ttl_too_long', body: () => server({ ttl: '398d' }) },
    { name: 'a TTL in seconds above the maximum', status: 422, code: 'ttl_too_long', body: () => server({ ttl: 397 * 86400 + 1 }) },
    { name: 'a TTL that is not a duration', status: 422, code: 'invalid_ttl', body: () => server({ ttl: 'forever' }) },
    { name: 'an unknown profile', status: 404, code: 'unknown_profile', body: () => server({ profile: 'no-such-profile' }) },
    { name: 'an unknown issuer', status: 404, code: 'unknown_issuer', body: () => server({ issuer: 'no-such-ca' }) },
    { name: 'a root as issuer', status: 422, code: 'issuer_not_allowed', body: () => server({ issuer: 'root-ca' }) },
    {
      name: 'a missing token',
      status: 401,
      code: 'unauthorized',
      request: () =>
        Promise.resolve(
          anvil.app.request('/api/v1/certificates', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(server({})),
          }),
        ),
    },
    {
      name: 'a wrong token',
      status: 401,
      code: 'invalid_token',
      request: () =>
        Promise.resolve(
          anvil.app.request('/api/v1/certificates', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer anvil_not_the_right_token' },
            body: JSON.stringify(server({})),
          }),
        ),
    },
    { name: 'malformed JSON', status: 400, code: 'malformed_json', body: () => '{"profile": "server", "sans": ' },
    {
      name: 'a body that is not declared as JSON',
      status: 415,
      code: 'unsupported_media_type',
      request: () =>
        Promise.resolve(
          anvil.app.request('/api/v1/certificates', {
            method: 'POST',
            headers: { 'content-type': 'text/plain', authorization: `Bearer ${anvil.token}` },
            body: JSON.stringify(server({})),
          }),
        ),
    },
    { name: 'an unknown body field', status: 400, code: 'validation_failed', body: () => server({ isCA: true }) },
    {
      name: 'an unknown SAN type',
      status: 400,
      code: 'validation_failed',
      body: () => server({ sans: { dns: ['ok.example.com'], rid: ['1.2.3'] } }),
    },
    { name: 'a body over 64 KiB', status: 413, code: 'body_too_large', body: () => server({ csr: 'A'.repeat(64 * 1024 + 1) }) },
    {
      name: 'a chunked body over 64 KiB (no content-length)',
      status: 413,
      code: 'body_too_large',
      request: () => {
        const text = JSON.stringify(server({ csr: 'A'.repeat(70_000) }));
        const stream = new ReadableStream({
          start(controller) {
            for (let i = 0; i < text.length; i += 8192) controller.enqueue(new TextEncoder().encode(text.slice(i, i + 8192)));
            controller.close();
          },
        });
        return Promise.resolve(
          anvil.app.request('/api/v1/certificates', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${anvil.token}` },
            body: stream,
            duplex: 'half',
          } as RequestInit),
        );
      },
    },
    {
      name: 'more than 100 SANs',
      status: 422,
      code: 'too_many_sans',
      body: () => server({ sans: { dns: Array.from({ length: 101 }, (_, i) => `h${i}.example.com`) } }),
    },
    {
      name: 'more than 100 SANs in a CSR',
      status: 422,
      code: 'too_many_sans',
      body: () =>
        server({
          sans: undefined,
          csr: makeCsr('EC-P256', '/CN=h0.example.com', [
            `subjectAltName=${Array.from({ length: 101 }, (_, i) => `DNS:h${i}.example.com`).join(',')}`,
          ]).csr,
        }),
    },
  ];

  for (const c of cases) {
    it(`${c.name} -> ${c.status} ${c.code}`, async () => {
      const before = await certificateCount();
      const auditsBefore = await issueAuditCount();
      const res = c.request ? await c.request() : await anvil.api('POST', '/api/v1/certificates', c.body!());
      const text = await res.text();
      expect(res.status, text).toBe(c.status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const problem = JSON.parse(text);
      expect(problem.code).toBe(c.code);
      expect(problem.status).toBe(c.status);
      expect(typeof problem.detail).toBe('string');
      expect(problem.type).toBe(`urn:anvil:problem:${c.code}`);
      expect(await certificateCount()).toBe(before);
      expect(await issueAuditCount()).toBe(auditsBefore);
    });
  }

  it('the list API agrees that nothing was issued by the refusals', async () => {
    const listed = await (await anvil.api('GET', '/api/v1/certificates?q=ok.example.com&limit=500')).json();
    expect(listed.items).toEqual([]);
  });
});

// ---- audit trail -----------------------------------------------------------------------------

describe('audit trail', () => {
  it('has one certificate.issue row per issued certificate', async () => {
    const ids: string[] = [];
    for (const profile of ['server', 'peer']) {
      ids.push((await issueOk({ profile, sans: { dns: [`audit-${profile}-${RUN}.example.com`] } })).id);
    }
    const res = await anvil.api('GET', '/api/v1/audit?limit=500');
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: Array<Record<string, any>> };
    for (const id of ids) {
      const entries = items.filter((e) => e.action === 'certificate.issue' && e.target === id);
      expect(entries).toHaveLength(1);
      expect(entries[0].outcome).toBe('success');
      expect(entries[0].actor).toContain('admin');
      expect(entries[0].details.issuer).toBe('issuing-ca');
    }
    // Every certificate row has exactly one issue row, across everything this file issued.
    const orphans = await rows<{ n: number }>(sql`
      select count(*)::int as n from certificates c
      where (select count(*) from audit_log a where a.action = 'certificate.issue' and a.target = c.id::text) <> 1`);
    expect(orphans[0].n).toBe(0);
  });

  it('records a refused issuance as a failed certificate.issue with its code', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', { profile: 'server', sans: { dns: [`a.*.refused-${RUN}.example.com`] } });
    expect(res.status).toBe(422);
    const { items } = (await (await anvil.api('GET', '/api/v1/audit?limit=5')).json()) as { items: Array<Record<string, any>> };
    const refused = items.find((e) => e.action === 'certificate.issue' && e.outcome === 'failure');
    expect(refused).toMatchObject({ target: null, details: { code: 'invalid_dns_name', profile: 'server' } });
    expect(refused!.actor).toContain('admin');
  });

  it('the database refuses UPDATE and DELETE on audit_log', async () => {
    const [first] = await rows<{ id: string; actor: string }>(sql`select id::text as id, actor from audit_log order by id limit 1`);
    expect(await refusal(sql`update audit_log set actor = 'mallory' where id = ${first.id}::bigint`)).toMatch(/append-only/);
    expect(await refusal(sql`update audit_log set outcome = 'failure'`)).toMatch(/append-only/);
    expect(await refusal(sql`delete from audit_log where id = ${first.id}::bigint`)).toMatch(/append-only/);
    expect(await refusal(sql`delete from audit_log`)).toMatch(/append-only/);
    const [after] = await rows<{ actor: string }>(sql`select actor from audit_log where id = ${first.id}::bigint`);
    expect(after.actor).toBe(first.actor);
  });

  // TRUNCATE fires no row triggers; a statement trigger refuses it.
  it('the database refuses TRUNCATE on audit_log', async () => {
    const [before] = await rows<{ n: number }>(sql`select count(*)::int as n from audit_log`);
    let refused = false;
    try {
      // Run inside a transaction we roll back, so a passing TRUNCATE does not wipe the trail the
      // remaining tests read.
      await anvil.store.database.transaction(async (tx) => {
        await tx.execute(sql`truncate audit_log`);
        throw new RollbackMarker();
      });
    } catch (err) {
      refused = !(err instanceof RollbackMarker);
    }
    const [after] = await rows<{ n: number }>(sql`select count(*)::int as n from audit_log`);
    expect(after.n).toBe(before.n);
    expect(refused).toBe(true);
  });
});

class RollbackMarker extends Error {}

/** The database's own message for a refused statement (drizzle wraps it as the cause). */
async function refusal(query: SQL): Promise<string> {
  try {
    await anvil.store.database.execute(query);
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause;
    return `${(err as Error).message} ${cause?.message ?? ''}`;
  }
  return 'not refused';
}

// ---- CA key custody --------------------------------------------------------------------------

describe('CA private keys at rest', () => {
  it('are encrypted in the issuers table, and a restart with the same KEK reuses the same CAs', async () => {
    // biome-ignore lint/complexity/useLiteralKeys: the bracket reaches a private field, as this test must
    const custody = anvil.authority['deps'].custody as SoftwareKeyCustody;
    const issuerRows = await rows<{
      id: string;
      name: string;
      encrypted_key: Uint8Array | string;
      key_ref: string | null;
      certificate_der: Uint8Array | string;
    }>(sql`select id::text as id, name, encrypted_key, key_ref, certificate_der from issuers order by name`);
    expect(issuerRows.length).toBeGreaterThanOrEqual(2);
    for (const row of issuerRows) {
      const blob = Buffer.from(row.encrypted_key as Uint8Array);
      const loaded = anvil.authority.issuerByName(row.name);
      const signer = loaded.signer as unknown as { key: KeyObject };
      const pkcs8 = signer.key.export({ format: 'der', type: 'pkcs8' });
      const jwk = signer.key.export({ format: 'jwk' });
      const secret = Buffer.from(jwk.d!, 'base64url');
      expect(blob.length).toBeGreaterThan(28);
      expect(blob.includes(pkcs8)).toBe(false);
      expect(blob.includes(secret)).toBe(false);
      expect(row.key_ref).toBeNull();
      // And the same bytes are nowhere else in that row.
      const hits = await rows<{ n: number }>(
        sql`select count(*)::int as n from issuers where position(${pkcs8} in encrypted_key) > 0 or position(${secret} in certificate_der) > 0`,
      );
      expect(hits[0].n).toBe(0);
    }

    // Restart: a new Authority on the same store and the same KEK loads the same CAs.
    const before = new Map(anvil.authority.issuers().map((i) => [i.record.name, Buffer.from(i.record.certificateDer)]));
    const restarted = new Authority({
      store: anvil.store,
      custody,
      config: { publicUrl: anvil.publicUrl, caKeyAlgorithm: 'EC-P256', organization: 'Anvil Test' },
    });
    const boot = await restarted.bootstrap({ adminToken: anvil.token });
    expect(boot.createdCa).toBe(false);
    expect(boot.generatedAdminToken).toBeUndefined();
    const after = new Map(restarted.issuers().map((i) => [i.record.name, Buffer.from(i.record.certificateDer)]));
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, der] of before) expect(after.get(name)!.equals(der), name).toBe(true);
    const [{ n: issuerCount }] = await rows<{ n: number }>(sql`select count(*)::int as n from issuers`);
    expect(issuerCount).toBe(before.size);

    // The restarted authority signs with the same key: its leaf verifies under the old intermediate.
    const issued = await restarted.issue(
      { profile: 'server', sans: { dns: [`restart-${RUN}.example.com`] } },
      { id: 'test', name: 'test', source: null },
    );
    const leaf = new X509Certificate(Buffer.from(issued.record.der));
    const intermediate = new X509Certificate(before.get('issuing-ca')!);
    expect(leaf.verify(intermediate.publicKey)).toBe(true);

    // A different KEK cannot load the keys: they really are encrypted under the KEK.
    const wrong = new Authority({
      store: anvil.store,
      custody: new SoftwareKeyCustody(KeyEncryptionKey.random()),
      config: { publicUrl: anvil.publicUrl, caKeyAlgorithm: 'EC-P256', organization: 'Anvil Test' },
    });
    await expect(wrong.loadIssuers()).rejects.toThrow(/key-encryption key .* is not the one it was stored with/);
  });
});

// ---- the body limit over a real socket ---------------------------------------------------------

describe('the 64 KiB body limit over a real HTTP connection', () => {
  let server: ReturnType<typeof serve>;
  let port: number;
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serve({ fetch: anvil.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
        port = info.port;
        resolve();
      });
    });
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
  });

  /** POST with a declared Content-Length or chunked, sending `body` in full. */
  const post = (body: string, chunked: boolean) =>
    new Promise<{ status: number; contentType: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/certificates',
          headers: {
            authorization: `Bearer ${anvil.token}`,
            'content-type': 'application/json',
            ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) }),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: text }));
        },
      );
      req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      if (chunked) for (let i = 0; i < body.length; i += 8192) req.write(body.slice(i, i + 8192));
      req.end(chunked ? undefined : body);
    });

  for (const chunked of [false, true]) {
    it(`${chunked ? 'chunked' : 'with Content-Length'}: over the limit is 413 body_too_large, within it is issued`, async () => {
      const before = await certificateCount();
      const big = JSON.stringify({ profile: 'server', sans: { dns: ['ok.example.com'] }, csr: 'A'.repeat(64 * 1024) });
      const refused = await post(big, chunked);
      expect(refused.status, refused.body).toBe(413);
      expect(refused.contentType).toBe('application/problem+json');
      expect(JSON.parse(refused.body).code).toBe('body_too_large');
      expect(await certificateCount()).toBe(before);
      const name = `socket-${chunked ? 'chunked' : 'length'}-${RUN}.example.com`;
      const ok = await post(JSON.stringify({ profile: 'server', sans: { dns: [name] } }), chunked);
      expect(ok.status, ok.body).toBe(201);
      expect(JSON.parse(ok.body).sans.dns).toEqual([name]);
      // A malformed body still gets its own answer after the limit check.
      const malformed = await post('{"profile": ', chunked);
      expect(malformed.status).toBe(400);
      expect(JSON.parse(malformed.body).code).toBe('malformed_json');
    });
  }
});

// ---- the issuance fast paths against the pkijs reference ------------------------------------

describe('issuance engine: the direct DER paths agree with the pkijs reference', () => {
  // Anvil encodes certificates, lints them and reads CSRs with small DER walkers (pkijs cost
  // ~40x the signature on the hot path); these keep them byte-for-byte with pkijs.
  const roles: CertificateRole[] = ['server', 'client', 'peer', 'ocsp', 'intermediate', 'root'];
  let keys: Awaited<ReturnType<typeof generateKey>>[];
  let signers: SoftwareSigner[];
  beforeAll(async () => {
    keys = await Promise.all((['EC-P256', 'EC-P384', 'RSA-2048', 'Ed25519'] as const).map((a) => generateKey(a)));
    signers = keys.map((k) => new SoftwareSigner(k.algorithm, k.pkcs8Der));
  });
  const issuerNotAfter = new Date(Date.now() + 365 * 86_400_000);
  const base = (signer: SoftwareSigner, spki: Uint8Array): CertificateParams => ({
    serial: serialFromRandom(randomBytes(16)),
    subject: { CN: 'a.example.com', O: 'Ørg', OU: 'Unit', L: 'Köln', ST: 'NRW', C: 'DE' },
    issuerName: buildName({ CN: 'Issuing CA', O: 'Anvil Ünïcode', C: 'DE' }),
    issuerKeyId: keyIdentifier(signer.publicKeySpki),
    subjectPublicKeySpki: spki,
    notBefore: new Date(Date.now() - 60_123),
    notAfter: new Date(Date.now() + 86_400_456),
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
    basicConstraints: { ca: false },
    sans: {
      dns: ['a.example.com', '*.b.example.com'],
      ip: ['10.0.0.1', '::1', 'fd00:abcd::7'],
      uri: ['spiffe://prod.example/a'],
      email: ['x@example.com'],
    },
    crlUrl: 'http://127.0.0.1:8080/pki/crl/issuing-ca.crl',
    ocspUrl: 'http://127.0.0.1:8080/ocsp',
    caIssuersUrl: 'http://127.0.0.1:8080/pki/issuers/issuing-ca.crt',
  });
  const variants: Array<[string, (p: CertificateParams) => CertificateParams]> = [
    ['leaf', (p) => p],
    ['empty subject (critical SAN)', (p) => ({ ...p, subject: {} })],
    ['notAfter in 2051 (GeneralizedTime)', (p) => ({ ...p, notAfter: new Date(Date.UTC(2051, 0, 1, 0, 0, 0, 999)) })],
    [
      'intermediate CA, pathLen 0, no SAN/EKU',
      (p) => ({
        ...p,
        basicConstraints: { ca: true, pathLen: 0 },
        keyUsage: ['keyCertSign', 'cRLSign'],
        extKeyUsage: undefined,
        sans: undefined,
      }),
    ],
    [
      'OCSP signer (no-check, no OCSP URL)',
      (p) => ({ ...p, ocspNoCheck: true, extKeyUsage: ['ocspSigning'], sans: undefined, ocspUrl: undefined }),
    ],
    ['negative serial', (p) => ({ ...p, serial: Uint8Array.of(0x80, 1) })],
    ['non-minimal serial', (p) => ({ ...p, serial: Uint8Array.of(0, 1) })],
    ['CA:TRUE on a leaf', (p) => ({ ...p, basicConstraints: { ca: true } })],
    ['keyCertSign on a leaf', (p) => ({ ...p, keyUsage: ['digitalSignature', 'keyCertSign'] })],
    ['no SAN', (p) => ({ ...p, sans: undefined })],
    ['CN not among the SANs', (p) => ({ ...p, subject: { CN: 'other.example.com' } })],
    ['client EKU only', (p) => ({ ...p, extKeyUsage: ['clientAuth'] })],
    ['KU dataEncipherment only', (p) => ({ ...p, keyUsage: ['dataEncipherment'] })],
    ['beyond the issuer', (p) => ({ ...p, notAfter: new Date(issuerNotAfter.getTime() + 86_400_000) })],
    [
      'CA without CN',
      (p) => ({
        ...p,
        basicConstraints: { ca: true },
        keyUsage: ['keyCertSign', 'cRLSign'],
        extKeyUsage: undefined,
        sans: undefined,
        subject: { O: 'x' },
      }),
    ],
  ];

  it('encodeTbsCertificate writes the same bytes as pkijs for every signer and key type', () => {
    let compared = 0;
    for (const signer of signers) {
      for (const key of keys) {
        for (const [name, variant] of variants) {
          const params = variant(base(signer, key.spkiDer));
          const reference = encodeTbs(buildTbsCertificate(params), signer);
          const direct = encodeTbsCertificate(params, signer.signatureAlgorithm);
          expect(Buffer.from(direct).equals(Buffer.from(reference)), `${signer.keyAlgorithm} / ${key.algorithm} / ${name}`).toBe(true);
          compared++;
        }
      }
    }
    expect(compared).toBe(4 * 4 * variants.length);
  });

  it('lintTbs (DER walk) finds exactly what lintCertificate finds on the pkijs parse', () => {
    const signer = signers[0];
    const sigAlg = algorithmIdentifierDer(signer.signatureAlgorithm);
    const seenRules = new Set<string>();
    for (const role of roles) {
      for (const [name, variant] of variants) {
        const tbs = encodeTbsCertificate(variant(base(signer, keys[0].spkiDer)), signer.signatureAlgorithm);
        const reference = lintCertificate(parseTbs(tbs, sigAlg), { role, issuerNotAfter });
        const direct = lintTbs(tbs, { role, issuerNotAfter });
        expect(direct, `${role} / ${name}`).toEqual(reference);
        for (const f of direct) seenRules.add(f.rule);
      }
    }
    // The variants do exercise the rules (not just clean certificates).
    for (const rule of [
      'serial',
      'basic_constraints',
      'key_usage',
      'eku',
      'eku_ku',
      'san',
      'cn_not_in_san',
      'client_cn',
      'ocsp_nocheck',
      'validity_issuer',
      'ca_cn',
    ]) {
      expect(seenRules, rule).toContain(rule);
    }
    expect(lintTbs(Uint8Array.of(0x30, 0x03, 0x02, 0x01), { role: 'server', issuerNotAfter })[0].rule).toBe('malformed');
  });

  it('keyIdentifier (DER walk) equals SHA-1 of the pkijs subjectPublicKey for every key type', () => {
    for (const key of keys) {
      const reference = createHash('sha1')
        .update(pkijs.PublicKeyInfo.fromBER(key.spkiDer).subjectPublicKey.valueBlock.valueHexView)
        .digest();
      expect(Buffer.from(keyIdentifier(key.spkiDer)).equals(reference), key.algorithm).toBe(true);
    }
  });

  it('signed certificates parse with OpenSSL and verify under the signer', () => {
    for (const signer of signers) {
      const tbs = encodeTbsCertificate(base(signer, keys[0].spkiDer), signer.signatureAlgorithm);
      const sig = signer.signSync(tbs);
      const der = derSequence([
        tbs,
        algorithmIdentifierDer(signer.signatureAlgorithm),
        Uint8Array.of(0x03, ...lengthOctets(sig.length + 1), 0, ...sig),
      ]);
      const x = new X509Certificate(Buffer.from(der));
      expect(x.verify(createPublicKey({ key: Buffer.from(signer.publicKeySpki), format: 'der', type: 'spki' })), signer.keyAlgorithm).toBe(
        true,
      );
      expect(x.subjectAltName).toContain('DNS:*.b.example.com');
    }
  });
});

describe('CSR parsing is strict DER', () => {
  /** A PKCS#10 request built by hand, so that fields openssl would never write can be tested. */
  function handCsr(opts: { version?: number; trailing?: boolean; attributes?: 'none' | 'empty' } = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tlv = (tag: number, ...parts: Uint8Array[]) => {
      const body = Buffer.concat(parts);
      return Buffer.concat([Uint8Array.of(tag, ...lengthOctets(body.length)), body]);
    };
    const cn = tlv(0x31, tlv(0x30, Uint8Array.of(0x06, 0x03, 0x55, 0x04, 0x03), tlv(0x0c, Buffer.from('hand.example.com'))));
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const attrs = opts.attributes === 'none' ? [] : [tlv(0xa0)];
    const info = tlv(0x30, Uint8Array.of(0x02, 0x01, opts.version ?? 0), tlv(0x30, cn), spki, ...attrs);
    const sig = nodeSign('sha256', info, privateKey);
    const alg = tlv(0x30, Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02));
    const der = tlv(0x30, info, alg, tlv(0x03, Uint8Array.of(0), sig));
    return { der: opts.trailing ? Buffer.concat([der, Uint8Array.of(0)]) : der, spki };
  }

  it('accepts a minimal request, with or without the attributes field', () => {
    for (const attributes of ['empty', 'none'] as const) {
      const { der, spki } = handCsr({ attributes });
      const parsed = parseAndVerifyCsr(der);
      expect(Buffer.from(parsed.publicKeySpki).equals(spki)).toBe(true);
      expect(parsed.subject).toEqual({ CN: 'hand.example.com' });
      expect(parsed.requestedSans).toEqual({ dns: [], ip: [], uri: [], email: [] });
    }
  });

  it('refuses a version other than v1(0) and trailing bytes as malformed_csr, over the API too', async () => {
    for (const opts of [{ version: 1 }, { trailing: true }]) {
      const { der } = handCsr(opts);
      expect(() => parseAndVerifyCsr(der)).toThrow(expect.objectContaining({ code: 'malformed_csr' }));
      const before = await certificateCount();
      const { res, body } = await issue({ profile: 'server', sans: { dns: ['hand.example.com'] }, csr: toPem(der, 'CERTIFICATE REQUEST') });
      expect(res.status).toBe(422);
      expect(body.code).toBe('malformed_csr');
      expect(await certificateCount()).toBe(before);
    }
  });

  it('reads the same subject, SANs and key as pkijs from openssl CSRs of every key type', () => {
    for (const kind of ['EC-P256', 'EC-P384', 'RSA-2048', 'Ed25519'] as const) {
      const { csr, spki } = makeCsr(kind, '/C=DE/O=Ünïcode Org/CN=multi.example.com', [
        'subjectAltName=DNS:multi.example.com,IP:10.1.2.3,IP:fd00::1,URI:spiffe://prod.example/x,email:a@example.com',
        'basicConstraints=critical,CA:TRUE',
      ]);
      const der = pemToDerList(csr, ['CERTIFICATE REQUEST'])[0];
      const parsed = parseAndVerifyCsr(der);
      const reference = pkijs.CertificationRequest.fromBER(der);
      expect(Buffer.from(parsed.publicKeySpki).equals(spki), kind).toBe(true);
      expect(Buffer.from(parsed.publicKeySpki).equals(Buffer.from(reference.subjectPublicKeyInfo.toSchema().toBER(false)))).toBe(true);
      expect(parsed.subject).toEqual({ C: 'DE', O: 'Ünïcode Org', CN: 'multi.example.com' });
      expect(parsed.requestedSans).toEqual({
        dns: ['multi.example.com'],
        ip: ['10.1.2.3', 'fd00::1'],
        uri: ['spiffe://prod.example/x'],
        email: ['a@example.com'],
      });
      expect(parsed.publicKey.export({ format: 'der', type: 'spki' }).equals(spki)).toBe(true);
    }
  });
});

function lengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

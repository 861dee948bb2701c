/**
 * Issue 3: revocation, CRLs and OCSP that take effect at once. Runs on PGlite and again on
 * PostgreSQL (test/run-all.sh); the several-processes part runs only on PostgreSQL.
 *
 * CRLs and OCSP responses are read back with the pki parsers (well tested against openssl
 * elsewhere) and, where the question is about bytes on the wire (is a field absent? does an
 * entry carry a reason extension?), with the small DER walker below that shares no code with
 * the encoders. Interop with openssl and Java lives in test/interop/revocation.test.ts.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authority, KeyEncryptionKey, SoftwareKeyCustody, SYSTEM_ACTOR, type CrlPolicy, type LoadedIssuer } from '@anvil/ca';
import { openStore, type DrizzleStore } from '@anvil/db';
import { sql } from 'drizzle-orm';
import { getExtension, parseCertificate, parseCrl, parseOcspResponse, type ParsedCrl, type ParsedOcspResponse } from '@anvil/pki';
import { createTestAnvil, freshDatabase, TEST_DB, type TestAnvil } from '../support/harness.ts';

// ------------------------------------------------------------------ a DER walker and writer

interface Tlv {
  tag: number;
  /** Offsets into the buffer: header start, content start, end. */
  start: number;
  content: number;
  end: number;
}

function readTlv(buf: Uint8Array, at: number): Tlv {
  const tag = buf[at];
  let p = at + 1;
  let len = buf[p++];
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
  }
  if (p + len > buf.length) throw new Error('truncated DER');
  return { tag, start: at, content: p, end: p + len };
}

function childrenOf(buf: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.content; p < t.end; ) {
    const c = readTlv(buf, p);
    out.push(c);
    p = c.end;
  }
  return out;
}

const bytes = (buf: Uint8Array, t: Tlv) => buf.subarray(t.content, t.end);
const whole = (buf: Uint8Array, t: Tlv) => buf.subarray(t.start, t.end);

function der(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const len = body.length;
  const lenBytes: number[] = [];
  if (len < 128) lenBytes.push(len);
  else {
    for (let n = len; n > 0; n >>= 8) lenBytes.unshift(n & 0xff);
    lenBytes.unshift(0x80 | lenBytes.length);
  }
  return new Uint8Array([tag, ...lenBytes, ...body]);
}

const SEQ = 0x30;
const OID_SHA1 = Uint8Array.from([0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a]);
const OID_SHA256 = Uint8Array.from([0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]);
const OID_NONCE = Uint8Array.from([0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02]);
const NULL = Uint8Array.from([0x05, 0x00]);

/** An issuer's CertID hashes, computed from its certificate's bytes (RFC 6960 4.1.1). */
function certIdHashes(issuerCertDer: Uint8Array, alg: 'sha1' | 'sha256') {
  const cert = readTlv(issuerCertDer, 0);
  const tbs = childrenOf(issuerCertDer, childrenOf(issuerCertDer, cert)[0]);
  const offset = tbs[0].tag === 0xa0 ? 1 : 0;
  const subject = tbs[offset + 4];
  const spki = childrenOf(issuerCertDer, tbs[offset + 5]);
  const key = bytes(issuerCertDer, spki[1]).subarray(1); // BIT STRING minus the unused-bits octet
  const h = (b: Uint8Array) => new Uint8Array(createHash(alg).update(b).digest());
  return { nameHash: h(whole(issuerCertDer, subject)), keyHash: h(key) };
}

interface CertIdSpec {
  issuerDer: Uint8Array;
  serialHex: string;
  alg?: 'sha1' | 'sha256';
  /** Overrides, for requests naming an issuer nobody has. */
  nameHash?: Uint8Array;
  keyHash?: Uint8Array;
}

function certIdDer(s: CertIdSpec): Uint8Array {
  const alg = s.alg ?? 'sha1';
  const h = certIdHashes(s.issuerDer, alg);
  return der(
    SEQ,
    der(SEQ, alg === 'sha1' ? OID_SHA1 : OID_SHA256, NULL),
    der(0x04, s.nameHash ?? h.nameHash),
    der(0x04, s.keyHash ?? h.keyHash),
    der(0x02, Buffer.from(s.serialHex, 'hex')),
  );
}

function ocspRequest(ids: CertIdSpec[], nonce?: Uint8Array): Uint8Array {
  const list = der(SEQ, ...ids.map((id) => der(SEQ, certIdDer(id))));
  const exts = nonce ? [der(0xa2, der(SEQ, der(SEQ, OID_NONCE, der(0x04, der(0x04, nonce)))))] : [];
  return der(SEQ, der(SEQ, list, ...exts));
}

/** revokedCertificates of a CRL as raw TLVs, or null when the field is absent. */
function crlEntriesRaw(crlDer: Uint8Array): Tlv[] | null {
  const tbs = childrenOf(crlDer, childrenOf(crlDer, readTlv(crlDer, 0))[0]);
  // version, signature, issuer, thisUpdate, nextUpdate, [revokedCertificates], [0] extensions
  const candidate = tbs[5];
  if (!candidate || candidate.tag !== SEQ) return null;
  return childrenOf(crlDer, candidate);
}

// ------------------------------------------------------------------ the Anvil under test

let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);

let anvil: TestAnvil;
let issuing: LoadedIssuer;
let root: LoadedIssuer;

beforeAll(async () => {
  anvil = await createTestAnvil({ now });
  issuing = anvil.authority.issuerByName('issuing-ca');
  root = anvil.authority.issuerByName('root-ca');
});
afterAll(async () => {
  await anvil?.close();
});

interface IssuedView {
  id: string;
  serial: string;
  status: string;
  revokedAt: string | null;
  revocationReason: string | null;
  certificate: string;
  notAfter: string;
}

let counter = 0;
async function issue(extra: Record<string, unknown> = {}): Promise<IssuedView> {
  const cn = `partner-${++counter}`;
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: cn },
    sans: { dns: [`${cn}.partner.test`] },
    ...extra,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

async function revoke(id: string, reason?: string) {
  return anvil.api('POST', `/api/v1/certificates/${id}/revoke`, reason === undefined ? {} : { reason });
}

async function fetchCrl(name = 'issuing-ca'): Promise<{ der: Uint8Array; crl: ParsedCrl; res: Response }> {
  const res = await anvil.app.request(`/pki/crl/${name}.crl`);
  expect(res.status).toBe(200);
  const der = new Uint8Array(await res.arrayBuffer());
  const issuer = anvil.authority.issuerByName(name);
  const crl = parseCrl(der, { issuerSpkiDer: issuer.signer.publicKeySpki });
  expect(crl.signatureValid).toBe(true);
  return { der, crl, res };
}

async function postOcsp(body: Uint8Array): Promise<{ res: Response; der: Uint8Array; parsed: ParsedOcspResponse }> {
  const res = await anvil.app.request('/ocsp', { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/ocsp-response');
  const der = new Uint8Array(await res.arrayBuffer());
  return { res, der, parsed: parseOcspResponse(der) };
}

/** Parses a successful response and checks its signature with the responder certificate it carries. */
function verifiedOcsp(der: Uint8Array): ParsedOcspResponse {
  const outer = parseOcspResponse(der);
  expect(outer.status).toBe('successful');
  expect(outer.certs).toHaveLength(1);
  const responder = new X509Certificate(outer.certs[0]);
  const spki = new Uint8Array(responder.publicKey.export({ type: 'spki', format: 'der' }));
  const parsed = parseOcspResponse(der, { responderSpkiDer: spki });
  expect(parsed.signatureValid).toBe(true);
  return parsed;
}

async function ocspStatus(serialHex: string, issuer = issuing) {
  const { der } = await postOcsp(ocspRequest([{ issuerDer: issuer.record.certificateDer, serialHex }]));
  return verifiedOcsp(der).responses[0];
}

function entryOf(crl: ParsedCrl, serialHex: string) {
  return crl.entries.find((e) => e.serialHex === serialHex);
}

async function problemOf(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await res.json()) as { code: string; status: number; detail: string };
}

/** What a refused request must leave untouched. */
async function snapshot() {
  const header = await anvil.store.getCrlHeader(issuing.record.id);
  const revoked = await anvil.store.listCertificates({ status: 'revoked', limit: 1000 });
  const audit = await anvil.store.listAudit({ limit: 1000 });
  return { crlNumber: header?.number, revoked: revoked.items.map((r) => r.id).sort(), audit: audit.length };
}

const REASONS = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const;
const REASON_CODES: Record<string, number> = {
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
};

// ------------------------------------------------------------------ revoke

describe('revoke', () => {
  it.each(REASONS)('revokes with reason %s: CRL entry (reason code only when not unspecified) and OCSP agree', async (reason) => {
    const cert = await issue();
    const before = (await fetchCrl()).crl.number!;
    const res = await revoke(cert.id, reason);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ id: cert.id, status: 'revoked', revocationReason: reason });
    const revokedAt = new Date(body.revokedAt);
    expect(revokedAt.getMilliseconds()).toBe(0);

    // The very next CRL carries it, under a higher number.
    const { der, crl } = await fetchCrl();
    expect(crl.number!).toBeGreaterThan(before);
    const entry = entryOf(crl, cert.serial)!;
    expect(entry).toBeDefined();
    expect(entry.reason).toBe(reason);
    expect(entry.revokedAt.getTime()).toBe(revokedAt.getTime());
    // On the wire: a reasonCode extension with the RFC 5280 code, none at all for unspecified.
    const raw = crlEntriesRaw(der)!.find((t) => Buffer.from(bytes(der, childrenOf(der, t)[0])).toString('hex') === cert.serial)!;
    const parts = childrenOf(der, raw);
    if (reason === 'unspecified') {
      expect(parts).toHaveLength(2);
    } else {
      expect(parts).toHaveLength(3);
      const ext = childrenOf(der, childrenOf(der, parts[2])[0]);
      expect(Buffer.from(whole(der, ext[0])).toString('hex')).toBe('0603551d15'); // id-ce-cRLReasons
      const value = bytes(der, ext[ext.length - 1]);
      expect([...value]).toEqual([0x0a, 0x01, REASON_CODES[reason]]);
    }

    // The very next OCSP answer too.
    const single = await ocspStatus(cert.serial);
    expect(single.status).toBe('revoked');
    expect(single.revokedAt!.getTime()).toBe(revokedAt.getTime());
    expect(single.reason).toBe(reason);
  });

  it('defaults to unspecified when no reason is given', async () => {
    const cert = await issue();
    const res = await revoke(cert.id);
    expect(res.status).toBe(200);
    expect((await res.json()).revocationReason).toBe('unspecified');
  });

  it('releases a certificateHold: the entry leaves the CRL and OCSP says good again', async () => {
    const cert = await issue();
    expect((await revoke(cert.id, 'certificateHold')).status).toBe(200);
    const held = await fetchCrl();
    expect(entryOf(held.crl, cert.serial)?.reason).toBe('certificateHold');
    expect((await ocspStatus(cert.serial)).status).toBe('revoked');

    const res = await anvil.api('POST', `/api/v1/certificates/${cert.id}/release`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'active', revokedAt: null, revocationReason: null });

    const released = await fetchCrl();
    expect(released.crl.number!).toBeGreaterThan(held.crl.number!);
    expect(entryOf(released.crl, cert.serial)).toBeUndefined();
    expect((await ocspStatus(cert.serial)).status).toBe('good');

    // Released, it can be revoked again (for good this time).
    expect((await revoke(cert.id, 'keyCompromise')).status).toBe(200);
    expect(entryOf((await fetchCrl()).crl, cert.serial)?.reason).toBe('keyCompromise');
  });

  it.each(REASONS.filter((r) => r !== 'certificateHold'))(
    'refuses to release a %s revocation: 409 not_on_hold, nothing changes',
    async (reason) => {
      const cert = await issue();
      await revoke(cert.id, reason);
      const before = await snapshot();
      const res = await anvil.api('POST', `/api/v1/certificates/${cert.id}/release`);
      expect(res.status).toBe(409);
      expect((await problemOf(res)).code).toBe('not_on_hold');
      expect(await snapshot()).toEqual(before);
      expect(entryOf((await fetchCrl()).crl, cert.serial)?.reason).toBe(reason);
    },
  );

  it('refuses to release an active certificate (409 not_on_hold) and an unknown one (404)', async () => {
    const cert = await issue();
    const res = await anvil.api('POST', `/api/v1/certificates/${cert.id}/release`);
    expect(res.status).toBe(409);
    expect((await problemOf(res)).code).toBe('not_on_hold');
    const missing = await anvil.api('POST', `/api/v1/certificates/00000000-0000-4000-8000-000000000000/release`);
    expect(missing.status).toBe(404);
    expect((await problemOf(missing)).code).toBe('certificate_not_found');
  });

  it('revoking again returns the first revocation unchanged (same revokedAt and reason), and signs no new CRL', async () => {
    const cert = await issue();
    const first = await (await revoke(cert.id, 'superseded')).json();
    const crlAfterFirst = (await fetchCrl()).crl.number;
    offsetMs += 5_000;
    try {
      const again = await revoke(cert.id, 'keyCompromise');
      expect(again.status).toBe(200);
      const second = await again.json();
      expect(second.revokedAt).toBe(first.revokedAt);
      expect(second.revocationReason).toBe('superseded');
      expect((await fetchCrl()).crl.number).toBe(crlAfterFirst);
      const audit = await anvil.store.listAudit({ limit: 1000 });
      expect(audit.filter((a) => a.action === 'certificate.revoke' && a.target === cert.id)).toHaveLength(1);
    } finally {
      offsetMs -= 5_000;
    }
  });

  it('concurrent revocations of one certificate: one wins, all return it, one audit row', async () => {
    const cert = await issue();
    const reasons = ['keyCompromise', 'superseded', 'affiliationChanged', 'privilegeWithdrawn', 'cessationOfOperation'];
    const bodies = await Promise.all(reasons.map(async (r) => (await revoke(cert.id, r)).json()));
    expect(new Set(bodies.map((b) => `${b.revokedAt}|${b.revocationReason}`)).size).toBe(1);
    const audit = await anvil.store.listAudit({ limit: 1000 });
    expect(audit.filter((a) => a.action === 'certificate.revoke' && a.target === cert.id)).toHaveLength(1);
    expect(entryOf((await fetchCrl()).crl, cert.serial)?.reason).toBe(bodies[0].revocationReason);
  });

  it('concurrent releases of one hold: one succeeds, the others get 409 not_on_hold', async () => {
    const cert = await issue();
    await revoke(cert.id, 'certificateHold');
    const results = await Promise.all([1, 2, 3].map(() => anvil.api('POST', `/api/v1/certificates/${cert.id}/release`)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect((await problemOf(r)).code).toBe('not_on_hold');
    const audit = await anvil.store.listAudit({ limit: 1000 });
    expect(audit.filter((a) => a.action === 'certificate.release' && a.target === cert.id)).toHaveLength(1);
  });

  it('when signing the CRL fails after a revocation committed, the next CRL request re-signs it', async () => {
    const cert = await issue();
    await fetchCrl(); // a current, stored CRL exists
    const signer = issuing.signer as { sign: (data: Uint8Array) => Promise<Uint8Array> };
    const sign = signer.sign;
    signer.sign = async () => {
      throw new Error('signer unavailable');
    };
    let res: Response;
    try {
      res = await revoke(cert.id, 'keyCompromise');
    } finally {
      signer.sign = sign;
    }
    expect(res.status).toBe(503); // committed; the CRL could not be signed
    expect((await res.json()).code).toBe('crl_publish_failed');
    expect((await anvil.api('GET', `/api/v1/certificates/${cert.id}`).then((r) => r.json())).status).toBe('revoked');
    expect((await ocspStatus(cert.serial)).status).toBe('revoked');
    // A retry finds it revoked already and signs nothing itself...
    expect((await revoke(cert.id, 'keyCompromise')).status).toBe(200);
    // ...yet the very next CRL carries it.
    expect(entryOf((await fetchCrl()).crl, cert.serial)?.reason).toBe('keyCompromise');
  });

  it('revokes by issuer and serial (plain, colon-separated upper case, and without the sign octet)', async () => {
    const forms = (serial: string) => [
      serial,
      serial.toUpperCase().match(/../g)!.join(':'),
      // openssl prints a serial whose top bit is set without the leading 00 octet
      serial.replace(/^00/, ''),
    ];
    for (let i = 0; i < 3; i++) {
      // keep issuing until the serial's top bit is set, so the third form really differs
      let cert = await issue();
      while (i === 2 && !cert.serial.startsWith('00')) cert = await issue();
      const res = await anvil.api('POST', '/api/v1/certificates/revoke', {
        issuer: 'issuing-ca',
        serial: forms(cert.serial)[i],
        reason: 'keyCompromise',
      });
      expect(res.status, `form ${forms(cert.serial)[i]}`).toBe(200);
      const body = await res.json();
      expect(body.items).toHaveLength(1);
      expect(body.items[0]).toMatchObject({ id: cert.id, status: 'revoked', revocationReason: 'keyCompromise' });
      expect(entryOf((await fetchCrl()).crl, cert.serial)).toBeDefined();
    }
  });

  it('bulk-revokes a list of ids in one call and one CRL', async () => {
    const certs = [await issue(), await issue(), await issue()];
    const before = (await fetchCrl()).crl.number!;
    const res = await anvil.api('POST', '/api/v1/certificates/revoke', { ids: certs.map((c) => c.id), reason: 'cessationOfOperation' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.items.map((i: IssuedView) => i.id)).toEqual(certs.map((c) => c.id));
    for (const item of body.items) expect(item).toMatchObject({ status: 'revoked', revocationReason: 'cessationOfOperation' });
    const { crl } = await fetchCrl();
    expect(crl.number).toBe(before + 1n);
    for (const c of certs) expect(entryOf(crl, c.serial)?.reason).toBe('cessationOfOperation');
  });

  it('bulk with one unknown id: 404 certificate_not_found and nothing is revoked', async () => {
    const certs = [await issue(), await issue()];
    const before = await snapshot();
    const missing = '11111111-2222-4333-8444-555555555555';
    const res = await anvil.api('POST', '/api/v1/certificates/revoke', {
      ids: [certs[0].id, missing, certs[1].id],
      reason: 'keyCompromise',
    });
    expect(res.status).toBe(404);
    const p = await problemOf(res);
    expect(p.code).toBe('certificate_not_found');
    expect(p.detail).toContain(missing);
    expect(await snapshot()).toEqual(before);
    for (const c of certs) {
      expect((await (await anvil.api('GET', `/api/v1/certificates/${c.id}`)).json()).status).toBe('active');
      expect((await ocspStatus(c.serial)).status).toBe('good');
    }
  });

  it('an intermediate created over the API and then revoked appears on the root CRL (and root OCSP)', async () => {
    const created = await anvil.api('POST', '/api/v1/issuers', { name: 'partner-ca' });
    expect(created.status, await created.clone().text()).toBe(201);
    const partner = anvil.authority.issuerByName('partner-ca');
    expect(entryOf((await fetchCrl('root-ca')).crl, partner.record.serial)).toBeUndefined();
    expect((await ocspStatus(partner.record.serial, root)).status).toBe('good');

    const res = await anvil.api('POST', '/api/v1/issuers/partner-ca/revoke', { reason: 'cACompromise' });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'partner-ca', status: 'revoked', revocationReason: 'cACompromise' });
    const { crl } = await fetchCrl('root-ca');
    expect(entryOf(crl, partner.record.serial)?.reason).toBe('cACompromise');
    const single = await ocspStatus(partner.record.serial, root);
    expect(single.status).toBe('revoked');
    expect(single.reason).toBe('cACompromise');

    // A revoked CA issues nothing more.
    const refused = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'server',
      issuer: 'partner-ca',
      sans: { dns: ['late.partner.test'] },
    });
    expect(refused.status).toBe(422);
    expect((await problemOf(refused)).code).toBe('issuer_revoked');

    // Revoking it again changes nothing; a root cannot be revoked.
    const again = await anvil.api('POST', '/api/v1/issuers/partner-ca/revoke', { reason: 'superseded' });
    expect((await again.json()).revocationReason).toBe('cACompromise');
    const rootRevoke = await anvil.api('POST', '/api/v1/issuers/root-ca/revoke', { reason: 'keyCompromise' });
    expect(rootRevoke.status).toBe(422);
    expect((await problemOf(rootRevoke)).code).toBe('cannot_revoke_root');
  });

  it('writes an audit row per revocation and release', async () => {
    const cert = await issue();
    await revoke(cert.id, 'certificateHold');
    await anvil.api('POST', `/api/v1/certificates/${cert.id}/release`);
    const audit = await anvil.store.listAudit({ limit: 1000 });
    const mine = audit.filter((a) => a.target === cert.id).map((a) => a.action);
    expect(mine).toEqual(expect.arrayContaining(['certificate.revoke', 'certificate.release']));
  });
});

// ------------------------------------------------------------------ bad input

describe('bad input: a clear problem with a stable code, and nothing changes', () => {
  const cases: Array<[string, () => Promise<Response>, number, string]> = [
    ['an unknown reason', async () => revoke((await issue()).id, 'fellOffTruck'), 422, 'invalid_reason'],
    ['removeFromCRL (a delta-CRL mechanism, not a reason)', async () => revoke((await issue()).id, 'removeFromCRL'), 422, 'invalid_reason'],
    ['an id that does not exist', () => revoke('6b1f2d3c-4e5f-4a6b-8c7d-9e0f1a2b3c4d', 'keyCompromise'), 404, 'certificate_not_found'],
    ['a non-uuid id', () => revoke('not-a-uuid', 'keyCompromise'), 400, 'validation_failed'],
    [
      'an unknown field',
      async () => anvil.api('POST', `/api/v1/certificates/${(await issue()).id}/revoke`, { reason: 'keyCompromise', when: 'now' }),
      400,
      'validation_failed',
    ],
    [
      'malformed JSON',
      async () => anvil.api('POST', `/api/v1/certificates/${(await issue()).id}/revoke`, '{"reason":'),
      400,
      'malformed_json',
    ],
    [
      'bulk with an unknown reason',
      async () => anvil.api('POST', '/api/v1/certificates/revoke', { ids: [(await issue()).id], reason: 'nope' }),
      422,
      'invalid_reason',
    ],
    [
      'bulk with an empty list',
      () => anvil.api('POST', '/api/v1/certificates/revoke', { ids: [], reason: 'keyCompromise' }),
      400,
      'validation_failed',
    ],
    [
      'bulk with a non-uuid id',
      async () => anvil.api('POST', '/api/v1/certificates/revoke', { ids: [(await issue()).id, 'x'] }),
      400,
      'validation_failed',
    ],
    [
      'bulk with neither ids nor serial',
      () => anvil.api('POST', '/api/v1/certificates/revoke', { reason: 'keyCompromise' }),
      400,
      'validation_failed',
    ],
    [
      'by serial, unknown serial',
      () => anvil.api('POST', '/api/v1/certificates/revoke', { issuer: 'issuing-ca', serial: '7f00ff', reason: 'keyCompromise' }),
      404,
      'certificate_not_found',
    ],
    [
      'by serial, not hexadecimal',
      () => anvil.api('POST', '/api/v1/certificates/revoke', { issuer: 'issuing-ca', serial: 'xyz', reason: 'keyCompromise' }),
      422,
      'invalid_serial',
    ],
    [
      'by serial, unknown issuer',
      () => anvil.api('POST', '/api/v1/certificates/revoke', { issuer: 'nobody-ca', serial: '01', reason: 'keyCompromise' }),
      404,
      'unknown_issuer',
    ],
    [
      'an unknown issuer to revoke',
      () => anvil.api('POST', '/api/v1/issuers/nobody-ca/revoke', { reason: 'keyCompromise' }),
      404,
      'unknown_issuer',
    ],
    [
      'an issuer with an unknown reason',
      () => anvil.api('POST', '/api/v1/issuers/issuing-ca/revoke', { reason: 'bored' }),
      422,
      'invalid_reason',
    ],
    [
      'no token',
      async () =>
        anvil.app.request(`/api/v1/certificates/${(await issue()).id}/revoke`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }),
      401,
      'unauthorized',
    ],
  ];

  it.each(cases)('%s', async (_name, call, status, code) => {
    await fetchCrl(); // make sure a CRL exists, so "unchanged" is about its number
    const before = await snapshot();
    const res = await call();
    expect(res.status).toBe(status);
    const p = await problemOf(res);
    expect(p.code).toBe(code);
    expect(p.status).toBe(status);
    expect(p.detail.length).toBeGreaterThan(0);
    const after = await snapshot();
    // issue() in the setup adds its own audit row; a refused revocation adds none.
    expect(after.crlNumber).toBe(before.crlNumber);
    expect(after.revoked).toEqual(before.revoked);
    const audit = await anvil.store.listAudit({ limit: 1000 });
    expect(audit.slice(0, after.audit - before.audit).every((a) => a.action === 'certificate.issue')).toBe(true);
  });

  it('an invalid reason names the valid ones', async () => {
    const p = await problemOf(await revoke((await issue()).id, 'fellOffTruck'));
    for (const r of REASONS) expect(p.detail).toContain(r);
  });
});

// ------------------------------------------------------------------ CRLs

describe('CRLs', () => {
  it('one per issuer, root included: DER as application/pkix-crl and PEM, v2, issuer name, AKI', async () => {
    for (const issuer of [root, issuing]) {
      const name = issuer.record.name;
      const { der, crl, res } = await fetchCrl(name);
      expect(res.headers.get('content-type')).toBe('application/pkix-crl');
      expect(crl.version).toBe(2);
      expect(crl.number).toBeGreaterThanOrEqual(1n);
      expect(Buffer.from(crl.authorityKeyId!).toString('hex')).toBe(issuer.record.subjectKeyId);
      expect(crl.unhandledCriticalExtensions).toEqual([]);
      // The issuer Name is the issuer certificate's subject, byte for byte.
      const cert = readTlv(issuer.record.certificateDer, 0);
      const tbs = childrenOf(issuer.record.certificateDer, childrenOf(issuer.record.certificateDer, cert)[0]);
      expect(Buffer.from(crl.issuerNameDer).equals(Buffer.from(whole(issuer.record.certificateDer, tbs[5])))).toBe(true);

      const pem = await anvil.app.request(`/pki/crl/${name}.pem`);
      expect(pem.status).toBe(200);
      const text = await pem.text();
      expect(text).toMatch(/^-----BEGIN X509 CRL-----\n/);
      const b64 = text.replace(/-----[^-]+-----/g, '').replace(/\s/g, '');
      expect(Buffer.from(b64, 'base64').equals(Buffer.from(der))).toBe(true);
    }
    const unknown = await anvil.app.request('/pki/crl/nobody-ca.crl');
    expect(unknown.status).toBe(404);
    expect((await problemOf(unknown)).code).toBe('unknown_issuer');
    expect((await anvil.app.request('/pki/crl/issuing-ca.txt')).status).toBe(404);
  });

  it('the CRL number strictly increases after each revocation', async () => {
    let last = (await fetchCrl()).crl.number!;
    for (let i = 0; i < 4; i++) {
      await revoke((await issue()).id, 'superseded');
      const n = (await fetchCrl()).crl.number!;
      expect(n).toBeGreaterThan(last);
      last = n;
    }
  });

  it('an empty CRL has no revokedCertificates field at all', async () => {
    const created = await anvil.api('POST', '/api/v1/issuers', { name: 'empty-ca' });
    expect(created.status).toBe(201);
    const { der, crl } = await fetchCrl('empty-ca');
    expect(crl.entries).toEqual([]);
    expect(crlEntriesRaw(der)).toBeNull();
  });

  it('streams more entries than one database page (20,000), each once, leaving out the long-expired', async () => {
    const created = await anvil.api('POST', '/api/v1/issuers', { name: 'bulk-ca' });
    expect(created.status).toBe(201);
    const issuer = anvil.authority.issuerByName('bulk-ca');
    const n = 20_003;
    const insert = (count: number, notAfter: string, prefix: string) => sql`
      insert into certificates (issuer_id, serial, profile, subject, sans, search_text, key_algorithm, not_before, not_after,
                                der, fingerprint_sha256, status, revoked_at, revocation_reason)
      select ${issuer.record.id}::uuid, ${prefix} || lpad(to_hex(g), 8, '0'), 'client', 'CN=bulk', '{"dns":[],"ip":[],"uri":[],"email":[]}'::jsonb, '',
             'EC-P256', now() - interval '400 days', ${notAfter}::timestamptz, '\\x00'::bytea, md5(g::text), 'revoked',
             date_trunc('second', now()), case when g % 2 = 0 then 'keyCompromise' else null end
      from generate_series(1, ${count}) g`;
    await anvil.store.database.execute(insert(n, new Date(Date.now() + 86_400_000).toISOString(), '41'));
    await anvil.store.database.execute(insert(5, new Date(Date.now() - 30 * 86_400_000).toISOString(), '42'));
    const crl = parseCrl((await anvil.authority.crls.publish(issuer)).der, { issuerSpkiDer: issuer.signer.publicKeySpki });
    expect(crl.signatureValid).toBe(true);
    expect(crl.entries).toHaveLength(n);
    expect(new Set(crl.entries.map((e) => e.serialHex)).size).toBe(n);
    expect(crl.entries.every((e) => e.serialHex.startsWith('41'))).toBe(true);
    expect(crl.entries.filter((e) => e.reason === 'keyCompromise')).toHaveLength(Math.floor(n / 2));
  });

  it('sends ETag, Last-Modified, Cache-Control; If-None-Match gets 304 until the CRL changes', async () => {
    const { res, crl } = await fetchCrl();
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(new Date(res.headers.get('last-modified')!).getTime()).toBe(crl.thisUpdate.getTime());
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(new Date(res.headers.get('expires')!).getTime()).toBe(crl.nextUpdate!.getTime());

    const cached = await anvil.app.request('/pki/crl/issuing-ca.crl', { headers: { 'if-none-match': etag } });
    expect(cached.status).toBe(304);
    expect(cached.headers.get('etag')).toBe(etag);
    expect((await cached.arrayBuffer()).byteLength).toBe(0);
    for (const header of [`"other", ${etag}`, `W/${etag}`, '*']) {
      expect((await anvil.app.request('/pki/crl/issuing-ca.crl', { headers: { 'if-none-match': header } })).status, header).toBe(304);
    }
    expect((await anvil.app.request('/pki/crl/issuing-ca.crl', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);

    // The PEM form is a different representation: a different tag.
    const pem = await anvil.app.request('/pki/crl/issuing-ca.pem');
    expect(pem.headers.get('etag')).not.toBe(etag);

    await revoke((await issue()).id, 'keyCompromise');
    const changed = await anvil.app.request('/pki/crl/issuing-ca.crl', { headers: { 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('issued certificates point at the CRL (CDP) and the OCSP responder (AIA), and those URLs are served', async () => {
    const cert = await issue();
    const parsed = parseCertificate(new Uint8Array(new X509Certificate(cert.certificate).raw));
    const cdp = getExtension(parsed, '2.5.29.31')!;
    expect(cdp).toBeDefined();
    const urls = Buffer.from(cdp.extnValue.valueBlock.valueHexView).toString('latin1');
    const crlUrl = `${anvil.publicUrl}/pki/crl/issuing-ca.crl`;
    expect(urls).toContain(crlUrl);
    const aia = Buffer.from(getExtension(parsed, '1.3.6.1.5.5.7.1.1')!.extnValue.valueBlock.valueHexView).toString('latin1');
    expect(aia).toContain(`${anvil.publicUrl}/ocsp`);
    const served = await anvil.app.request(crlUrl.slice(anvil.publicUrl.length));
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('application/pkix-crl');
    // The issuing intermediate itself points at the root's CRL.
    const inter = Buffer.from(getExtension(issuing.certificate, '2.5.29.31')!.extnValue.valueBlock.valueHexView).toString('latin1');
    expect(inter).toContain(`${anvil.publicUrl}/pki/crl/root-ca.crl`);
  });
});

// ------------------------------------------------------------------ CRL timing, on an Authority with its own policy

interface Instance {
  authority: Authority;
  store: DrizzleStore;
}

async function openAuthority(
  url: string | undefined,
  kek: KeyEncryptionKey,
  clock: () => Date,
  crl?: Partial<CrlPolicy>,
): Promise<Instance> {
  const store = await openStore(url ? { url, poolSize: 4 } : {});
  const authority = new Authority({
    store,
    custody: new SoftwareKeyCustody(kek),
    config: { publicUrl: 'http://anvil.test', caKeyAlgorithm: 'EC-P256', organization: 'Anvil Test', crl },
    now: clock,
  });
  await authority.bootstrap({ adminToken: 'anvil_test_admin_token_0123456789abcdef' });
  return { authority, store };
}

async function issueVia(authority: Authority, ttl?: string) {
  const cn = `timed-${++counter}`;
  const { record } = await authority.issue(
    { profile: 'client', subject: { CN: cn }, sans: { dns: [`${cn}.test`] }, ...(ttl ? { ttl } : {}) },
    SYSTEM_ACTOR,
  );
  return record;
}

describe('CRL validity, re-signing and expiry (clock moved)', () => {
  const HOUR = 3600_000;
  const DAY = 24 * HOUR;
  let shift = 0;
  const clock = () => new Date(Date.now() + shift);
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let inst: Instance;
  let ca: LoadedIssuer;

  beforeAll(async () => {
    db = await freshDatabase();
    inst = await openAuthority(db.url, KeyEncryptionKey.random(), clock, { validityMs: 2 * HOUR, expiredGraceMs: DAY });
    ca = inst.authority.issuerByName('issuing-ca');
  });
  afterAll(async () => {
    await inst?.store.close();
    await db?.drop();
  });

  it('nextUpdate - thisUpdate is crl.validityMs; re-signed only once half of it has passed', async () => {
    const first = await inst.authority.crls.current(ca);
    expect(first.nextUpdate.getTime() - first.thisUpdate.getTime()).toBe(2 * HOUR);
    const parsed = parseCrl(first.der, { issuerSpkiDer: ca.signer.publicKeySpki });
    expect(parsed.signatureValid).toBe(true);
    expect(parsed.nextUpdate!.getTime() - parsed.thisUpdate.getTime()).toBe(2 * HOUR);

    shift += HOUR - 60_000; // just before half
    expect((await inst.authority.crls.current(ca)).number).toBe(first.number);
    await inst.authority.crls.refresh(inst.authority.issuers());
    expect((await inst.authority.crls.current(ca)).number).toBe(first.number);

    shift += 120_000; // just past half
    const second = await inst.authority.crls.current(ca);
    expect(second.number).toBe(first.number + 1n);
    expect(second.thisUpdate.getTime()).toBe(Math.floor(clock().getTime() / 1000) * 1000);
    expect(second.nextUpdate.getTime() - second.thisUpdate.getTime()).toBe(2 * HOUR);

    // The background refresh re-signs every stale issuer, root included.
    shift += HOUR + 60_000;
    const rootCa = inst.authority.issuerByName('root-ca');
    const rootBefore = (await inst.store.getCrlHeader(rootCa.record.id))?.number ?? 0n;
    await inst.authority.crls.refresh(inst.authority.issuers());
    expect((await inst.store.getCrlHeader(ca.record.id))!.number).toBe(second.number + 1n);
    expect((await inst.store.getCrlHeader(rootCa.record.id))!.number).toBeGreaterThan(rootBefore);
  });

  it('an expired certificate stays on the CRL until notAfter + grace, then leaves it', async () => {
    const record = await issueVia(inst.authority, '2h');
    await inst.authority.revocations.revoke(record.id, 'keyCompromise', SYSTEM_ACTOR);
    const serials = async () => parseCrl((await inst.authority.crls.publish(ca)).der).entries.map((e) => e.serialHex);
    expect(await serials()).toContain(record.serial);

    const untilExpiry = record.notAfter.getTime() - clock().getTime();
    shift += untilExpiry + HOUR; // expired, within the grace
    expect(await serials()).toContain(record.serial);
    shift += DAY - 2 * HOUR; // still an hour inside notAfter + grace
    expect(await serials()).toContain(record.serial);
    shift += 2 * HOUR; // an hour past notAfter + grace
    expect(await serials()).not.toContain(record.serial);
    // OCSP still knows it was revoked.
    const single = parseOcspResponse(
      await inst.authority.ocsp
        .respond(ocspRequest([{ issuerDer: ca.record.certificateDer, serialHex: record.serial }]))
        .then((a) => a.der),
    ).responses[0];
    expect(single.status).toBe('revoked');
  });
});

// ------------------------------------------------------------------ several processes on one PostgreSQL

describe.runIf(TEST_DB === 'postgres')('two Authority processes on one PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    db = await freshDatabase();
    const kek = KeyEncryptionKey.random();
    const clock = () => new Date();
    // Started together, as two server processes would be: one bootstraps, the other finds it done.
    [a, b] = await Promise.all([openAuthority(db.url, kek, clock), openAuthority(db.url, kek, clock)]);
    await a.authority.loadIssuers();
    await b.authority.loadIssuers();
    await a.authority.start(() => {});
    await b.authority.start(() => {});
  });
  afterAll(async () => {
    a?.authority.stop();
    b?.authority.stop();
    await a?.store.close();
    await b?.store.close();
    await db?.drop();
  });

  it('share one CA (bootstrapped once)', () => {
    expect(
      a.authority
        .issuers()
        .map((i) => i.record.id)
        .sort(),
    ).toEqual(
      b.authority
        .issuers()
        .map((i) => i.record.id)
        .sort(),
    );
    expect(a.authority.issuers()).toHaveLength(2);
  });

  it('publishing concurrently never produces a duplicate or decreasing number; the stored CRL is the highest', async () => {
    const issuerA = a.authority.issuerByName('issuing-ca');
    const issuerB = b.authority.issuerByName('issuing-ca');
    const certs = await Promise.all(Array.from({ length: 6 }, (_, i) => issueVia((i % 2 ? b : a).authority)));

    // Each "process" publishes in a loop (numbers seen by one caller must increase) while the
    // other publishes and both revoke.
    const seen = new Map<bigint, string>();
    const record = (crl: { number: bigint; der: Uint8Array }) => {
      const hex = createHash('sha256').update(crl.der).digest('hex');
      const prior = seen.get(crl.number);
      expect(prior === undefined || prior === hex, `two different CRLs numbered ${crl.number}`).toBe(true);
      seen.set(crl.number, hex);
      const parsed = parseCrl(crl.der, { issuerSpkiDer: issuerA.signer.publicKeySpki });
      expect(parsed.signatureValid).toBe(true);
      expect(parsed.number).toBe(crl.number);
    };
    const loop = async (inst: Instance, issuer: LoadedIssuer, rounds: number) => {
      let last = -1n;
      for (let i = 0; i < rounds; i++) {
        const crl = await inst.authority.crls.publish(issuer);
        record(crl);
        expect(crl.number).toBeGreaterThan(last);
        last = crl.number;
      }
    };
    const burst = async (inst: Instance, issuer: LoadedIssuer) => {
      const crls = await Promise.all(Array.from({ length: 8 }, () => inst.authority.crls.publish(issuer)));
      crls.forEach(record);
    };
    await Promise.all([
      loop(a, issuerA, 15),
      loop(b, issuerB, 15),
      burst(a, issuerA),
      burst(b, issuerB),
      ...certs.map((c, i) => (i % 2 ? a : b).authority.revocations.revoke(c.id, 'keyCompromise', SYSTEM_ACTOR)),
    ]);

    const max = [...seen.keys()].reduce((m, n) => (n > m ? n : m), 0n);
    const stored = (await a.store.getCrl(issuerA.record.id))!;
    expect(stored.number).toBe(max);
    expect(parseCrl(stored.der).number).toBe(max);
    // Every revocation, wherever it happened, is on the stored (highest) CRL, and both processes serve it.
    const serials = parseCrl(stored.der).entries.map((e) => e.serialHex);
    for (const c of certs) expect(serials).toContain(c.serial);
    expect((await a.authority.crls.current(issuerA)).number).toBe(max);
    expect((await b.authority.crls.current(issuerB)).number).toBe(max);
  });

  it('a revocation in one process reaches the CRL and OCSP of the other', async () => {
    const issuerA = a.authority.issuerByName('issuing-ca');
    const cert = await issueVia(a.authority);
    const req = ocspRequest([{ issuerDer: issuerA.record.certificateDer, serialHex: cert.serial }]);
    // A answers (and caches) good.
    expect(parseOcspResponse((await a.authority.ocsp.respond(req)).der).responses[0].status).toBe('good');
    expect(parseOcspResponse((await a.authority.ocsp.respond(req)).der).responses[0].status).toBe('good');

    await b.authority.revocations.revoke(cert.id, 'privilegeWithdrawn', SYSTEM_ACTOR);
    // A's CRL: the stored one, signed by B, is served at once.
    const crl = parseCrl((await a.authority.crls.current(issuerA)).der);
    expect(entryOf(crl, cert.serial)?.reason).toBe('privilegeWithdrawn');
    // A's OCSP cache is dropped by B's NOTIFY, which is delivered after B's commit.
    const deadline = Date.now() + 5_000;
    let status = 'good';
    while (Date.now() < deadline) {
      status = parseOcspResponse((await a.authority.ocsp.respond(req)).der).responses[0].status;
      if (status === 'revoked') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('revoked');
  });
});

// ------------------------------------------------------------------ OCSP

describe('OCSP', () => {
  it('answers good, revoked (time and reason) and unknown (a serial never issued)', async () => {
    const good = await issue();
    const bad = await issue();
    const revoked = await (await revoke(bad.id, 'keyCompromise')).json();
    const neverIssued = `7f${randomBytes(15).toString('hex')}`;

    expect((await ocspStatus(good.serial)).status).toBe('good');
    const r = await ocspStatus(bad.serial);
    expect(r).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });
    expect(r.revokedAt!.toISOString()).toBe(revoked.revokedAt);
    const u = await ocspStatus(neverIssued);
    expect(u.status).toBe('unknown');
    for (const single of [r, u]) {
      expect(single.nextUpdate!.getTime()).toBeGreaterThan(single.thisUpdate.getTime());
      expect(Math.abs(single.thisUpdate.getTime() - Date.now())).toBeLessThan(120_000);
    }
  });

  it('echoes the nonce, byte for byte; answers without one when none was sent', async () => {
    const cert = await issue();
    const nonce = randomBytes(32);
    const answer = await postOcsp(ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }], nonce));
    const parsed = verifiedOcsp(answer.der);
    expect(Buffer.from(parsed.nonce!).equals(Buffer.from(der(0x04, nonce)))).toBe(true);
    const plain = verifiedOcsp((await postOcsp(ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }]))).der);
    expect(plain.nonce).toBeUndefined();
    // Two requests with different nonces get two fresh answers, each with its own nonce.
    const other = randomBytes(16);
    const second = verifiedOcsp(
      (await postOcsp(ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }], other))).der,
    );
    expect(Buffer.from(second.nonce!).equals(Buffer.from(der(0x04, other)))).toBe(true);
  });

  it('answers several CertIDs in one request, in order, echoing each CertID', async () => {
    const good = await issue();
    const bad = await issue();
    await revoke(bad.id, 'affiliationChanged');
    const ids: CertIdSpec[] = [
      { issuerDer: issuing.record.certificateDer, serialHex: good.serial },
      { issuerDer: issuing.record.certificateDer, serialHex: bad.serial, alg: 'sha256' },
      { issuerDer: issuing.record.certificateDer, serialHex: '0badc0de' },
    ];
    const parsed = verifiedOcsp((await postOcsp(ocspRequest(ids))).der);
    expect(parsed.responses.map((s) => s.status)).toEqual(['good', 'revoked', 'unknown']);
    expect(parsed.responses[1].reason).toBe('affiliationChanged');
    for (const [i, s] of parsed.responses.entries()) expect(Buffer.from(s.certId.raw).equals(Buffer.from(certIdDer(ids[i])))).toBe(true);
  });

  it.each(['sha1', 'sha256'] as const)('accepts %s CertIDs', async (alg) => {
    const cert = await issue();
    const parsed = verifiedOcsp(
      (await postOcsp(ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial, alg }]))).der,
    );
    expect(parsed.responses[0].status).toBe('good');
    expect(parsed.responses[0].certId.hashAlgorithm).toBe(alg);
  });

  it('answers GET /ocsp/{base64} (URL-encoded, and with slashes left raw) like POST', async () => {
    const cert = await issue();
    await revoke(cert.id, 'superseded');
    // Find a request whose base64 contains '/' and '+', as real ones often do.
    let req: Uint8Array;
    let b64: string;
    do {
      req = ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }], randomBytes(16));
      b64 = Buffer.from(req).toString('base64');
    } while (!b64.includes('/') || !b64.includes('+'));
    for (const path of [`/ocsp/${encodeURIComponent(b64)}`, `/ocsp/${b64.replace(/\+/g, '%2B')}`]) {
      const res = await anvil.app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/ocsp-response');
      const parsed = verifiedOcsp(new Uint8Array(await res.arrayBuffer()));
      expect(parsed.responses[0]).toMatchObject({ status: 'revoked', reason: 'superseded' });
    }
  });

  it.each<[string, () => Response | Promise<Response>]>([
    ['random bytes (POST)', () => anvil.app.request('/ocsp', { method: 'POST', body: randomBytes(64) })],
    ['an empty body', () => anvil.app.request('/ocsp', { method: 'POST', body: new Uint8Array(0) })],
    [
      'a truncated request',
      async () =>
        anvil.app.request('/ocsp', {
          method: 'POST',
          body: ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: '01' }]).subarray(0, 20),
        }),
    ],
    ['a request with no CertID', () => anvil.app.request('/ocsp', { method: 'POST', body: der(SEQ, der(SEQ, der(SEQ))) })],
    [
      'JSON',
      () => anvil.app.request('/ocsp', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"serial":"01"}' }),
    ],
    ['a body over 16 KiB', () => anvil.app.request('/ocsp', { method: 'POST', body: new Uint8Array(20_000) })],
    ['GET with text that is not base64', () => anvil.app.request('/ocsp/hello%20world!')],
    ['GET with base64 of garbage', () => anvil.app.request(`/ocsp/${Buffer.from('garbage!').toString('base64')}`)],
    ['GET with nothing', () => anvil.app.request('/ocsp/')],
  ])('answers %s with malformedRequest (HTTP 200, unsigned)', async (_name, call) => {
    const res = await call();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    const body = new Uint8Array(await res.arrayBuffer());
    expect([...body]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x01]);
    expect(parseOcspResponse(body).status).toBe('malformedRequest');
  });

  it('answers CertIDs of an issuer it does not have, or of two issuers at once, with unauthorized', async () => {
    const cert = await issue();
    const nobody = {
      issuerDer: issuing.record.certificateDer,
      serialHex: cert.serial,
      nameHash: randomBytes(20),
      keyHash: randomBytes(20),
    };
    for (const req of [
      ocspRequest([nobody]),
      ocspRequest([{ ...nobody, nameHash: certIdHashes(issuing.record.certificateDer, 'sha1').nameHash }]), // right name, wrong key
      ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }, nobody]),
      ocspRequest([
        { issuerDer: issuing.record.certificateDer, serialHex: cert.serial },
        { issuerDer: root.record.certificateDer, serialHex: issuing.record.serial },
      ]),
    ]) {
      const answer = await postOcsp(req);
      expect(answer.parsed.status).toBe('unauthorized');
      expect([...answer.der]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x06]);
    }
  });

  it('signs with a delegated responder: issued by the CA, OCSPSigning, ocsp-nocheck, short-lived', async () => {
    const cert = await issue();
    const answer = await postOcsp(ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }]));
    const parsed = verifiedOcsp(answer.der);
    const responderDer = parsed.certs[0];
    const responder = new X509Certificate(responderDer);
    expect(responder.verify(new X509Certificate(issuing.pem).publicKey)).toBe(true);
    expect(responder.issuer).toBe(new X509Certificate(issuing.pem).subject);
    expect(responder.keyUsage).toEqual(['1.3.6.1.5.5.7.3.9']);
    expect(responder.ca).toBe(false);
    const p = parseCertificate(responderDer);
    expect(getExtension(p, '1.3.6.1.5.5.7.48.1.5')).toBeDefined(); // id-pkix-ocsp-nocheck
    const ku = getExtension(p, '2.5.29.15')!;
    expect(ku.critical).toBe(true);
    const lifetime = new Date(responder.validTo).getTime() - new Date(responder.validFrom).getTime();
    expect(lifetime).toBeLessThanOrEqual(3 * 24 * 3600_000);
    expect(new Date(responder.validTo).getTime()).toBeGreaterThan(Date.now());
    // The ResponderID is the SHA-1 of the responder key, and it differs from the CA key.
    const spki = new Uint8Array(responder.publicKey.export({ type: 'spki', format: 'der' }));
    const spkiTlv = childrenOf(spki, readTlv(spki, 0));
    const keyHash = createHash('sha1').update(bytes(spki, spkiTlv[1]).subarray(1)).digest();
    expect(Buffer.from(parsed.responderKeyHash!).equals(keyHash)).toBe(true);
    expect(Buffer.from(responder.raw).equals(Buffer.from(issuing.record.certificateDer))).toBe(false);
  });

  it('caches nonce-less answers, and a revocation drops them before the revoke call returns', async () => {
    const cert = await issue();
    const req = ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }]);
    const first = await postOcsp(req);
    expect(first.parsed.responses[0].status).toBe('good');
    // Cached: a second request gets the very same bytes (a fresh signature would differ: ECDSA).
    const second = await postOcsp(req);
    expect(Buffer.from(second.der).equals(Buffer.from(first.der))).toBe(true);

    expect((await revoke(cert.id, 'keyCompromise')).status).toBe(200);
    const third = verifiedOcsp((await postOcsp(req)).der);
    expect(third.responses[0]).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });

    // Release (from a hold) drops them too.
    const held = await issue();
    const heldReq = ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: held.serial }]);
    await revoke(held.id, 'certificateHold');
    expect((await postOcsp(heldReq)).parsed.responses[0].status).toBe('revoked');
    await anvil.api('POST', `/api/v1/certificates/${held.id}/release`);
    expect((await postOcsp(heldReq)).parsed.responses[0].status).toBe('good');
  });

  it('an answer being built while a revocation commits is not cached over it', async () => {
    const cert = await issue();
    const req = ocspRequest([{ issuerDer: issuing.record.certificateDer, serialHex: cert.serial }]);
    // Hold the responder between its status read and its caching.
    const store = anvil.store as unknown as { serialStatus: (...a: unknown[]) => Promise<unknown> };
    const original = store.serialStatus;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atGate = new Promise<void>((r) => (reached = r));
    store.serialStatus = async function (this: unknown, ...args: unknown[]) {
      const result = await original.apply(this, args);
      reached();
      await gate;
      return result;
    };
    let inflight: Promise<{ parsed: ParsedOcspResponse }>;
    try {
      inflight = postOcsp(req);
      await atGate;
    } finally {
      store.serialStatus = original;
    }
    // The status read said good; now revoke, then let the stale answer finish.
    expect((await revoke(cert.id, 'keyCompromise')).status).toBe(200);
    release();
    expect((await inflight).parsed.responses[0].status).toBe('good'); // answered from before the revocation
    // ...but the next answer must not be that stale one from the cache.
    expect((await postOcsp(req)).parsed.responses[0].status).toBe('revoked');
  });
});

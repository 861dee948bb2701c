/**
 * Issue 4: the judge through Anvil — POST /api/v1/judge on pasted chains, GET /verify behind a
 * TLS-terminating proxy (trusted and untrusted), the mTLS listener itself (keep-alive, renewal
 * of its certificate, the CA list it asks with, POST /api/v1/renew), and JudgeService's
 * revocation modes and CRL fetching. Runs on PGlite and again on PostgreSQL.
 *
 * The verdict engine's agreement with a real nginx is judge-parity.test.ts (openssl-made PKI)
 * and judge-anvil.test.ts (Anvil-issued certificates).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JudgeService } from '@anvil/ca';
import { pemToDerList, toPem, type Verdict } from '@anvil/pki';
import { prefersHtml } from '../../apps/server/src/routes/judge/input.ts';
import { parseXfcc, trustedProxies } from '../../apps/server/src/routes/judge/proxy-headers.ts';
import { createTestAnvil, TEST_DB, type TestAnvil } from '../support/harness.ts';

interface Issued {
  id: string;
  serial: string;
  certificate: string;
  chain: string;
  fullchain: string;
  privateKey: string;
  notBefore: string;
  notAfter: string;
}

let anvil: TestAnvil;
/** A second, independent Anvil listening on loopback: its certificates are foreign to `anvil`, with reachable CRL URLs. */
let other: TestAnvil;
let work: string;
let good: Issued;
let spiffe: Issued;
let revoked: Issued;
let rsa: Issued;
let crlPems: Record<string, string>;

const TRUSTED = ['10.0.0.1', '192.168.0.0/16', '127.0.0.1'];

async function issue(a: TestAnvil, body: Record<string, unknown>): Promise<Issued> {
  const res = await a.api('POST', '/api/v1/certificates', body);
  if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Issued;
}

async function judge(
  body: unknown,
  a: TestAnvil = anvil,
): Promise<{ status: number; json: Verdict & { code?: string; detail?: string }; type: string }> {
  const res = await a.api('POST', '/api/v1/judge', body);
  return { status: res.status, json: (await res.json()) as Verdict & { code?: string }, type: res.headers.get('content-type') ?? '' };
}

async function crlsOf(a: TestAnvil): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const i of a.authority.issuers()) {
    const res = await a.app.request(`/pki/crl/${i.record.name}.pem`);
    out[i.record.name] = await res.text();
  }
  return out;
}

/** GET /verify on the HTTP app as if the TCP peer were `address`. */
function verifyFrom(address: string, headers: Record<string, string>, path = '/verify') {
  return anvil.app.request(
    path,
    { headers },
    { incoming: { socket: { remoteAddress: address, remotePort: 40000, remoteFamily: address.includes(':') ? 'IPv6' : 'IPv4' } } },
  );
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'anvil-judge-api-'));
  [anvil, other] = await Promise.all([
    createTestAnvil({ mtls: true, trustedProxies: TRUSTED, listen: true }),
    createTestAnvil({ listen: true }),
  ]);
  good = await issue(anvil, {
    profile: 'client',
    subject: { CN: 'partner-a', O: 'Partner A' },
    sans: { dns: ['a.partner.test'], email: ['ops@partner.test'], ip: ['10.1.2.3'] },
  });
  spiffe = await issue(anvil, { profile: 'client', subject: { CN: 'workload' }, sans: { uri: ['spiffe://anvil.test/ns/prod/sa/api'] } });
  revoked = await issue(anvil, { profile: 'client', subject: { CN: 'revoked-partner' }, sans: { dns: ['revoked.partner.test'] } });
  rsa = await issue(anvil, {
    profile: 'client',
    keyAlgorithm: 'RSA-2048',
    subject: { CN: 'rsa-partner' },
    sans: { dns: ['rsa.partner.test'] },
  });
  const r = await anvil.api('POST', `/api/v1/certificates/${revoked.id}/revoke`, { reason: 'keyCompromise' });
  expect(r.status).toBe(200);
  crlPems = await crlsOf(anvil);
}, 120_000);

afterAll(async () => {
  await Promise.all([anvil?.close(), other?.close()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

const allCrls = () => Object.values(crlPems).join('');

// ---- POST /api/v1/judge -------------------------------------------------------------------------

describe(`POST /api/v1/judge (${TEST_DB})`, () => {
  it("verifies a full chain, with Anvil's database as the revocation source", async () => {
    const { status, json } = await judge({ chain: good.fullchain });
    expect(status).toBe(200);
    expect(json).toMatchObject({ status: 'verified', reason: null, nginx: 'SUCCESS', openssl: null });
    expect(json.revocation).toEqual({ checked: true, source: 'anvil-db', status: 'good' });
    expect(json.presented.map((p) => p.subject)).toEqual([
      'O = Partner A, CN = partner-a',
      'O = Anvil Test, CN = Anvil Issuing CA (issuing-ca)',
    ]);
    expect(json.path?.map((p) => p.subject)).toEqual([
      'O = Partner A, CN = partner-a',
      'O = Anvil Test, CN = Anvil Issuing CA (issuing-ca)',
      'O = Anvil Test, CN = Anvil Root CA (root-ca)',
    ]);
    expect(json.presented[0].sans).toEqual({ dns: ['a.partner.test'], ip: ['10.1.2.3'], uri: [], email: ['ops@partner.test'] });
  });

  it('verifies an RSA client certificate', async () => {
    const { json } = await judge({ chain: rsa.fullchain });
    expect(json).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
  });

  it('leaf only: missing_intermediate naming the issuing CA and fullchain.pem', async () => {
    const { json } = await judge({ chain: good.certificate });
    expect(json).toMatchObject({
      status: 'failed',
      reason: 'missing_intermediate',
      nginx: 'FAILED:unable to verify the first certificate',
    });
    expect(json.openssl).toEqual({ code: 20, name: 'X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY', depth: 0 });
    expect(json.hints[0]).toContain('Anvil Issuing CA (issuing-ca)');
    expect(json.hints[0]).toContain('fullchain.pem');
    expect(json.path).toBeNull();
  });

  it('takes pasted CRLs beyond the 64 KiB API body limit, and refuses bodies over 16 MiB', async () => {
    const padded = `${allCrls()}${'\n'.repeat(200 * 1024)}`;
    const big = await judge({ chain: good.fullchain, crls: padded });
    expect(big.status).toBe(200);
    expect(big.json.status).toBe('verified');
    const res = await anvil.api('POST', '/api/v1/judge', { chain: good.fullchain, crls: 'x'.repeat(17 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect((await res.json()).code).toBe('body_too_large');
  });

  it("revoked in Anvil's database: revoked with date and reason, although nginx without ssl_crl says SUCCESS", async () => {
    const { json } = await judge({ chain: revoked.fullchain });
    expect(json).toMatchObject({ status: 'failed', reason: 'revoked', nginx: 'SUCCESS' });
    expect(json.revocation).toMatchObject({ checked: true, source: 'anvil-db', status: 'revoked', reason: 'keyCompromise' });
    expect(Date.parse(json.revocation.revokedAt!)).toBeGreaterThan(Date.now() - 600_000);
    expect(json.hints.join(' ')).toContain(json.revocation.revokedAt!.slice(0, 10));
    expect(json.hints.join(' ')).toMatch(/keyCompromise/);
    expect(json.hints.join(' ')).toMatch(/nginx does not know/);
  });

  it("with Anvil's CRLs as ssl_crl the nginx string says revoked too", async () => {
    const { json } = await judge({ chain: revoked.fullchain, crls: allCrls() });
    expect(json).toMatchObject({ status: 'failed', reason: 'revoked', nginx: 'FAILED:certificate revoked' });
    const ok = await judge({ chain: good.fullchain, crls: allCrls() });
    expect(ok.json).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    expect(ok.json.revocation).toEqual({ checked: true, source: 'crl+anvil-db', status: 'good' });
  });

  it('crls without the root CRL fail as nginx fails (revocation_unknown)', async () => {
    const { json } = await judge({ chain: good.fullchain, crls: crlPems['issuing-ca'] });
    expect(json).toMatchObject({ status: 'failed', reason: 'revocation_unknown', nginx: 'FAILED:unable to get certificate CRL' });
    expect(json.hints.join(' ')).toMatch(/root included/);
  });

  it('a revocation right after a verdict is seen by the next verdict (no stale cache)', async () => {
    const victim = await issue(anvil, { profile: 'client', subject: { CN: 'soon-revoked' }, sans: { dns: ['soon.partner.test'] } });
    expect((await judge({ chain: victim.fullchain })).json.status).toBe('verified');
    expect((await judge({ chain: victim.fullchain })).json.status).toBe('verified');
    const r = await anvil.api('POST', `/api/v1/certificates/${victim.id}/revoke`, { reason: 'superseded' });
    expect(r.status).toBe(200);
    const after = await judge({ chain: victim.fullchain });
    expect(after.json).toMatchObject({ status: 'failed', reason: 'revoked' });
    expect(after.json.revocation.reason).toBe('superseded');
  });

  it('custom trustAnchors: the same chain is unknown_ca when only the intermediate is trusted, verified with the root', async () => {
    const root = anvil.authority.roots()[0].pem;
    const intermediate = anvil.authority.issuerByName('issuing-ca').pem;
    const onlyInt = await judge({ chain: good.fullchain, trustAnchors: intermediate });
    expect(onlyInt.json).toMatchObject({ status: 'failed', reason: 'unknown_ca', nginx: 'FAILED:unable to get issuer certificate' });
    const withRoot = await judge({ chain: good.fullchain, trustAnchors: root });
    expect(withRoot.json).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
  });

  it("a foreign hierarchy is unknown_ca against Anvil's trust, and verified against its own anchors", async () => {
    const foreign = await issue(other, { profile: 'client', subject: { CN: 'foreigner' }, sans: { dns: ['f.other.test'] } });
    const against = await judge({ chain: foreign.fullchain });
    expect(against.json).toMatchObject({ status: 'failed', reason: 'unknown_ca' });
    expect(against.json.hints[0]).toContain('Anvil Root CA (root-ca)');
    const own = await judge({ chain: foreign.fullchain, trustAnchors: other.authority.trustBundlePem() });
    expect(own.json).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    // Anvil's database knows nothing about it, and nothing else was asked.
    expect(own.json.revocation).toEqual({ checked: false, source: 'none', status: 'unknown' });
    expect(own.json.hints.join(' ')).toMatch(/Revocation was not checked/);
  });

  it('expectName: mismatch fails although nginx says SUCCESS; string and object forms; a match verifies', async () => {
    const wrong = await judge({ chain: good.fullchain, expectName: 'dns:b.partner.test' });
    expect(wrong.json).toMatchObject({ status: 'failed', reason: 'name_mismatch', nginx: 'SUCCESS' });
    expect(wrong.json.hints[0]).toContain('b.partner.test');
    const right = await judge({ chain: good.fullchain, expectName: { type: 'dns', value: 'A.partner.test' } });
    expect(right.json.status).toBe('verified');
    const email = await judge({ chain: good.fullchain, expectName: 'email:ops@partner.test' });
    expect(email.json.status).toBe('verified');
    const ip = await judge({ chain: good.fullchain, expectName: 'ip:10.1.2.4' });
    expect(ip.json).toMatchObject({ status: 'failed', reason: 'name_mismatch' });
    const uri = await judge({ chain: spiffe.fullchain, expectName: { type: 'uri', value: 'spiffe://anvil.test/ns/prod/sa/api' } });
    expect(uri.json.status).toBe('verified');
    const otherUri = await judge({ chain: spiffe.fullchain, expectName: 'uri:spiffe://anvil.test/ns/prod/sa/web' });
    expect(otherUri.json).toMatchObject({ status: 'failed', reason: 'name_mismatch' });
  });

  it('at: before notBefore is not_yet_valid, after notAfter is expired', async () => {
    const before = new Date(Date.parse(good.notBefore) - 3600_000).toISOString();
    const after = new Date(Date.parse(good.notAfter) + 86_400_000).toISOString();
    const early = await judge({ chain: good.fullchain, at: before });
    expect(early.json).toMatchObject({ status: 'failed', reason: 'not_yet_valid', nginx: 'FAILED:certificate is not yet valid' });
    // The CAs were made moments before the leaf: OpenSSL walks top-down and reports the root first.
    expect(early.json.openssl).toMatchObject({ code: 9 });
    const late = await judge({ chain: good.fullchain, at: after });
    expect(late.json).toMatchObject({ status: 'failed', reason: 'expired', nginx: 'FAILED:certificate has expired' });
    expect(late.json.hints[0]).toMatch(/expired on/);
  });

  it('purpose server: a client certificate is the wrong purpose', async () => {
    const { json } = await judge({ chain: good.fullchain, purpose: 'server' });
    expect(json).toMatchObject({ status: 'failed', reason: 'wrong_purpose', nginx: 'FAILED:unsuitable certificate purpose' });
  });

  it('a server-profile certificate presented as a client is wrong_purpose', async () => {
    const server = await issue(anvil, { profile: 'server', sans: { dns: ['api.partner.test'] } });
    const { json } = await judge({ chain: server.fullchain });
    expect(json).toMatchObject({ status: 'failed', reason: 'wrong_purpose' });
    expect(json.hints[0]).toMatch(/Reissue with clientAuth/);
  });

  it('a PEM block that is not a certificate inside is a malformed verdict, not an error', async () => {
    const junk = toPem(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]), 'CERTIFICATE');
    const { status, json } = await judge({ chain: junk });
    expect(status).toBe(200);
    expect(json).toMatchObject({ status: 'failed', reason: 'malformed' });
  });

  it('revocation modes: require fails an unknown status, prefer fetches the CRL from the distribution point', async () => {
    const a = await issue(other, { profile: 'client', subject: { CN: 'fetch-good' }, sans: { dns: ['good.other.test'] } });
    const b = await issue(other, { profile: 'client', subject: { CN: 'fetch-revoked' }, sans: { dns: ['bad.other.test'] } });
    expect((await other.api('POST', `/api/v1/certificates/${b.id}/revoke`, { reason: 'affiliationChanged' })).status).toBe(200);
    const anchors = other.authority.trustBundlePem();

    const auto = await judge({ chain: a.fullchain, trustAnchors: anchors });
    expect(auto.json.revocation.checked).toBe(false);
    expect(auto.json.checks.some((c) => c.name === 'revocation_fetch')).toBe(false);

    const prefer = await judge({ chain: a.fullchain, trustAnchors: anchors, revocation: 'prefer' });
    expect(prefer.json).toMatchObject({ status: 'verified', revocation: { checked: true, source: 'crl-fetch', status: 'good' } });
    expect(prefer.json.checks.find((c) => c.name === 'revocation_fetch')).toMatchObject({ ok: true });
    expect(prefer.json.checks.find((c) => c.name === 'revocation_fetch')!.detail).toContain(`${other.publicUrl}/pki/crl/issuing-ca.crl`);

    const revokedByCrl = await judge({ chain: b.fullchain, trustAnchors: anchors, revocation: 'require' });
    expect(revokedByCrl.json).toMatchObject({
      status: 'failed',
      reason: 'revoked',
      nginx: 'SUCCESS',
      revocation: { source: 'crl-fetch', status: 'revoked', reason: 'affiliationChanged' },
    });

    const off = await judge({ chain: a.fullchain, trustAnchors: anchors, revocation: 'off' });
    expect(off.json).toMatchObject({ status: 'verified', revocation: { checked: false } });
  });

  it('require without any revocation source fails with revocation_unknown', async () => {
    // The CRL URL of this foreign chain answers 404: no source can speak.
    const c = await issue(other, { profile: 'client', subject: { CN: 'nowhere' }, sans: { dns: ['nowhere.other.test'] } });
    const service = new JudgeService({ authority: anvil.authority, fetchImpl: async () => new Response('gone', { status: 404 }) });
    const v = await service.judge(pemToDerList(c.fullchain, ['CERTIFICATE']), {
      trustAnchors: pemToDerList(other.authority.trustBundlePem(), ['CERTIFICATE']),
      revocation: 'require',
    });
    expect(v).toMatchObject({ status: 'failed', reason: 'revocation_unknown', nginx: 'SUCCESS' });
    expect(v.checks.find((x) => x.name === 'revocation_fetch')).toMatchObject({ ok: false });
    expect(v.checks.find((x) => x.name === 'revocation_fetch')!.detail).toMatch(/HTTP 404/);
    expect(v.hints[0]).toMatch(/Revocation checking was required/);
  });

  it('counts verdicts in anvil_judge_verdicts_total', async () => {
    await judge({ chain: good.certificate });
    const text = await (await anvil.app.request('/metrics')).text();
    expect(text).toMatch(/anvil_judge_verdicts_total\{status="failed",reason="missing_intermediate"\} [1-9]/);
    expect(text).toMatch(/anvil_judge_verdicts_total\{status="verified",reason="none"\} [1-9]/);
  });
});

describe('POST /api/v1/judge: bad input is a problem, never a 500', () => {
  const cases: Array<[string, unknown, number, string]> = [
    ['no chain', {}, 400, 'validation_failed'],
    ['no PEM at all', { chain: 'hello' }, 422, 'empty_chain'],
    ['unclosed PEM', { chain: '-----BEGIN CERTIFICATE-----\nMIIB' }, 400, 'malformed_chain'],
    ['PEM body not base64', { chain: '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n' }, 400, 'malformed_chain'],
    ['a private key in the chain', { chain: `-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n` }, 422, 'private_key_sent'],
    [
      'a CSR instead of a certificate',
      { chain: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' },
      422,
      'unexpected_pem_block',
    ],
    ['bad at', { chain: 'x', at: 'yesterday' }, 400, 'validation_failed'],
    ['bad purpose', { chain: 'x', purpose: 'email' }, 400, 'validation_failed'],
    ['bad revocation mode', { chain: 'x', revocation: 'sometimes' }, 400, 'validation_failed'],
    ['unknown field', { chain: 'x', trust: 'x' }, 400, 'validation_failed'],
    ['expectName without a type', { chain: 'x', expectName: 'a.partner.test' }, 400, 'invalid_expect_name'],
    ['expectName with an unknown type', { chain: 'x', expectName: 'cn:partner-a' }, 400, 'invalid_expect_name'],
    ['expectName ip that is not an IP', { chain: 'x', expectName: 'ip:10.1.2' }, 400, 'invalid_expect_name'],
  ];
  it.each(cases)('%s', async (_name, body, status, code) => {
    const chain = (body as { chain?: string }).chain === 'x' ? good.fullchain : (body as { chain?: string }).chain;
    const res = await anvil.api('POST', '/api/v1/judge', { ...(body as object), ...(chain !== undefined ? { chain } : {}) });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe(code);
  });

  it('says what HAProxy (ssl_c_*) and Kong mtls-auth would answer: verified, leaf only, nothing presented', async () => {
    const ok = (await judge({ chain: good.fullchain })).json;
    expect(ok.haproxy).toEqual({
      handshake: 'accepted',
      handshakeIgnoringErrors: 'accepted',
      ssl_c_used: true,
      ssl_c_verify: 0,
      ssl_c_ca_err: 0,
      ssl_c_ca_err_depth: 0,
      ssl_c_err: 0,
    });
    expect(ok.kong).toBeNull();
    // The first error (20) is the leaf's, the last (21) is what SSL_get_verify_result says.
    const leafOnly = (await judge({ chain: good.certificate })).json;
    expect(leafOnly.haproxy).toMatchObject({ handshake: 'rejected', ssl_c_verify: 21, ssl_c_err: 20, ssl_c_ca_err: 0 });
    expect(leafOnly.kong).toBe('TLS certificate failed verification');
    const none = (await judge({ chain: '' })).json;
    expect(none.haproxy).toMatchObject({ handshake: 'accepted', ssl_c_used: false, ssl_c_verify: 0 });
    expect(none.kong).toBe('No required TLS certificate was sent');
    // A revocation only Anvil's database knows: HAProxy without crl-file lets it through, Kong's verdict follows the judge.
    const rev = (await judge({ chain: revoked.fullchain })).json;
    expect([rev.haproxy.handshake, rev.kong]).toEqual(['accepted', 'TLS certificate failed verification']);
  });

  it('an empty pasted chain is absent / NONE, as at the other two doors (no certificate presented)', async () => {
    for (const chain of ['', '   ', '\n\t\r\n']) {
      const r = await judge({ chain });
      expect(r.status, JSON.stringify(chain)).toBe(200);
      expect(r.type).toMatch(/^application\/json/);
      expect(r.json).toMatchObject({ status: 'absent', reason: null, nginx: 'NONE', openssl: null, presented: [], path: null });
    }
    // The same verdict GET /verify gives a caller that presents nothing.
    const none = (await (await anvil.app.request('/verify')).json()) as Verdict;
    expect([none.status, none.nginx]).toEqual(['absent', 'NONE']);
    // Text that is not empty but holds no PEM block is still refused.
    expect([(await judge({ chain: 'hello' })).status]).toEqual([422]);
  });

  it('trust anchors and CRLs that do not decode are 422 with their own codes', async () => {
    const junkCert = toPem(new Uint8Array([1, 2, 3]), 'CERTIFICATE');
    const junkCrl = toPem(new Uint8Array([1, 2, 3]), 'X509 CRL');
    const a = await anvil.api('POST', '/api/v1/judge', { chain: good.fullchain, trustAnchors: junkCert });
    expect([a.status, ((await a.json()) as { code: string }).code]).toEqual([422, 'malformed_trust_anchors']);
    const b = await anvil.api('POST', '/api/v1/judge', { chain: good.fullchain, crls: junkCrl });
    expect([b.status, ((await b.json()) as { code: string }).code]).toEqual([422, 'malformed_crls']);
    const c = await anvil.api('POST', '/api/v1/judge', { chain: good.fullchain, crls: good.certificate });
    expect([c.status, ((await c.json()) as { code: string }).code]).toEqual([422, 'unexpected_pem_block']);
  });

  it('malformed JSON and missing token', async () => {
    const bad = await anvil.api('POST', '/api/v1/judge', '{"chain":');
    expect([bad.status, ((await bad.json()) as { code: string }).code]).toEqual([400, 'malformed_json']);
    const anon = await anvil.app.request('/api/v1/judge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chain: good.fullchain }),
    });
    expect(anon.status).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await anvil.app.request('/api/v1/openapi.json')).json()) as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.paths['/api/v1/judge']).toBeDefined();
    expect(doc.components.schemas.Verdict).toBeDefined();
  });
});

// ---- GET /verify on the HTTP listener (behind a TLS-terminating proxy) -----------------------------

const nginxHeader = (pem: string) => encodeURIComponent(pem);
/** HAProxy's `%[ssl_c_der,base64]` and Cloudflare's Cf-Client-Cert-Der-Base64: the leaf's DER in base64. */
const derB64 = (pem: string) => Buffer.from(pemToDerList(pem, ['CERTIFICATE'])[0]).toString('base64');
const xfccElement = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k}=${/[;,"=\s]/.test(v) ? `"${v.replace(/"/g, '\\"')}"` : v}`)
    .join(';');

describe('GET /verify behind a proxy', () => {
  it('believes nginx X-Client-Cert from a trusted proxy; nginx forwards only the leaf, Anvil adds its intermediates and says so', async () => {
    const res = await verifyFrom('10.0.0.1', { 'x-client-cert': nginxHeader(good.certificate) });
    expect(res.status).toBe(200);
    const v = (await res.json()) as Verdict;
    expect(v).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    expect(v.checks[0]).toMatchObject({ name: 'proxy_headers', ok: true });
    expect(v.checks[0].detail).toMatch(/only the leaf/);
    expect(v.presented).toHaveLength(2);
  });

  it('a trusted proxy in a CIDR block, and an IPv4-mapped IPv6 peer address', async () => {
    const a = (await (await verifyFrom('192.168.7.9', { 'x-client-cert': nginxHeader(revoked.certificate) })).json()) as Verdict;
    expect(a).toMatchObject({ status: 'failed', reason: 'revoked', nginx: 'FAILED:certificate revoked' });
    const b = (await (await verifyFrom('::ffff:10.0.0.1', { 'x-client-cert': nginxHeader(good.certificate) })).json()) as Verdict;
    expect(b.status).toBe('verified');
  });

  it('believes Envoy X-Forwarded-Client-Cert (Chain) and takes the last element, the one the trusted proxy appended', async () => {
    const first = xfccElement({ By: 'spiffe://front/envoy', Hash: 'abc', Cert: encodeURIComponent(spiffe.certificate) });
    const last = xfccElement({
      By: 'spiffe://anvil.test/envoy',
      Hash: 'def',
      Chain: encodeURIComponent(good.certificate),
      Subject: 'CN=partner-a,O=Partner A',
      URI: '',
    });
    const res = await verifyFrom('10.0.0.1', { 'x-forwarded-client-cert': `${first},${last}`, accept: 'application/json' });
    const v = (await res.json()) as Verdict;
    expect(v.presented[0].subject).toBe('O = Partner A, CN = partner-a');
    // Chain holds only the leaf here: judged as sent.
    expect(v).toMatchObject({ status: 'failed', reason: 'missing_intermediate' });
    const full = xfccElement({ Hash: 'x', Cert: encodeURIComponent(good.certificate), Chain: encodeURIComponent(good.fullchain) });
    const w = (await (await verifyFrom('10.0.0.1', { 'x-forwarded-client-cert': full })).json()) as Verdict;
    expect(w).toMatchObject({ status: 'verified' });
    expect(w.presented).toHaveLength(2);
    const certOnly = xfccElement({ Hash: 'x', Cert: encodeURIComponent(good.certificate) });
    const z = (await (await verifyFrom('10.0.0.1', { 'x-forwarded-client-cert': certOnly })).json()) as Verdict;
    expect(z.status).toBe('verified'); // Cert is the leaf alone: the Anvil intermediate is added, as for nginx
  });

  it('believes HAProxy X-SSL-Client-Der (base64 of ssl_c_der, the leaf) from a trusted proxy', async () => {
    const v = (await (await verifyFrom('10.0.0.1', { 'x-ssl-client-der': derB64(good.certificate) })).json()) as Verdict;
    expect(v).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    expect(v.checks[0]).toMatchObject({ name: 'proxy_headers', ok: true });
    expect(v.checks[0].detail).toMatch(/^x-ssl-client-der from trusted proxy 10\.0\.0\.1 carries only the leaf/);
    expect(v.presented).toHaveLength(2);
    const r = (await (await verifyFrom('10.0.0.1', { 'x-ssl-client-der': derB64(revoked.certificate) })).json()) as Verdict;
    expect(r).toMatchObject({ status: 'failed', reason: 'revoked' });
    // `%[ssl_c_der,base64]` is empty without a client certificate.
    const empty = (await (await verifyFrom('10.0.0.1', { 'x-ssl-client-der': ' ' })).json()) as Verdict;
    expect(empty.status).toBe('absent');
  });

  it("believes Cloudflare's Cf-Client-Cert-Der-Base64, checked against Cf-Client-Cert-Sha256", async () => {
    const der = pemToDerList(good.certificate, ['CERTIFICATE'])[0];
    const sha = createHash('sha256').update(der).digest('hex');
    const v = (await (
      await verifyFrom('10.0.0.1', { 'cf-client-cert-der-base64': derB64(good.certificate), 'cf-client-cert-sha256': sha })
    ).json()) as Verdict;
    expect(v).toMatchObject({ status: 'verified' });
    expect(v.checks[0].detail).toMatch(/^cf-client-cert-der-base64 from trusted proxy/);
    const bad = await verifyFrom('10.0.0.1', {
      'cf-client-cert-der-base64': derB64(good.certificate),
      'cf-client-cert-sha256': sha.replace(/^./, sha[0] === '0' ? '1' : '0'),
    });
    expect([bad.status, ((await bad.json()) as { code: string }).code]).toEqual([400, 'malformed_forwarded_certificate']);
  });

  it('believes RFC 9440 Client-Cert and Client-Cert-Chain (Cloudflare Transform Rules), judged as sent', async () => {
    const sf = (pem: string) => `:${derB64(pem)}:`;
    const intermediate = anvil.authority.issuerByName('issuing-ca').pem;
    const full = (await (
      await verifyFrom('10.0.0.1', { 'client-cert': sf(good.certificate), 'client-cert-chain': sf(intermediate) })
    ).json()) as Verdict;
    expect(full).toMatchObject({ status: 'verified' });
    expect(full.checks[0].detail).toMatch(/^client-cert from trusted proxy 10\.0\.0\.1: 2 certificates/);
    // An empty Client-Cert-Chain says the client sent no intermediate: judged as sent.
    const bare = (await (await verifyFrom('10.0.0.1', { 'client-cert': sf(good.certificate), 'client-cert-chain': '' })).json()) as Verdict;
    expect(bare).toMatchObject({ status: 'failed', reason: 'missing_intermediate' });
    // Without Client-Cert-Chain the leaf alone was forwarded: Anvil adds its intermediate, as for nginx.
    const leaf = (await (await verifyFrom('10.0.0.1', { 'client-cert': sf(good.certificate) })).json()) as Verdict;
    expect(leaf.status).toBe('verified');
    for (const value of [derB64(good.certificate), ':not base64!:']) {
      const res = await verifyFrom('10.0.0.1', { 'client-cert': value });
      expect([res.status, ((await res.json()) as { code: string }).code], value).toEqual([400, 'malformed_forwarded_certificate']);
    }
  });

  it('ignores the HAProxy, Cloudflare and RFC 9440 headers from an untrusted address', async () => {
    for (const [header, value] of [
      ['x-ssl-client-der', derB64(good.certificate)],
      ['cf-client-cert-der-base64', derB64(good.certificate)],
      ['client-cert', `:${derB64(good.certificate)}:`],
    ]) {
      const v = (await (await verifyFrom('203.0.113.5', { [header]: value })).json()) as Verdict;
      expect(v, header).toMatchObject({ status: 'absent', nginx: 'NONE', presented: [] });
      expect(v.checks[0]).toMatchObject({ name: 'proxy_headers', ok: false });
      expect(v.checks[0].detail).toContain(`${header} ignored`);
    }
  });

  it('ignores the headers from an untrusted address, and says so', async () => {
    const res = await verifyFrom('203.0.113.5', {
      'x-client-cert': nginxHeader(good.certificate),
      'x-forwarded-client-cert': `Cert="${encodeURIComponent(good.certificate)}"`,
    });
    const v = (await res.json()) as Verdict;
    expect(v).toMatchObject({ status: 'absent', reason: null, nginx: 'NONE', presented: [] });
    expect(v.checks[0]).toMatchObject({ name: 'proxy_headers', ok: false });
    expect(v.checks[0].detail).toContain('203.0.113.5');
    expect(v.checks[0].detail).toContain('ANVIL_TRUSTED_PROXIES');
    expect(v.hints[0]).toContain('ANVIL_TRUSTED_PROXIES');
  });

  it('over real HTTP: the loopback peer is trusted (ANVIL_TRUSTED_PROXIES=127.0.0.1)', async () => {
    const res = await fetch(`${anvil.publicUrl}/verify`, { headers: { 'x-client-cert': nginxHeader(good.certificate) } });
    expect(((await res.json()) as Verdict).status).toBe('verified');
    const untrusted = await createTestAnvil({ listen: true, trustedProxies: ['10.9.9.9'] });
    try {
      const r2 = await fetch(`${untrusted.publicUrl}/verify`, { headers: { 'x-client-cert': nginxHeader(good.certificate) } });
      const v = (await r2.json()) as Verdict;
      expect(v.status).toBe('absent');
      expect(v.checks[0].detail).toContain('127.0.0.1');
    } finally {
      await untrusted.close();
    }
  });

  it('no headers: absent, pointing at the mTLS listener', async () => {
    const v = (await (await verifyFrom('10.0.0.1', {})).json()) as Verdict;
    expect(v).toMatchObject({ status: 'absent', nginx: 'NONE' });
    expect(v.hints[0]).toMatch(/mTLS listener/);
  });

  it('bad query and bad forwarded data are problems', async () => {
    const a = await verifyFrom('10.0.0.1', {}, '/verify?purpose=email');
    expect([a.status, a.headers.get('content-type')]).toEqual([400, 'application/problem+json']);
    expect(((await a.json()) as { code: string }).code).toBe('invalid_query');
    const b = await verifyFrom('10.0.0.1', {}, '/verify?expect=nothing');
    expect(((await b.json()) as { code: string }).code).toBe('invalid_query');
    const c = await verifyFrom('10.0.0.1', { 'x-client-cert': '%E0%A4%A' });
    expect([c.status, ((await c.json()) as { code: string }).code]).toEqual([400, 'malformed_forwarded_certificate']);
  });

  it('purpose and expect from the query', async () => {
    const v = (await (
      await verifyFrom('10.0.0.1', { 'x-client-cert': nginxHeader(good.certificate) }, '/verify?expect=dns:zzz.partner.test')
    ).json()) as Verdict;
    expect(v).toMatchObject({ status: 'failed', reason: 'name_mismatch' });
    const s = (await (
      await verifyFrom('10.0.0.1', { 'x-client-cert': nginxHeader(good.certificate) }, '/verify?purpose=server')
    ).json()) as Verdict;
    expect(s.reason).toBe('wrong_purpose');
  });

  it('a browser gets a page', async () => {
    const res = await verifyFrom('10.0.0.1', {
      'x-client-cert': nginxHeader(good.certificate),
      accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('Your client certificate is accepted');
    expect(html).not.toMatch(/<script|\ssrc=/);
    // Nothing from elsewhere: one stylesheet, served beside the page (its CSP allows no inline style).
    expect([...html.matchAll(/<link[^>]*>/g)].map((m) => m[0])).toEqual(['<link rel="stylesheet" href="/verify/verdict.css"/>']);
  });
});

describe('judge input helpers', () => {
  it('parses XFCC with quoted values, escapes and several elements', () => {
    const els = parseXfcc('By=spiffe://a;Hash=1;Subject="CN=x,O=\\"y\\"";URI=,By=spiffe://b;Cert="a%2Cb"');
    expect(els).toEqual([
      { by: 'spiffe://a', hash: '1', subject: 'CN=x,O="y"', uri: '' },
      { by: 'spiffe://b', cert: 'a%2Cb' },
    ]);
  });
  it('Accept negotiation: browsers get HTML, curl and API clients JSON', () => {
    expect(prefersHtml('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe(true);
    expect(prefersHtml('*/*')).toBe(false);
    expect(prefersHtml(undefined)).toBe(false);
    expect(prefersHtml('application/json, text/html;q=0.5')).toBe(false);
    expect(prefersHtml('text/html')).toBe(true);
  });
  it('trusted proxies: addresses and CIDRs, v4 and v6; nothing trusted when empty', () => {
    const t = trustedProxies(['10.0.0.1', '172.16.0.0/12', 'fd00::/8']);
    expect([t.trusts('10.0.0.1'), t.trusts('172.31.255.1'), t.trusts('fd12::1'), t.trusts('::ffff:10.0.0.1')]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([t.trusts('10.0.0.2'), t.trusts(null), t.trusts('garbage')]).toEqual([false, false, false]);
    expect(trustedProxies([]).trusts('127.0.0.1')).toBe(false);
    expect(() => trustedProxies(['proxy.local'])).toThrow(/not an IP address/);
  });
});

// ---- JudgeService: fetching CRLs safely ----------------------------------------------------------

describe('JudgeService CRL fetching', () => {
  let chain: Uint8Array[];
  let anchors: Uint8Array[];
  beforeAll(async () => {
    const c = await issue(other, { profile: 'client', subject: { CN: 'fetch-unit' }, sans: { dns: ['unit.other.test'] } });
    chain = pemToDerList(c.fullchain, ['CERTIFICATE']);
    anchors = pemToDerList(other.authority.trustBundlePem(), ['CERTIFICATE']);
  });
  const detail = (v: Verdict) => v.checks.find((x) => x.name === 'revocation_fetch')?.detail ?? '';

  it('does not follow a redirect to another scheme', async () => {
    const s = new JudgeService({
      authority: anvil.authority,
      fetchImpl: async () => new Response(null, { status: 302, headers: { location: 'file:///etc/passwd' } }),
    });
    const v = await s.judge(chain, { trustAnchors: anchors, revocation: 'prefer' });
    expect(detail(v)).toMatch(/only http and https/);
    expect(v.revocation.checked).toBe(false);
  });

  it('gives up after the timeout', async () => {
    const s = new JudgeService({
      authority: anvil.authority,
      crlFetchTimeoutMs: 200,
      fetchImpl: (_u, init) =>
        new Promise((_r, reject) =>
          init?.signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'TimeoutError' }))),
        ),
    });
    const t0 = Date.now();
    const v = await s.judge(chain, { trustAnchors: anchors, revocation: 'prefer' });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(detail(v)).toMatch(/no answer within/);
  });

  it('refuses an oversized CRL', async () => {
    const s = new JudgeService({
      authority: anvil.authority,
      crlMaxBytes: 1000,
      fetchImpl: async () => new Response(new Uint8Array(5000).fill(0x30)),
    });
    const v = await s.judge(chain, { trustAnchors: anchors, revocation: 'prefer' });
    expect(detail(v)).toMatch(/larger than 1000 bytes/);
  });

  it('refuses a CRL not signed by the issuer', async () => {
    const anvilCrl = (await anvil.authority.crls.current(anvil.authority.issuerByName('issuing-ca'))).der;
    const s = new JudgeService({ authority: anvil.authority, fetchImpl: async () => new Response(anvilCrl) });
    const v = await s.judge(chain, { trustAnchors: anchors, revocation: 'prefer' });
    expect(detail(v)).toMatch(/not a CRL signed by the issuer/);
    expect(v.revocation.checked).toBe(false);
  });

  it('never fetches in auto mode (unless the operator allows it)', async () => {
    let calls = 0;
    const fetchImpl = async () => {
      calls++;
      return new Response('nope', { status: 500 });
    };
    await new JudgeService({ authority: anvil.authority, fetchImpl }).judge(chain, { trustAnchors: anchors });
    expect(calls).toBe(0);
    await new JudgeService({ authority: anvil.authority, fetchImpl, fetchCdpInAuto: true }).judge(chain, { trustAnchors: anchors });
    expect(calls).toBe(2); // the leaf's and the intermediate's distribution points
  });
});

// ---- the mTLS listener (Node's TLS client; curl and nginx are in judge-anvil.test.ts) -----------------

function getVerify(
  port: number,
  opts: {
    cert?: string;
    key?: string;
    agent?: Agent;
    path?: string;
    method?: string;
    body?: string;
    headers?: Record<string, string>;
  } = {},
) {
  return new Promise<{
    status: number;
    body: string;
    headers: Record<string, string | string[] | undefined>;
    peer: X509Certificate | null;
  }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/verify',
        method: opts.method ?? 'GET',
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: false,
        agent: opts.agent ?? false,
        headers: opts.headers,
      },
      (res) => {
        const sock = res.socket as unknown as { getPeerX509Certificate?: () => X509Certificate | undefined };
        const peer = sock.getPeerX509Certificate?.() ?? null;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, peer }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('the mTLS listener', () => {
  const port = () => anvil.mtls!.port;

  it('judges what the client sent: full chain verified, leaf only missing_intermediate, nothing absent', async () => {
    const full = JSON.parse((await getVerify(port(), { cert: good.fullchain, key: good.privateKey })).body) as Verdict;
    expect(full).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    expect(full.revocation).toEqual({ checked: true, source: 'crl+anvil-db', status: 'good' });
    const leaf = JSON.parse((await getVerify(port(), { cert: good.certificate, key: good.privateKey })).body) as Verdict;
    expect(leaf).toMatchObject({ status: 'failed', reason: 'missing_intermediate' });
    expect(leaf.presented).toHaveLength(1);
    // The CRL error that follows from the missing issuer is not a second thing to fix.
    expect(leaf.hints).toHaveLength(1);
    expect(leaf.hints[0]).toContain('fullchain.pem');
    const none = JSON.parse((await getVerify(port())).body) as Verdict;
    expect(none).toMatchObject({ status: 'absent', nginx: 'NONE' });
  });

  it('reports the chain as sent: a root the client appends is listed, and is not invented when it is not sent', async () => {
    const root = anvil.authority.roots()[0].pem;
    const withRoot = JSON.parse((await getVerify(port(), { cert: good.fullchain + root, key: good.privateKey })).body) as Verdict;
    expect(withRoot.presented.map((p) => p.subject)).toEqual([
      'O = Partner A, CN = partner-a',
      'O = Anvil Test, CN = Anvil Issuing CA (issuing-ca)',
      'O = Anvil Test, CN = Anvil Root CA (root-ca)',
    ]);
    const without = JSON.parse((await getVerify(port(), { cert: good.fullchain, key: good.privateKey })).body) as Verdict;
    expect(without.presented).toHaveLength(2);
  });

  it('judges every request of a keep-alive connection on the same chain', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: good.fullchain, key: good.privateKey, rejectUnauthorized: false });
    try {
      const first = await getVerify(port(), { cert: good.fullchain, key: good.privateKey, agent });
      const second = await getVerify(port(), { cert: good.fullchain, key: good.privateKey, agent });
      expect(JSON.parse(first.body).status).toBe('verified');
      expect(JSON.parse(second.body).status).toBe('verified');
      expect(JSON.parse(second.body).presented).toHaveLength(2);
    } finally {
      agent.destroy();
    }
  });

  it('serves a certificate Anvil issued to itself for localhost and 127.0.0.1, and swaps it on renewal', async () => {
    const before = (await getVerify(port())).peer!;
    expect(before.subjectAltName).toContain('DNS:localhost');
    expect(before.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(before.checkIssued(new X509Certificate(anvil.authority.issuerByName('issuing-ca').pem))).toBe(true);
    const lifetime = Date.parse(before.validTo) - Date.parse(before.validFrom);
    expect(lifetime / 86_400_000).toBeGreaterThan(29);
    expect(lifetime / 86_400_000).toBeLessThan(31);
    await anvil.mtls!.renew();
    const after = (await getVerify(port())).peer!;
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(after.fingerprint256).toBe(new X509Certificate(anvil.mtls!.identity.certPem).fingerprint256);
  });

  it("asks for a client certificate naming Anvil's roots only", async () => {
    // openssl s_client prints the CA names of the CertificateRequest (async: the server is in this process).
    const out = await new Promise<string>((resolve) => {
      const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port()}`, '-tls1_2'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (d) => (text += d));
      p.on('error', () => resolve(''));
      p.on('close', () => resolve(text));
      p.stdin.end();
    });
    if (!out) return; // no openssl: the interop suite covers this
    const names =
      /Acceptable client certificate CA names\n([\s\S]*?)\n(?:Requested|Client Certificate Types|Peer signing)/.exec(out)?.[1] ?? '';
    expect(names).toContain('Anvil Root CA (root-ca)');
    expect(names).not.toContain('Issuing CA');
  });

  it('unknown paths are problems; the hot path and Hono agree on bad queries', async () => {
    const nf = await getVerify(port(), { path: '/api/v1/certificates' });
    expect(nf.status).toBe(404);
    const bad = await getVerify(port(), { path: '/verify?purpose=nope' });
    expect([bad.status, JSON.parse(bad.body).code, bad.headers['content-type']]).toEqual([
      400,
      'invalid_query',
      'application/problem+json',
    ]);
  });

  describe('POST /api/v1/renew', () => {
    let csr: string;
    beforeAll(() => {
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const keyPath = join(work, 'renew.key');
      writeFileSync(keyPath, key.export({ format: 'pem', type: 'pkcs8' }));
      const r = spawnSync('openssl', ['req', '-new', '-key', keyPath, '-subj', '/CN=ignored'], { encoding: 'utf8' });
      csr = r.stdout;
    });

    it('renews the presented certificate with the same profile, subject and names, for a new key', async ({ skip }) => {
      if (!csr) skip();
      const res = await getVerify(port(), {
        path: '/api/v1/renew',
        method: 'POST',
        cert: good.fullchain,
        key: good.privateKey,
        body: csr,
        headers: { 'content-type': 'application/pkcs10' },
      });
      expect(res.status, res.body).toBe(201);
      const renewed = JSON.parse(res.body) as Issued & { profile: string; subject: string; sans: unknown; renewedFrom: string };
      expect(renewed.renewedFrom).toBe(good.id);
      expect(renewed.profile).toBe('client');
      expect(renewed.subject).toContain('CN=partner-a');
      expect(renewed.sans).toEqual({ dns: ['a.partner.test'], ip: ['10.1.2.3'], uri: [], email: ['ops@partner.test'] });
      expect(new X509Certificate(renewed.certificate).publicKey.export({ format: 'der', type: 'spki' })).not.toEqual(
        new X509Certificate(good.certificate).publicKey.export({ format: 'der', type: 'spki' }),
      );
      expect(Date.parse(renewed.notAfter) - Date.parse(renewed.notBefore)).toBeCloseTo(
        Date.parse(good.notAfter) - Date.parse(good.notBefore),
        -4,
      );
    });

    it('refuses without a certificate, with a revoked one, with a leaf only, and without a CSR', async () => {
      const none = await getVerify(port(), { path: '/api/v1/renew', method: 'POST', body: csr });
      expect([none.status, JSON.parse(none.body).code]).toEqual([401, 'client_certificate_required']);
      const rev = await getVerify(port(), {
        path: '/api/v1/renew',
        method: 'POST',
        cert: revoked.fullchain,
        key: revoked.privateKey,
        body: csr,
      });
      expect([rev.status, JSON.parse(rev.body).code]).toEqual([403, 'certificate_not_accepted']);
      expect(JSON.parse(rev.body).verdict.reason).toBe('revoked');
      const leafOnly = await getVerify(port(), {
        path: '/api/v1/renew',
        method: 'POST',
        cert: good.certificate,
        key: good.privateKey,
        body: csr,
      });
      expect(JSON.parse(leafOnly.body).verdict.reason).toBe('missing_intermediate');
      const noCsr = await getVerify(port(), {
        path: '/api/v1/renew',
        method: 'POST',
        cert: good.fullchain,
        key: good.privateKey,
        body: '',
      });
      expect([noCsr.status, JSON.parse(noCsr.body).code]).toEqual([422, 'csr_required']);
    });
  });

  it('never resumes a session: every connection presents (and is judged on) its own chain', async () => {
    const connectOnce = (session?: Buffer) =>
      new Promise<{ reused: boolean; session?: Buffer }>((resolve, reject) => {
        let saved: Buffer | undefined;
        const s = tlsConnect(
          { host: '127.0.0.1', port: port(), rejectUnauthorized: false, cert: good.fullchain, key: good.privateKey, session },
          () => {
            s.write('GET /verify HTTP/1.0\r\n\r\n');
          },
        );
        s.on('session', (b: Buffer) => (saved = b));
        s.on('data', () => {});
        s.on('end', () => resolve({ reused: s.isSessionReused(), session: saved }));
        s.on('error', reject);
      });
    const first = await connectOnce();
    const second = await connectOnce(first.session);
    expect(first.session, 'the client should have a session to offer').toBeDefined();
    expect(second.reused).toBe(false);
  });

  it('a TLS client that sends no certificate still completes the handshake', async () => {
    await new Promise<void>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: port(), rejectUnauthorized: false }, () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
    });
  });
});

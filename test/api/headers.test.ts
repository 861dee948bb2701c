/**
 * Issue 8, "Headers": every API answer is `Cache-Control: no-store` (errors included), every
 * page has a Content-Security-Policy without inline script or style, `frame-ancestors 'none'`,
 * nosniff and `Referrer-Policy: same-origin`, and so do the scripts and stylesheets they load
 * (nosniff). Walks every operation of the OpenAPI document — with real ids, unauthenticated,
 * and with unknown ids — plus the routes the document does not list, on the HTTP app and on
 * the mTLS listener. The browser half (the reference page renders under its CSP) is
 * test/browser/reference-csp.test.ts.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCsr, emptySans, toPem } from '@anvil/pki';
import { createMtlsApp } from '../../apps/server/src/mtls/app.ts';
import { CONTENT_SECURITY_POLICY, securityHeaders } from '../../apps/server/src/middleware/security-headers.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { createOpensslCa } from '../support/openssl-ca.ts';
import { haveTool, tempDir } from '../support/tools.ts';

interface Issued {
  id: string;
  serial: string;
  certificate: string;
  fullchain: string;
  privateKey?: string;
  pkcs12?: string;
  kubernetesSecret?: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

let anvil: TestAnvil;
/** The certificate every read-only route is called with. */
let main: Issued;
/** Revoked (on hold) and released again by the walk. */
let held: Issued;
/** Revoked in bulk by the walk. */
let bulk: Issued;
/** The API token the walk reads and revokes. */
let walkToken: { id: string; token: string };
/** The invitation the walk reads and withdraws. */
let walkInvitation: { id: string };
let walkEab: { keyId: string };
const DOOMED_ISSUER = 'hdr-doomed';
const PROFILE = 'hdr-profile';
const UNKNOWN_NAME = 'no-such-name';
/** Rotated to issuing-ca, retired, and cross-certified under root-ca by the walk. */
const ROTATED_ISSUER = 'hdr-rotated';
const RETIRED_ISSUER = 'hdr-retired';
const NEW_ROOT = 'hdr-new-root';
/** Its CSR is read, and its certificate (signed by an external root) imported, by the walk. */
const PENDING_ISSUER = 'hdr-pending';
/** A root made by openssl, with its key: imported by the walk. */
let toImport: { certificate: string; privateKey: string };
/** PENDING_ISSUER's certificate, signed by another openssl root, and that root. */
let pendingSigned: { certificate: string; chain: string };
let externalDir: string;

async function issue(body: Record<string, unknown>): Promise<Issued> {
  const res = await anvil.api('POST', '/api/v1/certificates', body);
  if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Issued;
}

async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await anvil.app.request(path, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

function expectNoStore(what: string, a: { status: number; headers: Headers }) {
  expect(a.headers.get('cache-control'), `${what} (${a.status}): Cache-Control`).toBe('no-store');
  expect(a.headers.get('x-content-type-options'), `${what} (${a.status}): X-Content-Type-Options`).toBe('nosniff');
}

/** The directives of a Content-Security-Policy header, by name. */
function directives(csp: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

/** Page headers, and a page that needs no inline script or style to work under them. */
function expectPage(what: string, a: Answer) {
  expect(a.headers.get('content-type'), what).toMatch(/^text\/html/);
  const csp = a.headers.get('content-security-policy');
  expect(csp, `${what}: Content-Security-Policy`).toBeTruthy();
  const d = directives(csp!);
  const scriptSrc = d.get('script-src') ?? d.get('default-src');
  expect(scriptSrc, `${what}: script-src`).toBeDefined();
  expect(scriptSrc, `${what}: script-src`).not.toContain("'unsafe-inline'");
  expect(scriptSrc, `${what}: script-src`).not.toContain("'unsafe-eval'");
  expect(
    scriptSrc!.some((s) => /^(https?:|\*|data:)/.test(s)),
    `${what}: script-src names no other origin`,
  ).toBe(false);
  expect(d.get('style-src') ?? d.get('default-src'), `${what}: style-src`).not.toContain("'unsafe-inline'");
  expect(d.get('frame-ancestors'), `${what}: frame-ancestors`).toEqual(["'none'"]);
  expect(a.headers.get('x-content-type-options'), what).toBe('nosniff');
  expect(a.headers.get('referrer-policy'), what).toBe('same-origin');
  // What that policy would block anyway; checked here so a failure names the page.
  expect(a.body, `${what}: inline <script>`).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
  expect(a.body, `${what}: inline <style>`).not.toMatch(/<style[\s>]/i);
  expect(a.body, `${what}: style attribute`).not.toMatch(/<[^>]+\sstyle=/i);
  expect(a.body, `${what}: event handler attribute`).not.toMatch(/<[^>]+\son[a-z]+=/i);
  expect(a.body, `${what}: a resource from another origin`).not.toMatch(/(?:src|href)="(?:https?:)?\/\//i);
}

/** The scripts and stylesheets a page loads (same-origin paths). */
function assetsOf(html: string): string[] {
  return [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/gi)].map((m) => m[1]);
}

function expectAsset(what: string, a: Answer) {
  expect(a.status, what).toBe(200);
  expect(a.headers.get('content-type'), what).toMatch(/^(text\/javascript|text\/css)/);
  expect(a.headers.get('x-content-type-options'), `${what}: nosniff`).toBe('nosniff');
}

beforeAll(async () => {
  anvil = await createTestAnvil({ mtls: true, trustedProxies: ['127.0.0.1'] });
  main = await issue({ profile: 'client', subject: { CN: 'headers-main' }, sans: { dns: ['main.headers.test'] } });
  held = await issue({ profile: 'client', subject: { CN: 'headers-held' }, sans: { dns: ['held.headers.test'] } });
  bulk = await issue({ profile: 'client', subject: { CN: 'headers-bulk' }, sans: { dns: ['bulk.headers.test'] } });
  const issuer = await anvil.api('POST', '/api/v1/issuers', { name: DOOMED_ISSUER, parent: 'root-ca' });
  expect(issuer.status, await issuer.clone().text()).toBe(201);
  const client = (await (await anvil.api('GET', '/api/v1/profiles/client')).json()) as { policy: unknown };
  const profile = await anvil.api('POST', '/api/v1/profiles', { name: PROFILE, kind: 'client', policy: client.policy });
  expect(profile.status, await profile.clone().text()).toBe(201);
  const token = await anvil.api('POST', '/api/v1/tokens', { name: 'headers-walk-target', scopes: ['certificates:read'] });
  expect(token.status, await token.clone().text()).toBe(201);
  walkToken = (await token.json()) as { id: string; token: string };
  const invitation = await anvil.api('POST', '/api/v1/invitations', {
    name: 'headers-walk-target',
    profile: 'client',
    sans: { dns: ['invited.headers.test'] },
  });
  expect(invitation.status, await invitation.clone().text()).toBe(201);
  walkInvitation = (await invitation.json()) as { id: string };
  const eab = await anvil.api('POST', '/api/v1/acme/eab', { name: 'headers-walk-target', profiles: ['server'] });
  expect(eab.status, await eab.clone().text()).toBe(201);
  walkEab = (await eab.json()) as { keyId: string };
  for (const body of [
    { name: ROTATED_ISSUER, parent: 'root-ca' },
    { name: RETIRED_ISSUER, parent: 'root-ca' },
    { name: NEW_ROOT, kind: 'root' },
  ]) {
    const res = await anvil.api('POST', '/api/v1/issuers', body);
    expect(res.status, await res.clone().text()).toBe(201);
  }
  haveTool('openssl');
  externalDir = tempDir('anvil-headers-');
  const imported = createOpensslCa(join(externalDir, 'imported'), 'Headers Imported Root');
  toImport = { certificate: imported.rootPem, privateKey: readFileSync(imported.rootKeyPath, 'utf8') };
  const external = createOpensslCa(join(externalDir, 'external'), 'Headers External Root');
  const pending = await anvil.api('POST', '/api/v1/issuers/csr', { name: PENDING_ISSUER });
  expect(pending.status, await pending.clone().text()).toBe(201);
  pendingSigned = { certificate: external.sign(((await pending.json()) as { csr: string }).csr), chain: external.rootPem };
});

afterAll(async () => {
  await anvil?.close();
  if (externalDir) rmSync(externalDir, { recursive: true, force: true });
});

describe('Cache-Control: no-store on every operation of the OpenAPI document', () => {
  interface Operation {
    method: string;
    path: string;
    params: string[];
  }
  let operations: Operation[] = [];

  beforeAll(async () => {
    const doc = (await (await call('/api/v1/openapi.json')).body) as string;
    const paths = (JSON.parse(doc) as { paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string }> }>> })
      .paths;
    operations = Object.entries(paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
      })),
    );
  });

  /** Real values for the path parameters, by operation. */
  function realParams(op: Operation): Record<string, string> {
    const key = `${op.method} ${op.path}`;
    if (key === 'POST /api/v1/certificates/{id}/revoke' || key === 'POST /api/v1/certificates/{id}/release') return { id: held.id };
    if (key === 'POST /api/v1/issuers/{name}/revoke') return { name: DOOMED_ISSUER };
    if (key === 'POST /api/v1/issuers/{name}/rotate') return { name: ROTATED_ISSUER };
    if (key === 'POST /api/v1/issuers/{name}/retire') return { name: RETIRED_ISSUER };
    if (key === 'POST /api/v1/issuers/{name}/cross-certificates') return { name: NEW_ROOT };
    if (key === 'GET /api/v1/issuers/{name}/csr.pem' || key === 'POST /api/v1/issuers/{name}/certificate') return { name: PENDING_ISSUER };
    if (op.path.startsWith('/api/v1/profiles/')) return { name: PROFILE };
    if (op.path.startsWith('/api/v1/tokens/')) return { id: walkToken.id };
    if (op.path.startsWith('/api/v1/invitations/')) return { id: walkInvitation.id };
    if (op.path.startsWith('/api/v1/acme/eab/')) return { keyId: walkEab.keyId };
    if (key === 'GET /api/v1/issuers/{name}/gateway/{kind}') return { name: 'issuing-ca', kind: 'nginx' };
    return { id: main.id, name: 'issuing-ca' };
  }

  /** A request body that succeeds, by operation; `{}` (refused as invalid) for one not listed here. */
  function bodyOf(op: Operation): unknown {
    const bodies: Record<string, unknown> = {
      // The answer that carries a private key, a PKCS#12 and a Secret with tls.key.
      'POST /api/v1/certificates': {
        profile: 'client',
        subject: { CN: 'headers-walk' },
        sans: { dns: ['walk.headers.test'] },
        pkcs12Password: 'walk',
        kubernetesSecret: true,
      },
      'POST /api/v1/certificates/{id}/revoke': { reason: 'certificateHold' },
      'POST /api/v1/certificates/revoke': { ids: [bulk.id], reason: 'superseded' },
      'POST /api/v1/issuers/{name}/revoke': { reason: 'cessationOfOperation' },
      'POST /api/v1/issuers': { name: 'hdr-walk-ca', parent: 'root-ca' },
      // The answer that carries every CA key (encrypted under this passphrase).
      'POST /api/v1/issuers/backup': { passphrase: 'headers walk passphrase' },
      'POST /api/v1/issuers/{name}/rotate': { to: 'issuing-ca' },
      'POST /api/v1/issuers/{name}/cross-certificates': { signer: 'root-ca' },
      'POST /api/v1/issuers/import': { name: 'hdr-walk-imported', ...toImport },
      'POST /api/v1/issuers/csr': { name: 'hdr-walk-pending' },
      'POST /api/v1/issuers/{name}/certificate': pendingSigned,
      'POST /api/v1/profiles': {
        name: 'hdr-walk',
        kind: 'client',
        policy: { maxTtl: 86400, defaultTtl: 3600, sanTypes: ['dns'], keyAlgorithms: ['EC-P256'] },
      },
      'PUT /api/v1/profiles/{name}': {
        kind: 'client',
        policy: { maxTtl: 86400, defaultTtl: 3600, sanTypes: ['dns'], keyAlgorithms: ['EC-P256'] },
      },
      'POST /api/v1/judge': { chain: main.fullchain },
      'POST /api/v1/tokens': { name: 'headers-walk', scopes: ['certificates:read'] },
      'POST /api/v1/invitations': { name: 'headers-walk', profile: 'client', sans: { dns: ['walk-invited.headers.test'] } },
      // The answer that carries an EAB credential's HMAC key.
      'POST /api/v1/acme/eab': { name: 'headers-walk', profiles: ['server'] },
    };
    return bodies[`${op.method} ${op.path}`] ?? {};
  }

  function url(op: Operation, values: Record<string, string>): string {
    return op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? 'x'));
  }

  function init(op: Operation, token: string | null): RequestInit {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (op.method === 'GET') return { method: op.method, headers };
    return { method: op.method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(bodyOf(op)) };
  }

  it('the document lists the routes this walk knows how to call', () => {
    expect(operations.length).toBeGreaterThan(15);
    const listed = operations.map((op) => `${op.method} ${op.path}`);
    expect(listed).toEqual(
      expect.arrayContaining(['POST /api/v1/tokens', 'GET /api/v1/tokens', 'GET /api/v1/tokens/{id}', 'POST /api/v1/tokens/{id}/revoke']),
    );
    for (const op of operations) for (const p of op.params) expect(['id', 'name', 'kind', 'keyId'], `${op.method} ${op.path}`).toContain(p);
  });

  it('with the admin token and real ids: answered, and no-store (the issuance answer with its private key above all)', async () => {
    for (const op of operations) {
      const a = await call(url(op, realParams(op)), init(op, anvil.token));
      const what = `${op.method} ${op.path}`;
      expect(a.status, `${what}: ${a.body.slice(0, 300)}`).toBeLessThan(300);
      expectNoStore(what, a);
      if (what === 'POST /api/v1/certificates') {
        const issued = JSON.parse(a.body) as Issued;
        expect(issued.privateKey).toMatch(/PRIVATE KEY/);
        expect(issued.pkcs12).toBeTruthy();
        expect(issued.kubernetesSecret).toContain('tls.key');
      }
      if (what === 'POST /api/v1/issuers/backup') {
        const keys = (JSON.parse(a.body) as { issuers: Array<{ privateKey: string | null }> }).issuers.map((i) => i.privateKey);
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) expect(key).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
      }
    }
  });

  it('without a token: 401, no-store', async () => {
    for (const op of operations) {
      const a = await call(url(op, realParams(op)), init(op, null));
      expect(a.status, `${op.method} ${op.path}`).toBe(401);
      expectNoStore(`${op.method} ${op.path} unauthenticated`, a);
    }
  });

  it('with a wrong token: 401, no-store', async () => {
    for (const op of operations) {
      const a = await call(url(op, realParams(op)), init(op, 'anvil_not_a_token'));
      expect(a.status, `${op.method} ${op.path}`).toBe(401);
      expectNoStore(`${op.method} ${op.path} wrong token`, a);
    }
  });

  it('with unknown ids and names: a 4xx problem, no-store', async () => {
    for (const op of operations.filter((o) => o.params.length)) {
      const a = await call(url(op, { id: randomUUID(), name: UNKNOWN_NAME }), init(op, anvil.token));
      const what = `${op.method} ${op.path} unknown`;
      expect(a.status, `${what}: ${a.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(a.status, what).toBeLessThan(500);
      expectNoStore(what, a);
    }
    // Not a UUID at all: refused by validation before any lookup.
    const a = await call('/api/v1/certificates/not-a-uuid', { headers: { authorization: `Bearer ${anvil.token}` } });
    expect(a.status).toBe(400);
    expectNoStore('GET /api/v1/certificates/not-a-uuid', a);
  });
});

describe('Cache-Control: no-store on the /api routes the document does not list, and on API errors', () => {
  const auth = () => ({ authorization: `Bearer ${anvil.token}` });

  it('the document itself, the reference page and its files, an unknown API path', async () => {
    for (const path of [
      '/api/v1/openapi.json',
      '/api/v1/reference',
      '/api/v1/reference/init.js',
      '/api/v1/reference/swagger-ui.css',
      '/api/v1/reference/swagger-ui-bundle.js',
    ]) {
      const a = await call(path);
      expect(a.status, path).toBe(200);
      expectNoStore(path, a);
    }
    for (const path of ['/api/v1/nope', '/api/v2/certificates', '/api/v1/reference/nope.js']) {
      const a = await call(path, { headers: auth() });
      expect(a.status, path).toBe(404);
      expectNoStore(path, a);
    }
  });

  it('malformed JSON, a wrong content type, a body over the limit, invalid judge input', async () => {
    const cases: Array<[string, RequestInit, number]> = [
      ['/api/v1/certificates', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"profile"' }, 400],
      ['/api/v1/certificates', { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'x' }, 415],
      [
        '/api/v1/certificates',
        {
          method: 'POST',
          headers: { ...auth(), 'content-type': 'application/json', 'content-length': String(1024 * 1024) },
          body: 'x'.repeat(1024 * 1024),
        },
        413,
      ],
      [
        '/api/v1/judge',
        { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ chain: 'not pem' }) },
        422,
      ],
    ];
    for (const [path, req, status] of cases) {
      const a = await call(path, req);
      expect(a.status, `${path}: ${a.body.slice(0, 200)}`).toBe(status);
      expectNoStore(`${req.method} ${path} -> ${status}`, a);
    }
  });

  it('public /pki and /ocsp keep their cache headers (and get nosniff)', async () => {
    for (const path of [
      '/pki/trust-bundle.pem',
      '/pki/issuers/issuing-ca.pem',
      '/pki/issuers/issuing-ca/chain.pem',
      '/pki/crl/issuing-ca.crl',
    ]) {
      const a = await call(path);
      expect(a.status, path).toBe(200);
      expect(a.headers.get('cache-control'), path).toMatch(/public, max-age=\d+/);
      expect(a.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });
});

describe('pages: CSP without inline script, frame-ancestors, nosniff, Referrer-Policy', () => {
  it('the API reference, and every script and stylesheet it loads', async () => {
    const page = await call('/api/v1/reference');
    expect(page.status).toBe(200);
    expectPage('GET /api/v1/reference', page);
    const assets = assetsOf(page.body);
    expect(assets).toEqual(['/api/v1/reference/swagger-ui.css', '/api/v1/reference/swagger-ui-bundle.js', '/api/v1/reference/init.js']);
    for (const path of assets) expectAsset(path, await call(path));
  });

  it('GET /verify as a page on the HTTP app: no certificate, and one forwarded by a trusted proxy', async () => {
    const html = { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' };
    const none = await call('/verify', { headers: html });
    expect(none.status).toBe(200);
    expectPage('GET /verify (absent)', none);
    const forwarded = await anvil.app.request(
      '/verify',
      { headers: { ...html, 'x-forwarded-client-cert': `Hash=x;Chain=${encodeURIComponent(main.fullchain)}` } },
      { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40000, remoteFamily: 'IPv4' } } },
    );
    const page = { status: forwarded.status, headers: forwarded.headers, body: await forwarded.text() };
    expect(page.body).toContain('Your client certificate is accepted');
    expectPage('GET /verify (forwarded, verified)', page);
    const assets = assetsOf(page.body);
    expect(assets).toEqual(['/verify/verdict.css']);
    for (const path of assets) expectAsset(path, await call(path));
    // As JSON: an API-like answer, no-store as before.
    const json = await call('/verify');
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.headers.get('cache-control')).toBe('no-store');
  });

  it('GET /verify as a page on the mTLS app (Hono route: no TLS here)', async () => {
    const app = createMtlsApp({ authority: anvil.authority, judge: anvil.judge, log: (await import('pino')).default({ level: 'silent' }) });
    const res = await app.request('/verify', { headers: { accept: 'text/html' } });
    const page = { status: res.status, headers: res.headers, body: await res.text() };
    expect(page.body).toContain('this request did not arrive over TLS');
    expectPage('mTLS app GET /verify', page);
    const css = await app.request('/verify/verdict.css');
    expectAsset('mTLS app GET /verify/verdict.css', { status: css.status, headers: css.headers, body: await css.text() });
    const nf = await app.request('/api/v1/nope');
    expect(nf.status).toBe(404);
    expectNoStore('mTLS app GET /api/v1/nope', { status: nf.status, headers: nf.headers });
  });

  it('any text/html answer of an app with the middleware, error pages included', async () => {
    const app = new Hono();
    app.use('*', securityHeaders());
    app.get('/page', (c) => c.html('<!doctype html><p>hello</p>'));
    app.get('/api/broken', () => {
      throw new Error('boom');
    });
    app.get('/broken', () => {
      throw new Error('boom');
    });
    app.onError((_err, c) => c.html('<!doctype html><h1>Something went wrong</h1>', 500));
    app.notFound((c) => c.html('<!doctype html><h1>Not found</h1>', 404));
    for (const [path, status] of [
      ['/page', 200],
      ['/broken', 500],
      ['/nope', 404],
      ['/api/broken', 500],
    ] as const) {
      const res = await app.request(path);
      expect(res.status, path).toBe(status);
      expectPage(`test app ${path}`, { status: res.status, headers: res.headers, body: await res.text() });
      expect(res.headers.get('cache-control'), path).toBe(path.startsWith('/api/') ? 'no-store' : null);
    }
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
  });
});

// ---- the mTLS listener: the renew answer and the /verify fast path --------------------------------

function mtlsCall(opts: { path: string; method?: string; cert?: string; key?: string; body?: string; headers?: Record<string, string> }) {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: anvil.mtls!.port,
        path: opts.path,
        method: opts.method ?? 'GET',
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: false,
        agent: false,
        headers: opts.headers,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve({ status: res.statusCode ?? 0, headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('the mTLS listener', () => {
  let renewable: Issued;
  let csr: string;
  beforeAll(async () => {
    renewable = await issue({ profile: 'client', subject: { CN: 'headers-renew' }, sans: { dns: ['renew.headers.test'] } });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'der', type: 'pkcs8' });
    csr = toPem(
      buildCsr({ keyAlgorithm: 'EC-P256', privateKeyPkcs8: new Uint8Array(key), subject: { CN: 'ignored' }, sans: emptySans() }),
      'CERTIFICATE REQUEST',
    );
  });

  it('POST /api/v1/renew: the renewed certificate, and the refusals, are no-store', async () => {
    const ok = await mtlsCall({
      path: '/api/v1/renew',
      method: 'POST',
      cert: renewable.fullchain,
      key: renewable.privateKey,
      body: csr,
      headers: { 'content-type': 'application/pkcs10' },
    });
    expect(ok.status, ok.body).toBe(201);
    expectNoStore('mTLS POST /api/v1/renew', ok);
    const none = await mtlsCall({ path: '/api/v1/renew', method: 'POST', body: csr, headers: { 'content-type': 'application/pkcs10' } });
    expect(none.status).toBe(401);
    expectNoStore('mTLS POST /api/v1/renew without a certificate', none);
    const nf = await mtlsCall({ path: '/api/v1/nope' });
    expect(nf.status).toBe(404);
    expectNoStore('mTLS GET /api/v1/nope', nf);
  });

  it('GET /verify as a page on the fast path, and its stylesheet through Hono', async () => {
    const page = await mtlsCall({
      path: '/verify',
      cert: main.fullchain,
      key: main.privateKey ?? undefined,
      headers: { accept: 'text/html' },
    });
    expect(page.status).toBe(200);
    expectPage('mTLS GET /verify', page);
    for (const path of assetsOf(page.body)) expectAsset(`mTLS ${path}`, await mtlsCall({ path }));
    const json = await mtlsCall({ path: '/verify' });
    expect(json.headers.get('cache-control')).toBe('no-store');
    expect(json.headers.get('x-content-type-options')).toBe('nosniff');
    expect(json.headers.get('content-security-policy')).toBeNull();
  });
});

/**
 * GET /api/v1/issuers/{name}/gateway/{kind} (issue 12) and /pki/issuers/{name}/crls.pem: every
 * kind answers JSON and text, bad input is a 404/400 problem with a stable code, never a 500.
 * The console page per issuer shows the same. Runs on PGlite and PostgreSQL.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient } from '../support/console.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
const KINDS = ['nginx', 'haproxy', 'envoy', 'kong', 'caddy', 'traefik'];

beforeAll(async () => {
  anvil = await createTestAnvil();
});
afterAll(async () => {
  await anvil?.close();
});

describe('gateway configuration', () => {
  it.each(KINDS)('%s: JSON with the config, the files and their download lines', async (kind) => {
    const res = await anvil.api('GET', `/api/v1/issuers/issuing-ca/gateway/${kind}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await res.json();
    expect(body).toMatchObject({ kind, issuer: 'issuing-ca', depth: 2 });
    expect(body.files.map((f: { name: string }) => f.name)).toContain('trust.pem');
    const trust = body.files.find((f: { name: string }) => f.name === 'trust.pem');
    expect(trust).toMatchObject({ path: '/etc/anvil/issuing-ca/trust.pem', url: 'http://anvil.test/pki/issuers/root-ca.pem' });
    // Kong's declarative file carries the root inline; its Admin API upload reads trust.pem.
    expect(kind === 'kong' ? body.apply : body.config).toContain('/etc/anvil/issuing-ca/trust.pem');
    for (const f of body.files) if (f.url) expect(body.download).toContain(`-o ${f.path}.new ${f.url}`);
    expect(body.notes.length).toBeGreaterThan(0);
    expect(body.testedWithBinary).toBe(['nginx', 'haproxy', 'caddy'].includes(kind));
  });

  it('?format=text answers the bare configuration, ?dir moves every path', async () => {
    const res = await anvil.api('GET', '/api/v1/issuers/issuing-ca/gateway/nginx?format=text&dir=/srv/gw');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('ssl_client_certificate /srv/gw/trust.pem;');
    expect(text).toContain('ssl_crl /srv/gw/crls.pem;');
    expect(text).toContain('ssl_verify_depth 2;');
    expect(text).not.toContain('/etc/anvil');
  });

  it('a root issuer trusts itself, with depth 1', async () => {
    const body = await (await anvil.api('GET', '/api/v1/issuers/root-ca/gateway/haproxy')).json();
    expect(body.depth).toBe(1);
    expect(body.files[0].url).toBe('http://anvil.test/pki/issuers/root-ca.pem');
    expect(body.config).toMatch(/bind :443 ssl crt \S+ ca-file \S+trust\.pem crl-file \S+crls\.pem verify required/);
  });

  it('an unknown kind is 404 unknown_gateway_kind, listing the kinds', async () => {
    const res = await anvil.api('GET', '/api/v1/issuers/issuing-ca/gateway/iis');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = await res.json();
    expect(body).toMatchObject({ code: 'unknown_gateway_kind', kinds: KINDS });
    expect(body.detail).toContain('iis');
  });

  it('an unknown issuer is 404 unknown_issuer', async () => {
    const res = await anvil.api('GET', '/api/v1/issuers/no-such-ca/gateway/nginx');
    expect(res.status).toBe(404);
    expect((await res.json()).code).toBe('unknown_issuer');
  });

  it.each([
    ['relative dir', '?dir=etc/anvil'],
    ['a quote in dir', `?dir=${encodeURIComponent('/etc/x";rm')}`],
    ['a space in dir', `?dir=${encodeURIComponent('/etc/a b')}`],
    ['an unknown format', '?format=xml'],
  ])('%s is 400 validation_failed', async (_label, query) => {
    const res = await anvil.api('GET', `/api/v1/issuers/issuing-ca/gateway/nginx${query}`);
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe('validation_failed');
  });

  it('needs a token', async () => {
    const res = await anvil.app.request('/api/v1/issuers/issuing-ca/gateway/nginx');
    expect(res.status).toBe(401);
  });
});

describe('/pki/issuers/{name}/crls.pem', () => {
  it('holds the CRL of the issuer and of every CA above it, in that order', async () => {
    const res = await anvil.app.request('/pki/issuers/issuing-ca/crls.pem');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-pem-file');
    const pem = await res.text();
    const blocks = pem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----\n/g) ?? [];
    expect(blocks).toHaveLength(2);
    const own = await (await anvil.app.request('/pki/crl/issuing-ca.pem')).text();
    const root = await (await anvil.app.request('/pki/crl/root-ca.pem')).text();
    expect(blocks).toEqual([own, root]);
    // Sanity: the trust file named by the generator parses as the root.
    const trust = await (await anvil.app.request('/pki/issuers/root-ca.pem')).text();
    expect(new X509Certificate(trust).subject).toContain('CN=');
  });

  it('an unknown issuer is a 404 problem', async () => {
    const res = await anvil.app.request('/pki/issuers/nope/crls.pem');
    expect(res.status).toBe(404);
    expect((await res.json()).code).toBe('unknown_issuer');
  });
});

describe('the console page per issuer', () => {
  it('links every kind from the issuer page and shows the configuration in a <pre>, without script', async () => {
    const browser = new ConsoleClient(anvil);
    expect((await browser.signIn()).url).toBe('/');
    const detail = await browser.get('/issuers/issuing-ca');
    expect(detail.html).toContain('href="/issuers/issuing-ca/gateway/nginx"');
    const page = await browser.get('/issuers/issuing-ca/gateway/haproxy');
    expect(page.status).toBe(200);
    for (const kind of KINDS) expect(page.html).toContain(`href="/issuers/issuing-ca/gateway/${kind}"`);
    expect(page.html).toMatch(/<pre[^>]*>[^<]*ca-file \/etc\/anvil\/issuing-ca\/trust\.pem/);
    expect(page.html).toContain('http://anvil.test/pki/issuers/issuing-ca/crls.pem');
    expect(page.html).not.toContain('<script');
    const envoy = await browser.get('/issuers/issuing-ca/gateway/envoy');
    expect(envoy.html).toContain('Untested by binary');
    expect((await browser.get('/issuers/issuing-ca/gateway/iis')).status).toBe(404);
    expect((await browser.get('/issuers/nope/gateway/nginx')).status).toBe(404);
  });

  it('needs a session', async () => {
    const res = await anvil.app.request('/issuers/issuing-ca/gateway/nginx');
    expect(res.status).not.toBe(200);
  });
});

/**
 * Issue 14 items 2 and 3 over the API: importing an existing CA (root or intermediate, plain,
 * encrypted or DER key) and an intermediate whose CSR an external `openssl ca` root signs. Every
 * refusal is a problem code that writes nothing: the issuer list, trust anchors and pending list
 * stay as they were, and the audit trail gains one failed attempt with that code.
 * Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, textOf } from '../support/console.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { createOpensslCa, keyAndCsr, type OpensslCa } from '../support/openssl-ca.ts';
import { haveTool, run, tempDir } from '../support/tools.ts';

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const RUN = randomBytes(3).toString('hex');

let anvil: TestAnvil;
let dir: string;
let extA: OpensslCa; // its intermediate is imported with the root as chain: the root becomes a trust anchor
let extB: OpensslCa; // its root is imported as an Anvil root; its intermediate then finds its parent there
let imposter: OpensslCa; // same root name as extA, another key
let intA: { keyPem: string; certPem: string; keyPath: string };

beforeAll(async () => {
  haveTool('openssl');
  anvil = await createTestAnvil();
  dir = tempDir('anvil-issuer-import-');
  extA = createOpensslCa(join(dir, 'a'), `External Root A ${RUN}`);
  extB = createOpensslCa(join(dir, 'b'), `External Root B ${RUN}`);
  imposter = createOpensslCa(join(dir, 'x'), `External Root A ${RUN}`);
  const k = keyAndCsr(dir, 'int-a', `/CN=Imported Issuing A ${RUN}/O=External`);
  intA = { ...k, certPem: extA.sign(k.csrPem) };
});
afterAll(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function state() {
  const issuers = (await (await anvil.api('GET', '/api/v1/issuers')).json()).items.map((i: { name: string }) => i.name).sort();
  const pending = (await (await anvil.api('GET', '/api/v1/issuers/pending')).json()).items.map((i: { name: string }) => i.name).sort();
  const bundle = await (await anvil.app.request('/pki/trust-bundle.pem')).text();
  return {
    issuers,
    pending,
    bundle,
    dbIssuers: (await anvil.store.listIssuers()).length,
    anchors: (await anvil.store.listTrustAnchors()).length,
  };
}

/** Posts, expects the problem code, and checks nothing changed but one failed audit row with that code. */
async function refused(path: string, body: unknown, status: number, code: string, action = 'issuer.import') {
  const before = await state();
  const res = await anvil.api('POST', path, body);
  const problem = await res.json();
  expect({ status: res.status, code: problem.code, type: res.headers.get('content-type') }).toEqual({
    status,
    code,
    type: 'application/problem+json',
  });
  expect(await state()).toEqual(before);
  const [last] = await anvil.authority.listAudit({ limit: 1 });
  expect(last).toMatchObject({ action, outcome: 'failure', details: { code } });
  return problem;
}

function leafFrom(issuer: string) {
  return anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    issuer,
    subject: { CN: `svc.${issuer}.test` },
    sans: { dns: [`svc.${issuer}.test`] },
  });
}

function verifyLeaf(rootPem: string, chainPem: string, leafPem: string) {
  const f = (name: string, text: string) => {
    const p = join(dir, `${name}-${randomBytes(3).toString('hex')}.pem`);
    writeFileSync(p, text);
    return p;
  };
  return run('openssl', [
    'verify',
    '-x509_strict',
    '-purpose',
    'sslclient',
    '-CAfile',
    f('root', rootPem),
    '-untrusted',
    f('chain', chainPem),
    f('leaf', leafPem),
  ]);
}

describe('POST /api/v1/issuers/import: refusals change nothing', () => {
  it('key_mismatch: the key is not the certificate key', async () => {
    const other = keyAndCsr(dir, 'other', '/CN=other');
    await refused(
      '/api/v1/issuers/import',
      { name: `mis-${RUN}`, certificate: intA.certPem, privateKey: other.keyPem, chain: extA.rootPem },
      422,
      'key_mismatch',
    );
  });

  it('not_a_ca: an end-entity certificate', async () => {
    const leaf = keyAndCsr(dir, 'leaf', `/CN=leaf ${RUN}`);
    const cert = extA.sign(leaf.csrPem, { extensions: 'v3_leaf' });
    await refused(
      '/api/v1/issuers/import',
      { name: `leaf-${RUN}`, certificate: cert, privateKey: leaf.keyPem, chain: extA.rootPem },
      422,
      'not_a_ca',
    );
  });

  it('not_fit_for_issuing: a CA without cRLSign', async () => {
    const k = keyAndCsr(dir, 'nocrl', `/CN=No CRL ${RUN}`);
    const cert = extA.sign(k.csrPem, { extensions: 'v3_ca_no_crlsign' });
    await refused(
      '/api/v1/issuers/import',
      { name: `nocrl-${RUN}`, certificate: cert, privateKey: k.keyPem, chain: extA.rootPem },
      422,
      'not_fit_for_issuing',
    );
  });

  it('certificate_expired: a CA whose validity is over', async () => {
    const k = keyAndCsr(dir, 'old', `/CN=Old ${RUN}`);
    const cert = extA.sign(k.csrPem, { startDate: '20200101000000Z', endDate: '20210101000000Z' });
    await refused(
      '/api/v1/issuers/import',
      { name: `old-${RUN}`, certificate: cert, privateKey: k.keyPem, chain: extA.rootPem },
      422,
      'certificate_expired',
    );
  });

  it('chain_incomplete: the root is neither given nor known', async () => {
    const p = await refused(
      '/api/v1/issuers/import',
      { name: `noch-${RUN}`, certificate: intA.certPem, privateKey: intA.keyPem },
      422,
      'chain_incomplete',
    );
    expect(p.detail).toContain(`External Root A ${RUN}`);
  });

  it('chain_invalid: a root of the same name whose key did not sign it', async () => {
    await refused(
      '/api/v1/issuers/import',
      { name: `imp-${RUN}`, certificate: intA.certPem, privateKey: intA.keyPem, chain: imposter.rootPem },
      422,
      'chain_invalid',
    );
  });

  it('wrong_passphrase and passphrase_required: an encrypted key', async () => {
    const enc = openssl('pkcs8', '-topk8', '-in', intA.keyPath, '-v2', 'aes-256-cbc', '-passout', 'pass:right-one');
    expect(enc).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const body = { name: `enc-${RUN}`, certificate: intA.certPem, privateKey: enc, chain: extA.rootPem };
    const p = await refused('/api/v1/issuers/import', { ...body, passphrase: 'wrong-one' }, 422, 'wrong_passphrase');
    expect(JSON.stringify(p)).not.toContain('wrong-one');
    await refused('/api/v1/issuers/import', body, 422, 'passphrase_required');
  });

  it('issuer_exists, malformed_certificate and malformed_private_key', async () => {
    await refused(
      '/api/v1/issuers/import',
      { name: 'issuing-ca', certificate: intA.certPem, privateKey: intA.keyPem, chain: extA.rootPem },
      409,
      'issuer_exists',
    );
    await refused(
      '/api/v1/issuers/import',
      { name: `bad-${RUN}`, certificate: 'not a certificate', privateKey: intA.keyPem },
      422,
      'malformed_certificate',
    );
    await refused(
      '/api/v1/issuers/import',
      { name: `bad-${RUN}`, certificate: intA.certPem, privateKey: 'AAAA', chain: extA.rootPem },
      422,
      'malformed_private_key',
    );
  });
});

describe('POST /api/v1/issuers/import: accepted', () => {
  it('an intermediate with its external root as chain: the root becomes a trust anchor, issued leaves verify with openssl', async () => {
    const res = await anvil.api('POST', '/api/v1/issuers/import', {
      name: `ext-a-${RUN}`,
      certificate: intA.certPem,
      privateKey: readDer(intA.keyPath).toString('base64'), // DER, base64 in JSON
      chain: extA.rootPem,
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ name: `ext-a-${RUN}`, kind: 'intermediate', parent: null, keyAlgorithm: 'EC-P256' });
    expect(await (await anvil.app.request('/pki/trust-bundle.pem')).text()).toContain(extA.rootPem.trim().split('\n')[1]);
    const [last] = await anvil.authority.listAudit({ limit: 1 });
    expect(last).toMatchObject({ action: 'issuer.import', outcome: 'success', target: `ext-a-${RUN}` });
    expect(JSON.stringify(last)).not.toContain('PRIVATE KEY');

    const issued = await leafFrom(`ext-a-${RUN}`);
    const leaf = await issued.json();
    expect(issued.status, JSON.stringify(leaf)).toBe(201);
    const v = verifyLeaf(extA.rootPem, leaf.chain, leaf.certificate);
    expect(v.out).toContain(': OK');
    expect(v.status).toBe(0);
    // The judge trusts the external root too (and knows the leaf is Anvil's: revocation checked in the database).
    const judged = await (await anvil.api('POST', '/api/v1/judge', { chain: leaf.fullchain })).json();
    expect({ status: judged.status, reason: judged.reason, nginx: judged.nginx }).toEqual({
      status: 'verified',
      reason: null,
      nginx: 'SUCCESS',
    });
    expect(judged.revocation).toMatchObject({ checked: true, status: 'good' });

    // Its CRL is Anvil's to publish, signed with the imported key.
    const crl = Buffer.from(await (await anvil.app.request(`/pki/crl/ext-a-${RUN}.crl`)).arrayBuffer());
    const crlPath = join(dir, 'ext-a.crl');
    writeFileSync(crlPath, crl);
    const chainPath = join(dir, 'ext-a-chain.pem');
    writeFileSync(chainPath, intA.certPem);
    expect(run('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-CAfile', chainPath]).out).toContain('verify OK');
  });

  it('a root with an encrypted PEM key, then an intermediate found under it without a chain', async () => {
    const enc = openssl('pkcs8', '-topk8', '-in', extB.rootKeyPath, '-v2', 'aes-256-cbc', '-passout', 'pass:b-secret');
    const root = await anvil.api('POST', '/api/v1/issuers/import', {
      name: `root-b-${RUN}`,
      certificate: extB.rootPem,
      privateKey: enc,
      passphrase: 'b-secret',
    });
    expect(root.status, await root.clone().text()).toBe(201);
    expect(await root.json()).toMatchObject({ kind: 'root', parent: null });

    const k = keyAndCsr(dir, 'int-b', `/CN=Imported Issuing B ${RUN}/O=External`);
    const cert = extB.sign(k.csrPem);
    const res = await anvil.api('POST', '/api/v1/issuers/import', { name: `int-b-${RUN}`, certificate: cert, privateKey: k.keyPem });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ kind: 'intermediate', parent: `root-b-${RUN}` });
    const leaf = await (await leafFrom(`int-b-${RUN}`)).json();
    expect(verifyLeaf(extB.rootPem, leaf.chain, leaf.certificate).out).toContain(': OK');
  });
});

describe('an intermediate signed by an external root: CSR out, certificate in', () => {
  const name = `ext-c-${RUN}`;
  let ext: OpensslCa;
  let csrPem: string;

  beforeAll(() => {
    ext = createOpensslCa(join(dir, 'c'), `External Root C ${RUN}`);
  });

  it('creates a pending issuer with a CSR for a key Anvil holds; it issues nothing', async () => {
    const res = await anvil.api('POST', '/api/v1/issuers/csr', { name, keyAlgorithm: 'EC-P384' });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ name, status: 'pending', keyAlgorithm: 'EC-P384' });
    const pem = await anvil.api('GET', `/api/v1/issuers/${name}/csr.pem`);
    expect(pem.headers.get('content-type')).toBe('application/pkcs10');
    csrPem = await pem.text();
    expect(csrPem).toBe(body.csr);
    writeFileSync(join(dir, 'c.csr'), csrPem);
    expect(run('openssl', ['req', '-in', join(dir, 'c.csr'), '-noout', '-verify']).out).toMatch(
      /verify OK|Certificate request self-signature verify OK/,
    );

    const issued = await leafFrom(name);
    expect(issued.status).toBe(409);
    expect((await issued.json()).code).toBe('issuer_pending');
    await refused('/api/v1/issuers/csr', { name }, 409, 'issuer_exists', 'issuer.csr');
  });

  it('refuses a certificate for another key, one unfit for issuing, and a chain to another root', async () => {
    const other = keyAndCsr(dir, 'c-other', '/CN=other C');
    await refused(
      `/api/v1/issuers/${name}/certificate`,
      { certificate: ext.sign(other.csrPem), chain: ext.rootPem },
      422,
      'key_mismatch',
      'issuer.certificate',
    );
    await refused(
      `/api/v1/issuers/${name}/certificate`,
      { certificate: ext.sign(csrPem, { extensions: 'v3_ca_no_crlsign' }), chain: ext.rootPem },
      422,
      'not_fit_for_issuing',
      'issuer.certificate',
    );
    await refused(
      `/api/v1/issuers/${name}/certificate`,
      { certificate: ext.sign(csrPem, { extensions: 'v3_leaf' }), chain: ext.rootPem },
      422,
      'not_fit_for_issuing',
      'issuer.certificate',
    );
    const wrongRoot = createOpensslCa(join(dir, 'c2'), `External Root C ${RUN}`);
    await refused(
      `/api/v1/issuers/${name}/certificate`,
      { certificate: ext.sign(csrPem), chain: wrongRoot.rootPem },
      422,
      'chain_invalid',
      'issuer.certificate',
    );
    await refused(`/api/v1/issuers/${name}/certificate`, { certificate: ext.sign(csrPem) }, 422, 'chain_incomplete', 'issuer.certificate');
  });

  it('activates with the signed certificate and the root; leaves verify to that root', async () => {
    const res = await anvil.api('POST', `/api/v1/issuers/${name}/certificate`, { certificate: ext.sign(csrPem), chain: ext.rootPem });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ name, kind: 'intermediate', keyAlgorithm: 'EC-P384' });
    expect((await state()).pending).not.toContain(name);
    const leaf = await (await leafFrom(name)).json();
    expect(verifyLeaf(ext.rootPem, leaf.chain, leaf.certificate).out).toContain(': OK');
    expect(await (await anvil.app.request('/pki/trust-bundle.pem')).text()).toContain(ext.rootPem.trim().split('\n')[1]);
    const again = await anvil.api('POST', `/api/v1/issuers/${name}/certificate`, { certificate: body.certificate, chain: ext.rootPem });
    expect((await again.json()).code).toBe('pending_issuer_not_found');
  });

  it('survives a reload from the database (a restart)', async () => {
    await anvil.authority.loadIssuers();
    expect(anvil.authority.issuerByName(name).record.kind).toBe('intermediate');
    expect(anvil.authority.trustAnchors().length).toBeGreaterThanOrEqual(2);
  });
});

describe('the console issuers page imports a CA', () => {
  it('shows the form, refuses a wrong key with its code (nothing imported, key not echoed), imports, and needs the CSRF token', async () => {
    const ext = createOpensslCa(join(dir, 'ui'), `Console Root ${RUN}`);
    const k = keyAndCsr(dir, 'ui-int', `/CN=Console Issuing ${RUN}/O=External`);
    const cert = ext.sign(k.csrPem);
    const browser = new ConsoleClient(anvil);
    await browser.signIn();
    const list = await browser.get('/issuers');
    expect(list.html).toContain('action="/issuers/import"');

    const before = await state();
    const other = keyAndCsr(dir, 'ui-other', '/CN=other');
    const bad = await browser.post('/issuers/import', {
      name: `ui-${RUN}`,
      certificate: cert,
      privateKey: other.keyPem,
      chain: ext.rootPem,
    });
    expect(bad.status).toBe(422);
    expect(textOf(bad.html)).toContain('key_mismatch');
    expect(bad.html).not.toContain(other.keyPem.split('\n')[1]);
    expect(await state()).toEqual(before);

    const noCsrf = await browser.post(
      '/issuers/import',
      { name: `ui-${RUN}`, certificate: cert, privateKey: k.keyPem, chain: ext.rootPem },
      { csrf: false },
    );
    expect(noCsrf.status).toBe(403);
    expect(await state()).toEqual(before);

    const ok = await browser.post('/issuers/import', {
      name: `ui-${RUN}`,
      certificate: cert,
      privateKey: k.keyPem,
      chain: ext.rootPem,
      passphrase: '',
    });
    expect(ok.url).toBe(`/issuers/ui-${RUN}`);
    expect(ok.status).toBe(200);
    expect((await state()).issuers).toContain(`ui-${RUN}`);
  });
});

function readDer(keyPath: string): Buffer {
  const der = join(dir, 'key.der');
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', keyPath, '-outform', 'DER', '-out', der);
  return readFileSync(der);
}

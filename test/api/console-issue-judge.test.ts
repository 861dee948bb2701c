/**
 * The console's issue, judge and issuer pages, in process (PGlite, and PostgreSQL with
 * ANVIL_TEST_DB=postgres): a generated key offered once (data: downloads openssl reads, none on
 * a resubmission of the same form), CSRs pasted and uploaded, refusals beside their field with
 * nothing issued, verdicts equal to POST /api/v1/judge for PEM and DER input, CRL state and
 * re-signing, and what an auditor and a form without CSRF token may not do.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConsoleClient, textOf, type ConsolePage } from '../support/console.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';

const HAVE_OPENSSL = haveTool('openssl');
const PASSWORD = 'p12 pass phrase & more';

let anvil: TestAnvil;
let admin: ConsoleClient;
let dir: string;
let intermediate: string;
let root: string;

beforeAll(async () => {
  anvil = await createTestAnvil();
  admin = new ConsoleClient(anvil);
  expect((await admin.signIn()).url).toBe('/');
  dir = tempDir('anvil-console-issue-');
  intermediate = anvil.authority.issuers().find((i) => i.record.kind === 'intermediate')!.record.name;
  root = anvil.authority.issuers().find((i) => i.record.kind === 'root')!.record.name;
});
afterAll(() => anvil?.close());

const unentity = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

async function certificateCount(): Promise<number> {
  return (await anvil.authority.certificateCounts()).reduce((n, r) => n + r.count, 0);
}

/** The data: downloads of a page, by their download file name. */
function downloads(html: string): Record<string, { type: string; bytes: Buffer }> {
  const out: Record<string, { type: string; bytes: Buffer }> = {};
  for (const m of html.matchAll(/<a [^>]*href="data:([^;"]+);base64,([^"]+)"[^>]*download="([^"]+)"/g)) {
    out[m[3]] = { type: m[1], bytes: Buffer.from(m[2], 'base64') };
  }
  return out;
}

function textarea(html: string, id: string): string | undefined {
  const m = new RegExp(`<textarea id="${id}"[^>]*>([\\s\\S]*?)</textarea>`).exec(html);
  return m ? unentity(m[1]) : undefined;
}

const nonceOf = (html: string) => /name="nonce" value="([^"]+)"/.exec(html)?.[1];

/** Opens the issue form and posts it (multipart, as the browser does) with `fields`. */
async function issueForm(client: ConsoleClient, fields: Record<string, string | Blob>): Promise<{ page: ConsolePage; form: FormData }> {
  const blank = await client.get('/issue');
  expect(blank.status).toBe(200);
  const form = new FormData();
  form.append('nonce', nonceOf(blank.html)!);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const page = await client.postMultipart('/issue', form);
  return { page, form };
}

/** The error shown beside a field of a refused form. */
const fieldError = (html: string, field: string) => {
  const m = new RegExp(`id="f-${field}-error">([^<]*)<`).exec(html);
  return m ? unentity(m[1]) : undefined;
};

async function pki(path: string): Promise<Buffer> {
  const res = await anvil.app.request(path);
  expect(res.status, path).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe.skipIf(!HAVE_OPENSSL)('issue with a generated key', () => {
  it('offers key, .p12 and Secret once; they match the certificate, which openssl verifies; a resubmission shows no key and issues nothing', async () => {
    const before = await certificateCount();
    const { page, form } = await issueForm(admin, {
      profile: 'client',
      keySource: 'generate',
      keyAlgorithm: 'EC-P384',
      CN: 'console-client',
      O: 'Partner A',
      dns: 'a.partner.test',
      uri: 'spiffe://prod.example/partner-a',
      ttl: '30',
      pkcs12Password: PASSWORD,
      secretNamespace: 'partners',
    });
    expect(page.status, textOf(page.html)).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(await certificateCount()).toBe(before + 1);
    const text = textOf(page.html);
    expect(text).toContain('Certificate issued');
    expect(page.html.match(/<h1/g)).toHaveLength(1);
    expect(page.html).toMatch(/<label for="private-key">/);
    expect(text).toContain('this is the only time it is shown');
    expect(text).toContain('CN=console-client');
    const id = /href="\/certificates\/([0-9a-f-]{36})"/.exec(page.html)?.[1];
    expect(id).toBeDefined();
    const record = await anvil.authority.certificate(id!);
    expect(text).toContain(record.serial);
    expect(record.notAfter.getTime() - record.notBefore.getTime()).toBeLessThanOrEqual(31 * 86_400_000);

    const files = downloads(page.html);
    const keyPem = files['console-client.key.pem'].bytes.toString('utf8');
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(textarea(page.html, 'private-key')).toBe(keyPem);
    expect(files['console-client.p12'].type).toBe('application/x-pkcs12');
    const certPem = files['console-client.cert.pem'].bytes.toString('utf8');
    expect(textarea(page.html, 'certificate-pem')).toBe(certPem);

    const paths = writeFiles(dir, {
      'key.pem': keyPem,
      'cert.pem': certPem,
      'trust.pem': await pki('/pki/trust-bundle.pem'),
      'chain.pem': await pki(`/pki/issuers/${intermediate}/chain.pem`),
      'bundle.p12': files['console-client.p12'].bytes,
    });
    const pub = (args: string[]) => run('openssl', args);
    const fromKey = pub(['pkey', '-in', paths['key.pem'], '-pubout']);
    const fromCert = pub(['x509', '-in', paths['cert.pem'], '-noout', '-pubkey']);
    expect(fromKey.status, fromKey.out).toBe(0);
    expect(fromKey.out).toBe(fromCert.out);
    const verify = run('openssl', [
      'verify',
      '-purpose',
      'sslclient',
      '-x509_strict',
      '-CAfile',
      paths['trust.pem'],
      '-untrusted',
      paths['chain.pem'],
      paths['cert.pem'],
    ]);
    expect(verify.out).toContain(': OK');
    const p12 = run('openssl', ['pkcs12', '-info', '-nokeys', '-in', paths['bundle.p12'], '-passin', `pass:${PASSWORD}`]);
    expect(p12.status, p12.out).toBe(0);
    expect(p12.out).toMatch(/AES-256-CBC/);
    expect(p12.out.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    const secret = parseYaml(files['console-client-secret.yaml'].bytes.toString('utf8'));
    expect(secret).toMatchObject({
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'console-client-tls', namespace: 'partners' },
    });
    expect(Buffer.from(secret.data['tls.key'], 'base64').toString('utf8')).toBe(keyPem);

    // Reload (the browser resubmits the same form, same one-time token): the certificate, no key, nothing new.
    const again = await admin.postMultipart('/issue', form);
    expect(again.status).toBe(200);
    expect(textOf(again.html)).toContain('The private key was shown once and is not kept; it cannot be shown again.');
    expect(again.html).not.toContain('PRIVATE KEY');
    expect(again.html).not.toContain('x-pkcs12');
    expect(again.html).not.toContain('secret.yaml');
    expect(again.html).toContain(`/certificates/${id}`);
    expect(await certificateCount()).toBe(before + 1);
    // Neither the password nor the key reached the audit trail.
    const audit = JSON.stringify(await anvil.authority.listAudit({ limit: 20 }));
    expect(audit).not.toContain(PASSWORD);
    expect(audit).not.toContain(keyPem.split('\n')[1]);
  });
});

describe.skipIf(!HAVE_OPENSSL)('issue from a CSR', () => {
  function makeCsr(name: string, der = false) {
    const key = `${dir}/${name}.key`;
    const csr = `${dir}/${name}.csr`;
    const r = run('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=DNS:${name}.partner.test`,
      '-outform',
      der ? 'DER' : 'PEM',
      '-out',
      csr,
    ]);
    expect(r.status, r.out).toBe(0);
    return { key, csr };
  }

  async function expectIssuedFor(page: ConsolePage, name: string, key: string) {
    expect(page.status, textOf(page.html)).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain('Certificate issued');
    expect(text).toContain(`CN=${name}`);
    expect(text).toContain(`DNS:${name}.partner.test`);
    expect(page.html).not.toContain('PRIVATE KEY');
    const cert = writeFiles(dir, { [`${name}.pem`]: textarea(page.html, 'certificate-pem')! })[`${name}.pem`];
    expect(run('openssl', ['x509', '-in', cert, '-noout', '-pubkey']).out).toBe(run('openssl', ['pkey', '-in', key, '-pubout']).out);
  }

  it('pasted (PEM): the CSR names are taken', async () => {
    const { key, csr } = makeCsr('pasted-csr');
    const before = await certificateCount();
    const { page } = await issueForm(admin, {
      profile: 'client',
      keySource: 'csr',
      csr: readFileSync(csr, 'utf8'),
    });
    await expectIssuedFor(page, 'pasted-csr', key);
    expect(await certificateCount()).toBe(before + 1);
  });

  it('uploaded (DER)', async () => {
    const { key, csr } = makeCsr('uploaded-csr', true);
    const der = new Uint8Array(readFileSync(csr));
    const { page } = await issueForm(admin, {
      profile: 'client',
      keySource: 'csr',
      csrFile: new File([der], 'request.der', { type: 'application/octet-stream' }),
    });
    await expectIssuedFor(page, 'uploaded-csr', key);
  });
});

describe('refusals: 422, the error beside its field, the values kept, nothing issued', () => {
  it.each([
    [
      'a bad CSR',
      { keySource: 'csr', csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', CN: 'kept-cn' },
      'csr',
      /./,
    ],
    ['a CSR that is not one', { keySource: 'csr', csr: 'hello world', CN: 'kept-cn' }, 'csr', /neither PEM nor base64|not|csr/i],
    ['a name type the profile refuses', { profile: 'server', CN: 'kept-cn', dns: 'kept-cn', uri: 'spiffe://x/y' }, 'uri', /uri names/],
    ['a name the profile refuses', { profile: 'client', CN: 'kept-cn', dns: '*.wild.test' }, 'dns', /wildcard/],
    ['a bad IP', { profile: 'client', CN: 'kept-cn', ip: '10.0.0.300' }, 'ip', /not an IP address/],
    ['a bad TTL', { profile: 'client', CN: 'kept-cn', dns: 'kept.test', ttl: 'forever' }, 'ttl', /ttl must look like/],
    ['a TTL over the maximum', { profile: 'client', CN: 'kept-cn', dns: 'kept.test', ttl: '400' }, 'ttl', /exceeds the maximum/],
    ['an unknown issuer', { profile: 'client', CN: 'kept-cn', dns: 'kept.test', issuer: 'nope' }, 'issuer', /nope/],
    ['a PKCS#12 password with a CSR', { keySource: 'csr', csr: 'AAAA', CN: 'kept-cn', pkcs12Password: 'x' }, 'pkcs12Password', /key/],
    [
      'a bad Secret namespace',
      { profile: 'client', CN: 'kept-cn', dns: 'kept.test', secretNamespace: 'Not_Valid' },
      'secretNamespace',
      /namespace/,
    ],
  ] as const)('%s', async (_what, fields, field, message) => {
    const before = await certificateCount();
    const { page } = await issueForm(admin, { profile: 'client', keySource: 'generate', ...fields });
    expect(page.status, textOf(page.html)).toBe(422);
    expect(fieldError(page.html, field), page.html.slice(0, 200)).toMatch(message);
    expect(textOf(page.html)).toContain('Nothing was issued');
    expect(page.html).toContain('value="kept-cn"');
    if ('csr' in fields && fields.csr.includes('BEGIN')) expect(page.html).toContain('-----BEGIN CERTIFICATE REQUEST-----');
    expect(await certificateCount()).toBe(before);
  });

  it('a form without its CSRF token is refused (403) and issues nothing', async () => {
    const before = await certificateCount();
    const blank = await admin.get('/issue');
    const page = await admin.post(
      '/issue',
      { nonce: nonceOf(blank.html)!, profile: 'client', keySource: 'generate', CN: 'no-csrf', dns: 'no-csrf.test' },
      { csrf: false },
    );
    expect(page.status).toBe(403);
    expect(await certificateCount()).toBe(before);
  });
});

/** The verdict JSON the page shows (its JSON section). */
function verdictOf(html: string) {
  const m = /<summary>JSON<\/summary><pre>([\s\S]*?)<\/pre>/.exec(html);
  expect(m, 'no verdict on the page').not.toBeNull();
  return JSON.parse(unentity(m![1]));
}

/** A verdict without the moment it was judged at (the validity check names it, to the second). */
const timeless = (v: unknown) => JSON.parse(JSON.stringify(v).replace(/valid at \d{4}-\d\d-\d\dT[\d:.]+Z/g, 'valid at <now>'));

async function apiVerdict(body: Record<string, unknown>) {
  const res = await anvil.api('POST', '/api/v1/judge', body);
  expect(res.status).toBe(200);
  return res.json();
}

const pemToDer = (pem: string) =>
  new Uint8Array(Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s/g, ''), 'base64'));
const pemBlocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;

describe('judge', () => {
  let issued: { id: string; certificate: string; fullchain: string };
  beforeAll(async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'judged' },
      sans: { dns: ['judged.test'] },
    });
    expect(res.status).toBe(201);
    issued = await res.json();
  });

  async function judgePaste(fields: Record<string, string>) {
    await admin.get('/judge');
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    return admin.postMultipart('/judge', form);
  }

  it('a chain pasted as PEM and uploaded as DER: the verdict of POST /api/v1/judge', async () => {
    const api = await apiVerdict({ chain: issued.fullchain });
    expect(api).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    const pasted = await judgePaste({ chain: issued.fullchain });
    expect(pasted.status).toBe(200);
    expect(textOf(pasted.html)).toContain('Verdict: the chain is accepted');
    expect(pasted.html.match(/<h1/g)).toHaveLength(1);
    expect(pasted.html).toContain('<th scope="col">subject / issuer</th>');
    const fromPaste = verdictOf(pasted.html);
    expect(timeless(fromPaste)).toEqual(timeless(api));

    await admin.get('/judge');
    const form = new FormData();
    for (const [i, pem] of pemBlocks(issued.fullchain).entries()) {
      form.append('chainFile', new File([pemToDer(pem)], `cert${i}.der`, { type: 'application/pkix-cert' }));
    }
    const uploaded = await admin.postMultipart('/judge', form);
    expect(uploaded.status).toBe(200);
    const fromUpload = verdictOf(uploaded.html);
    expect({ status: fromUpload.status, nginx: fromUpload.nginx, reason: fromUpload.reason }).toEqual({
      status: api.status,
      nginx: api.nginx,
      reason: api.reason,
    });
    expect(timeless(fromUpload)).toEqual(timeless(api));
  });

  it('a leaf without its intermediate: failed, as nginx says (a lone leaf is OpenSSL error 20 named as nginx names it)', async () => {
    const page = await judgePaste({ chain: issued.certificate });
    const v = verdictOf(page.html);
    const api = await apiVerdict({ chain: issued.certificate });
    expect(timeless(v)).toEqual(timeless(api));
    // nginx reports a lone leaf whose issuer is not trusted as "the first certificate" (judge-parity checks it on a real nginx).
    expect(v).toMatchObject({ status: 'failed', reason: 'missing_intermediate', nginx: 'FAILED:unable to verify the first certificate' });
    expect(v.openssl).toEqual({ code: 20, name: 'X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY', depth: 0 });
    expect(textOf(page.html)).toContain('X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    expect(textOf(page.html)).toContain('fullchain.pem');
    // With its intermediate but without the root among the anchors: "unable to get local issuer certificate".
    const other = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'anchor' },
      sans: { dns: ['anchor.test'] },
    });
    const anchor = (await other.json()).certificate;
    const noRoot = verdictOf((await judgePaste({ chain: issued.fullchain, trust: 'pasted', trustAnchors: anchor })).html);
    expect(noRoot).toMatchObject({ status: 'failed', nginx: 'FAILED:unable to get local issuer certificate' });
    const apiNoRoot = await apiVerdict({ chain: issued.fullchain, trustAnchors: anchor });
    expect({ status: noRoot.status, nginx: noRoot.nginx, reason: noRoot.reason }).toEqual({
      status: apiNoRoot.status,
      nginx: apiNoRoot.nginx,
      reason: apiNoRoot.reason,
    });
  });

  it('server purpose and an expected name: as the API', async () => {
    const page = await judgePaste({ chain: issued.fullchain, purpose: 'server', expectName: 'dns:judged.test' });
    const api = await apiVerdict({ chain: issued.fullchain, purpose: 'server', expectName: 'dns:judged.test' });
    expect(verdictOf(page.html)).toMatchObject({ status: api.status, nginx: api.nginx, reason: api.reason });
    expect(api.reason).toBe('wrong_purpose');
  });

  it('pasted trust anchors instead of Anvil’s: as the API', async () => {
    const anchors = (await pki('/pki/trust-bundle.pem')).toString('utf8');
    const page = await judgePaste({ chain: issued.fullchain, trust: 'pasted', trustAnchors: anchors });
    expect(verdictOf(page.html)).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    const wrong = await judgePaste({ chain: issued.fullchain, trust: 'pasted', trustAnchors: issued.certificate });
    const api = await apiVerdict({ chain: issued.fullchain, trustAnchors: issued.certificate });
    expect(verdictOf(wrong.html)).toMatchObject({ status: api.status, nginx: api.nginx, reason: api.reason });
  });

  it('an uploaded CRL revoking the leaf: revoked, as the API', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'revoked' },
      sans: { dns: ['revoked.test'] },
    });
    const leaf = await res.json();
    expect((await anvil.api('POST', `/api/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    // nginx checks the CRL of every CA of the path (CRL_CHECK_ALL): both CRLs, uploaded as DER files.
    const crlDer = await pki(`/pki/crl/${intermediate}.crl`);
    const rootCrlDer = await pki(`/pki/crl/${root}.crl`);
    await admin.get('/judge');
    const form = new FormData();
    form.append('chain', leaf.fullchain);
    form.append('crlFiles', new File([new Uint8Array(crlDer)], 'issuing.crl', { type: 'application/pkix-crl' }));
    form.append('crlFiles', new File([new Uint8Array(rootCrlDer)], 'root.crl', { type: 'application/pkix-crl' }));
    const page = await admin.postMultipart('/judge', form);
    expect(page.status).toBe(200);
    const v = verdictOf(page.html);
    expect(v).toMatchObject({ status: 'failed', reason: 'revoked', nginx: 'FAILED:certificate revoked' });
    const crlPem = (der: Buffer) =>
      `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
    const api = await apiVerdict({ chain: leaf.fullchain, crls: crlPem(crlDer) + crlPem(rootCrlDer) });
    expect(timeless(v)).toEqual(timeless(api));
    expect(v.revocation).toMatchObject({ checked: true, status: 'revoked', reason: 'keyCompromise' });
    expect({ status: v.status, nginx: v.nginx, reason: v.reason, revocation: v.revocation }).toEqual({
      status: api.status,
      nginx: api.nginx,
      reason: api.reason,
      revocation: api.revocation,
    });
  });

  it('nothing pasted: absent / NONE', async () => {
    const page = await judgePaste({ chain: '' });
    expect(page.status).toBe(200);
    expect(verdictOf(page.html)).toMatchObject({ status: 'absent', nginx: 'NONE' });
    expect(textOf(page.html)).toContain('no certificate was presented');
  });

  it('bad input: 422 beside the field, never a 500', async () => {
    const key = await judgePaste({ chain: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' });
    expect(key.status).toBe(422);
    expect(fieldError(key.html, 'chain')).toMatch(/private key/);
    const name = await judgePaste({ chain: issued.fullchain, expectName: 'nonsense' });
    expect(name.status).toBe(422);
    expect(fieldError(name.html, 'expectName')).toMatch(/type:value/);
    const anchors = await judgePaste({ chain: issued.fullchain, trust: 'pasted', trustAnchors: '' });
    expect(anchors.status).toBe(422);
    expect(fieldError(anchors.html, 'trustAnchors')).toBeDefined();
    const crls = await judgePaste({ chain: issued.fullchain, crls: 'not a crl' });
    expect(crls.status).toBe(422);
    expect(fieldError(crls.html, 'crls')).toBeDefined();
  });
});

describe.skipIf(!HAVE_OPENSSL)('issuers', () => {
  async function crlNumber(): Promise<bigint> {
    const file = writeFiles(dir, { 'current.crl': await pki(`/pki/crl/${intermediate}.crl`) })['current.crl'];
    const r = run('openssl', ['crl', '-inform', 'DER', '-in', file, '-noout', '-crlnumber']);
    expect(r.status, r.out).toBe(0);
    return BigInt(`0x${/crlNumber=(?:0x)?([0-9A-Fa-f]+)/.exec(r.out)![1]}`);
  }

  it('the list and the detail show kind, subject, parent, the CRL number and dates, and the downloads', async () => {
    const before = await crlNumber();
    const list = await admin.get('/issuers');
    expect(list.status).toBe(200);
    const text = textOf(list.html);
    expect(text).toContain(intermediate);
    expect(text).toContain(root);
    expect(text).toContain(`number ${before}`);
    expect(list.html).toContain('<th scope="col">CRL</th>');

    const detail = await admin.get(`/issuers/${intermediate}`);
    expect(detail.status).toBe(200);
    const d = textOf(detail.html);
    expect(detail.html.match(/<h1/g)).toHaveLength(1);
    expect(d).toContain('intermediate');
    expect(d).toMatch(new RegExp(`CRL number ${before} `));
    expect(d).toMatch(/This update \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(d).toMatch(/Next update \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(d).toContain('fresh');
    expect(detail.html).toContain(`href="/issuers/${root}"`);
    for (const href of [
      `/pki/issuers/${intermediate}.crt`,
      `/pki/issuers/${intermediate}.pem`,
      `/pki/issuers/${intermediate}/chain.pem`,
      `/pki/crl/${intermediate}.crl`,
    ]) {
      expect(detail.html).toContain(`href="${href}"`);
      expect((await anvil.app.request(href)).status).toBe(200);
    }
    expect(detail.html).toContain('Re-sign CRL now');
  });

  it('"Re-sign CRL now" increments the CRL number, audited, and shows it', async () => {
    const before = await crlNumber();
    await admin.get(`/issuers/${intermediate}`);
    const page = await admin.post(`/issuers/${intermediate}/crl`, {});
    expect(page.url).toBe(`/issuers/${intermediate}?resigned=${before + 1n}`);
    expect(textOf(page.html)).toContain(`The CRL was re-signed: CRL number ${before + 1n}.`);
    expect(await crlNumber()).toBe(before + 1n);
    const audit = await anvil.authority.listAudit({ limit: 10, action: 'crl.publish' });
    expect(audit[0]).toMatchObject({ action: 'crl.publish', outcome: 'success', actor: expect.stringContaining('user:admin') });
    expect(audit[0].details).toMatchObject({ issuer: intermediate, crlNumber: String(before + 1n) });
    // Without the CSRF token: refused, nothing signed.
    const refused = await admin.post(`/issuers/${intermediate}/crl`, {}, { csrf: false });
    expect(refused.status).toBe(403);
    expect(await crlNumber()).toBe(before + 1n);
  });

  it('an unknown issuer is a 404 page', async () => {
    const page = await admin.get('/issuers/no-such-ca');
    expect(page.status).toBe(404);
    expect(textOf(page.html)).toContain('There is no issuer at this address');
    const post = await admin.post('/issuers/no-such-ca/crl', {});
    expect(post.status).toBe(404);
  });
});

describe('an auditor', () => {
  it('gets 403 from the issue form and from re-signing, sees no Issue link nor Re-sign button, and may judge', async () => {
    const created = await anvil.authority.users.create({ username: 'aud', role: 'auditor' }, { id: 'test', name: 'test', source: null });
    const aud = new ConsoleClient(anvil);
    expect((await aud.signIn('aud', created.password)).url).toBe('/account/password');
    const changed = await aud.post('/account/password', {
      current: created.password,
      next: 'auditor pass phrase',
      confirm: 'auditor pass phrase',
    });
    expect(changed.url).toBe('/account/password?done=1');

    const home = await aud.get('/');
    expect(home.html).not.toContain('href="/issue"');
    expect((await aud.get('/issue')).status).toBe(403);
    const before = await certificateCount();
    const post = await aud.post('/issue', { nonce: 'a'.repeat(32), profile: 'client', keySource: 'generate', CN: 'aud', dns: 'aud.test' });
    expect(post.status).toBe(403);
    expect(await certificateCount()).toBe(before);

    const detail = await aud.get(`/issuers/${intermediate}`);
    expect(detail.status).toBe(200);
    expect(detail.html).not.toContain('Re-sign CRL now');
    expect(detail.html).not.toContain(`action="/issuers/${intermediate}/crl"`);
    const header = await anvil.authority.crlHeader(anvil.authority.issuerByName(intermediate));
    const resign = await aud.post(`/issuers/${intermediate}/crl`, {});
    expect(resign.status).toBe(403);
    expect((await anvil.authority.crlHeader(anvil.authority.issuerByName(intermediate)))!.number).toBe(header!.number);

    const judged = await aud.get('/judge');
    expect(judged.status).toBe(200);
  });
});

/**
 * Bundle formats over the API: the PKCS#12 and Kubernetes Secret in the issuance response,
 * the PKCS#7 and Secret downloads, and the inputs they refuse. Tools we did not write read the
 * same bundles in test/interop/bundles.test.ts.
 */
import { Writable } from 'node:stream';
import * as asn1js from 'asn1js';
import pino from 'pino';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseDocument } from 'yaml';
import { createApp } from '../../apps/server/src/app.ts';
import { keyAndCsr, parseSans } from '../../apps/cli/src/csr.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
beforeAll(async () => {
  anvil = await createTestAnvil();
});
afterAll(async () => {
  await anvil?.close();
});

const CLIENT = { profile: 'client', subject: { CN: 'partner-a' }, sans: { dns: ['a.partner.test'] } };

async function issue(body: Record<string, unknown>, headers?: Record<string, string>) {
  const res = await anvil.api('POST', '/api/v1/certificates', body, headers);
  return { status: res.status, body: await res.json() };
}

async function csrPem(cn = 'partner-b') {
  return (await keyAndCsr({ keyAlgorithm: 'EC-P256', commonName: cn, sans: parseSans([`dns:${cn}.partner.test`]) })).csrPem;
}

function derSequence(b64: string) {
  const der = new Uint8Array(Buffer.from(b64, 'base64'));
  const asn = asn1js.fromBER(der);
  expect(asn.offset).toBe(der.byteLength);
  return asn.result;
}

describe('PKCS#12 in the issuance response', () => {
  it('is absent unless asked for', async () => {
    const { status, body } = await issue(CLIENT);
    expect(status).toBe(201);
    expect(body.pkcs12).toBeUndefined();
    expect(body.kubernetesSecret).toBeUndefined();
  });

  it.each([
    ['modern', false, '1.2.840.113549.1.5.13'], // PBES2
    ['legacy', true, '1.2.840.113549.1.12.1.3'], // pbeWithSHAAnd3-KeyTripleDES-CBC
  ])('carries key, leaf and intermediate (%s)', async (_name, legacy, keyBagAlgorithm) => {
    const { status, body } = await issue({ ...CLIENT, pkcs12Password: 'correct horse', pkcs12Legacy: legacy });
    expect(status).toBe(201);
    expect(body.privateKey).toMatch(/BEGIN PRIVATE KEY/);
    const pfx = new pkijs.PFX({ schema: derSequence(body.pkcs12) });
    expect(pfx.version).toBe(3);
    // The shrouded key bag sits in the unencrypted half; its algorithm says which scheme was used.
    const authSafe = new pkijs.AuthenticatedSafe({
      schema: asn1js.fromBER((pfx.authSafe.content as asn1js.OctetString).getValue()).result,
    });
    const keyContents = new pkijs.SafeContents({
      schema: asn1js.fromBER((authSafe.safeContents[1].content as asn1js.OctetString).getValue()).result,
    });
    const keyBag = keyContents.safeBags[0].bagValue as pkijs.PKCS8ShroudedKeyBag;
    expect(keyBag.encryptionAlgorithm.algorithmId).toBe(keyBagAlgorithm);
  });

  it('refuses a password with a CSR: there is no key to bundle', async () => {
    const { status, body } = await issue({ profile: 'client', csr: await csrPem(), pkcs12Password: 'pw' });
    expect(status).toBe(422);
    expect(body.code).toBe('pkcs12_requires_generated_key');
    expect(body.detail).toMatch(/csr/);
  });

  it('refuses an empty password', async () => {
    const { status, body } = await issue({ ...CLIENT, pkcs12Password: '' });
    expect(status).toBe(400);
    expect(body.code).toBe('validation_failed');
    expect(body.errors.map((e: { path: string }) => e.path)).toContain('pkcs12Password');
  });

  it('refuses a NUL in the password, before issuing anything', async () => {
    const before = (await (await anvil.api('GET', '/api/v1/certificates?limit=500')).json()).items.length;
    const { status, body } = await issue({ ...CLIENT, pkcs12Password: 'a\u0000b' });
    expect(status).toBe(400);
    expect(body.detail).toMatch(/NUL/);
    const after = (await (await anvil.api('GET', '/api/v1/certificates?limit=500')).json()).items.length;
    expect(after).toBe(before);
  });

  it('refuses pkcs12Legacy without a password', async () => {
    const { status, body } = await issue({ ...CLIENT, pkcs12Legacy: true });
    expect(status).toBe(422);
    expect(body.code).toBe('pkcs12_password_required');
  });

  it('is not in an idempotent replay, which has no key', async () => {
    const headers = { 'idempotency-key': 'bundle-replay-1' };
    const first = await issue({ ...CLIENT, pkcs12Password: 'pw1' }, headers);
    expect(first.status).toBe(201);
    expect(first.body.pkcs12).toBeTruthy();
    // The password is not part of the request identity: a replay with another one is a replay.
    const again = await issue({ ...CLIENT, pkcs12Password: 'pw2' }, headers);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.pkcs12).toBeUndefined();
    expect(again.body.privateKey).toBeUndefined();
  });
});

describe('Kubernetes Secret', () => {
  it('comes with the issuance when asked, holding tls.crt, tls.key and ca.crt', async () => {
    const { status, body } = await issue({ ...CLIENT, kubernetesSecret: { name: 'partner-a-mtls', namespace: 'payments' } });
    expect(status).toBe(201);
    const secret = parseYaml(body.kubernetesSecret);
    expect(secret).toMatchObject({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'partner-a-mtls', namespace: 'payments', annotations: { 'anvil/certificate-id': body.id } },
    });
    const decode = (k: string) => Buffer.from(secret.data[k], 'base64').toString('utf8');
    expect(decode('tls.crt')).toBe(body.fullchain);
    expect(decode('tls.key')).toBe(body.privateKey);
    expect(decode('ca.crt')).toBe(anvil.authority.trustBundlePem());
  });

  it('accepts true, naming the Secret after the CN', async () => {
    const { body } = await issue({ ...CLIENT, kubernetesSecret: true });
    expect(parseYaml(body.kubernetesSecret).metadata.name).toBe('partner-a-tls');
  });

  it('is refused in the issuance request with a CSR', async () => {
    const { status, body } = await issue({ profile: 'client', csr: await csrPem(), kubernetesSecret: true });
    expect(status).toBe(422);
    expect(body.code).toBe('kubernetes_secret_requires_generated_key');
  });

  it('refuses names Kubernetes would refuse', async () => {
    const { status, body } = await issue({ ...CLIENT, kubernetesSecret: { name: 'Not_Valid' } });
    expect(status).toBe(400);
    expect(body.errors[0].path).toMatch(/kubernetesSecret/);
  });

  it('downloads as secret.yaml without tls.key, and says why', async () => {
    const { body: cert } = await issue({ profile: 'client', csr: await csrPem('partner-c') });
    const res = await anvil.api('GET', `/api/v1/certificates/${cert.id}/secret.yaml?namespace=edge`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/yaml/);
    const text = await res.text();
    const doc = parseDocument(text);
    expect(doc.errors).toEqual([]);
    const comments = text
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .join('\n');
    expect(comments).toMatch(/tls\.key is absent: Anvil never stores private keys/);
    const secret = doc.toJS();
    expect(secret.metadata).toMatchObject({ name: 'partner-c-tls', namespace: 'edge' });
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'tls.crt']);
    expect(Buffer.from(secret.data['tls.crt'], 'base64').toString()).toBe(cert.fullchain);
  });

  it('refuses a bad namespace in the download', async () => {
    const { body: cert } = await issue(CLIENT);
    const res = await anvil.api('GET', `/api/v1/certificates/${cert.id}/secret.yaml?namespace=${encodeURIComponent('a/b')}`);
    expect(res.status).toBe(400);
  });
});

describe('PKCS#7 downloads', () => {
  it('bundle.p7b is DER certs-only SignedData: leaf, then intermediate', async () => {
    const { body: cert } = await issue(CLIENT);
    const res = await anvil.api('GET', `/api/v1/certificates/${cert.id}/bundle.p7b`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/pkcs7-mime/);
    const der = new Uint8Array(await res.arrayBuffer());
    const info = new pkijs.ContentInfo({ schema: asn1js.fromBER(der).result });
    expect(info.contentType).toBe('1.2.840.113549.1.7.2');
    const sd = new pkijs.SignedData({ schema: info.content });
    expect(sd.signerInfos).toHaveLength(0);
    const certs = (sd.certificates ?? []) as pkijs.Certificate[];
    expect(certs).toHaveLength(2);
    expect(Buffer.from(certs[0].toSchema().toBER()).equals(Buffer.from(cert.certificate.split('\n').slice(1, -2).join(''), 'base64'))).toBe(
      true,
    );
  });

  it('bundle.p7b.pem is the same, armoured', async () => {
    const { body: cert } = await issue(CLIENT);
    const der = Buffer.from(await (await anvil.api('GET', `/api/v1/certificates/${cert.id}/bundle.p7b`)).arrayBuffer());
    const res = await anvil.api('GET', `/api/v1/certificates/${cert.id}/bundle.p7b.pem`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^-----BEGIN PKCS7-----\n/);
    expect(Buffer.from(text.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64').equals(der)).toBe(true);
  });

  it('needs a token and a known id', async () => {
    const { body: cert } = await issue(CLIENT);
    expect((await anvil.app.request(`/api/v1/certificates/${cert.id}/bundle.p7b`)).status).toBe(401);
    const missing = await anvil.api('GET', '/api/v1/certificates/00000000-0000-4000-8000-000000000000/bundle.p7b');
    expect(missing.status).toBe(404);
    expect((await missing.json()).code).toBe('certificate_not_found');
  });
});

describe('logs', () => {
  it('never hold the PKCS#12 password or the key, and carry one access line per request', async () => {
    let captured = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        captured += chunk.toString();
        done();
      },
    });
    const app = createApp({ authority: anvil.authority, log: pino({ level: 'debug' }, sink) });
    const password = 'unmistakable-p12-password-4711';
    const res = await app.request('/api/v1/certificates', {
      method: 'POST',
      headers: { authorization: `Bearer ${anvil.token}`, 'content-type': 'application/json', 'x-request-id': 'req-bundles-1' },
      body: JSON.stringify({ ...CLIENT, pkcs12Password: password, kubernetesSecret: true }),
    });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(captured).not.toContain(password);
    expect(captured).not.toContain(anvil.token);
    expect(captured).not.toContain(body.privateKey.split('\n')[1]);
    const access = captured
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'request');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ method: 'POST', path: '/api/v1/certificates', status: 201, requestId: 'req-bundles-1' });
    expect(typeof access[0].durationMs).toBe('number');
    expect(access[0].headers).toBeUndefined();
  });
});

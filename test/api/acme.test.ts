/**
 * The ACME server (RFC 8555) end to end: acme-client (a real client we did not write) orders,
 * validates http-01 against a tiny HTTP server here, finalizes and downloads; hand-built JWS
 * requests (node:crypto + @anvil/pki's jws helpers) probe every refusal. Certificates are checked
 * with openssl, revocations through the CRL Anvil publishes.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlEncode, jwkThumbprint, pemToDerList } from '@anvil/pki';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, openssl, tempDir, writeFiles } from '../support/tools.ts';

const PROFILE = 'acme-web';
const NAMES = [
  'twice.acme.test',
  'www.acme.test',
  'api.acme.test',
  'bad.acme.test',
  'csr.acme.test',
  'rev1.acme.test',
  'rev2.acme.test',
  'rl.acme.test',
];

let anvil: TestAnvil;
let challengeServer: Server;
/** token -> the body the challenge server answers with. */
const answers = new Map<string, string>();
let dir: string;
const hasOpenssl = haveTool('openssl');

beforeAll(async () => {
  challengeServer = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const body = token ? answers.get(token) : undefined;
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' }).end(body ?? 'not found');
  });
  await new Promise<void>((r) => challengeServer.listen(0, '127.0.0.1', r));
  const httpPort = (challengeServer.address() as AddressInfo).port;
  anvil = await createTestAnvil({
    listen: true,
    mtls: true,
    // Test settings: loopback is allowed only here (the default refuses it), names map to 127.0.0.1.
    acmeValidation: {
      httpPort,
      tlsPort: 1,
      hosts: new Map(NAMES.map((n) => [n, '127.0.0.1'])),
      allowedNetworks: ['127.0.0.0/8'],
      dnsResolver: null,
      timeoutMs: 3000,
    },
    acmeLimits: { ordersPerAccountPerHour: 6, certificatesPerNamePerWeek: 2 },
  });
  const created = await anvil.api('POST', '/api/v1/profiles', {
    name: PROFILE,
    kind: 'server',
    policy: { sanTypes: ['dns', 'ip'], dnsSuffixes: ['acme.test'], acme: { enabled: true, challenges: ['http-01'] } },
  });
  expect(created.status).toBe(201);
  dir = `${anvil.publicUrl}/acme/${PROFILE}/directory`;
}, 60_000);

afterAll(async () => {
  await anvil?.authority.acme.settled();
  await new Promise((r) => challengeServer?.close(r));
  await anvil?.close();
});

const ecKey = () => acme.crypto.createPrivateEcdsaKey('P-256');

function newClient(accountKey: Buffer) {
  return new acme.Client({ directoryUrl: dir, accountKey, backoffAttempts: 8, backoffMin: 100, backoffMax: 500 });
}

/** Orders `names` with acme-client, answering http-01 with `answer(keyAuthorization)`; returns the order after validation. */
async function orderAndValidate(client: acme.Client, names: string[], answer: (ka: string) => string = (ka) => ka) {
  const order = await client.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })) });
  for (const authz of await client.getAuthorizations(order)) {
    const challenge = authz.challenges.find((ch) => ch.type === 'http-01')!;
    answers.set(challenge.token, answer(await client.getChallengeKeyAuthorization(challenge)));
    await client.completeChallenge(challenge);
    await client.waitForValidStatus(challenge).catch(() => {});
  }
  await anvil.authority.acme.settled();
  return client.getOrder(order);
}

async function certificateCount(): Promise<number> {
  return (await anvil.authority.certificateCounts()).reduce((n, c) => n + c.count, 0);
}

function verifyServerCert(fullchain: string): string {
  const certs = fullchain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
  const d = tempDir('anvil-acme-');
  const files = writeFiles(d, { 'leaf.pem': certs[0], 'chain.pem': certs.slice(1).join(''), 'root.pem': anvil.authority.trustBundlePem() });
  return openssl(
    'verify',
    '-x509_strict',
    '-purpose',
    'sslserver',
    '-CAfile',
    files['root.pem'],
    '-untrusted',
    files['chain.pem'],
    files['leaf.pem'],
  );
}

// ---- hand-built JWS --------------------------------------------------------------------------

interface Signer {
  key: KeyObject;
  jwk: JsonWebKey;
}

function es256(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { key: privateKey, jwk: publicKey.export({ format: 'jwk' }) as JsonWebKey };
}

const b64 = (s: string) => Buffer.from(s).toString('base64url');

async function nonce(): Promise<string> {
  const res = await fetch(`${anvil.publicUrl}/acme/${PROFILE}/new-nonce`, { method: 'HEAD' });
  return res.headers.get('replay-nonce')!;
}

interface PostOptions {
  kid?: string;
  nonce?: string;
  url?: string;
  alg?: string;
  tamper?: boolean;
  contentType?: string;
}

/** A flattened JWS POST signed with `signer` (jwk in the header unless `kid`). `payload` null: POST-as-GET. */
async function post(path: string, signer: Signer, payload: unknown, options: PostOptions = {}): Promise<Response> {
  const url = `${anvil.publicUrl}/acme/${PROFILE}/${path}`;
  const header = {
    alg: options.alg ?? 'ES256',
    nonce: options.nonce ?? (await nonce()),
    url: options.url ?? url,
    ...(options.kid ? { kid: options.kid } : { jwk: signer.jwk }),
  };
  const protectedB64 = b64(JSON.stringify(header));
  const payloadB64 = payload === null ? '' : b64(JSON.stringify(payload));
  const signature = sign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), { key: signer.key, dsaEncoding: 'ieee-p1363' });
  if (options.tamper) signature[0] ^= 1;
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': options.contentType ?? 'application/jose+json' },
    body: JSON.stringify({ protected: protectedB64, payload: payloadB64, signature: base64urlEncode(signature) }),
  });
}

async function problemOf(res: Response): Promise<{ status: number; type: string; body: Record<string, unknown> }> {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, type: String(body.type).replace('urn:ietf:params:acme:error:', ''), body };
}

async function newAccount(signer: Signer): Promise<string> {
  const res = await post('new-account', signer, { termsOfServiceAgreed: true });
  expect(res.status).toBe(201);
  return res.headers.get('location')!;
}

// ---- the suites ------------------------------------------------------------------------------

describe('acme-client end to end', () => {
  it('orders, validates http-01, finalizes and downloads a certificate openssl accepts as a TLS server certificate', async () => {
    const client = newClient(await ecKey());
    await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@acme.test'] });
    const before = await certificateCount();
    const order = await orderAndValidate(client, ['www.acme.test', 'api.acme.test']);
    expect(order.status).toBe('ready');
    const [, csr] = await acme.crypto.createCsr({ commonName: 'www.acme.test', altNames: ['www.acme.test', 'api.acme.test'] });
    const finalized = await client.finalizeOrder(order, csr);
    expect(finalized.status).toBe('valid');
    const pem = await client.getCertificate(finalized);
    expect(await certificateCount()).toBe(before + 1);
    const info = await acme.crypto.readCertificateInfo(pem);
    expect(info.domains.altNames.sort()).toEqual(['api.acme.test', 'www.acme.test']);
    if (hasOpenssl) expect(verifyServerCert(pem)).toMatch(/leaf\.pem: OK/);

    // Issued by the account: the audit trail names it for the order, the validation and the certificate.
    const accountId = client.getAccountUrl().split('/').pop()!;
    const rows = await anvil.authority.listAudit({ limit: 50, actor: accountId });
    const actions = rows.map((r) => r.action);
    for (const a of ['acme.account.create', 'acme.order.create', 'acme.challenge.validate', 'certificate.issue', 'acme.order.finalize']) {
      expect(actions).toContain(a);
    }
  });

  it('answers a wrong http-01 response with an invalid order and issues nothing', async () => {
    const client = newClient(await ecKey());
    await client.createAccount({ termsOfServiceAgreed: true });
    const before = await certificateCount();
    const order = await orderAndValidate(client, ['bad.acme.test'], (ka) => `${ka}x`);
    expect(order.status).toBe('invalid');
    const [authz] = await client.getAuthorizations(order);
    expect(authz.status).toBe('invalid');
    expect(authz.challenges[0].status).toBe('invalid');
    expect(String((authz.challenges[0] as { error?: { type?: string } }).error?.type)).toBe('urn:ietf:params:acme:error:incorrectResponse');
    const [, csr] = await acme.crypto.createCsr({ altNames: ['bad.acme.test'] });
    await expect(client.finalizeOrder(order, csr)).rejects.toThrow();
    expect(await certificateCount()).toBe(before);
  });

  it('refuses a CSR naming a name that is not in the order (badCSR) and leaves the order ready', async () => {
    const client = newClient(await ecKey());
    await client.createAccount({ termsOfServiceAgreed: true });
    const order = await orderAndValidate(client, ['csr.acme.test']);
    expect(order.status).toBe('ready');
    const [, csr] = await acme.crypto.createCsr({ altNames: ['csr.acme.test', 'www.acme.test'] });
    await expect(client.finalizeOrder(order, csr)).rejects.toThrow(/exactly the order's identifiers/);
    expect((await client.getOrder(order)).status).toBe('ready');
  });

  it('revokes by the account key and by the certificate key; the CRL lists both', async () => {
    const client = newClient(await ecKey());
    await client.createAccount({ termsOfServiceAgreed: true });
    const certs: string[] = [];
    const keys: Buffer[] = [];
    for (const name of ['rev1.acme.test', 'rev2.acme.test']) {
      const order = await orderAndValidate(client, [name]);
      const [key, csr] = await acme.crypto.createCsr({ altNames: [name] }, await ecKey());
      certs.push(await client.getCertificate(await client.finalizeOrder(order, csr)));
      keys.push(key);
    }
    await client.revokeCertificate(certs[0], { reason: 4 });
    await expect(client.revokeCertificate(certs[0])).rejects.toThrow(/revoked already/);

    // By the certificate's own key: a JWS with that key as jwk, no account.
    const certKey = createPublicKey(keys[1]);
    const signer: Signer = {
      key: (await import('node:crypto')).createPrivateKey(keys[1]),
      jwk: certKey.export({ format: 'jwk' }) as JsonWebKey,
    };
    const der = pemToDerList(certs[1], ['CERTIFICATE'])[0];
    const stranger = es256();
    expect((await problemOf(await post('revoke-cert', stranger, { certificate: base64urlEncode(der) }))).type).toBe('unauthorized');
    expect((await problemOf(await post('revoke-cert', signer, { certificate: base64urlEncode(der), reason: 6 }))).type).toBe(
      'badRevocationReason',
    );
    const res = await post('revoke-cert', signer, { certificate: base64urlEncode(der), reason: 1 });
    expect(res.status).toBe(200);

    const listed = await anvil.api('GET', `/api/v1/certificates?profile=${PROFILE}&status=revoked`);
    const revoked = ((await listed.json()) as { items: Array<{ serial: string; issuer: string; revocationReason: string }> }).items;
    expect(revoked.map((r) => r.revocationReason).sort()).toEqual(['keyCompromise', 'superseded']);
    if (hasOpenssl) {
      const crl = await anvil.app.request(`/pki/crl/${revoked[0].issuer}.crl`);
      const d = tempDir('anvil-acme-crl-');
      const files = writeFiles(d, { 'c.crl': new Uint8Array(await crl.arrayBuffer()) });
      const text = openssl('crl', '-inform', 'DER', '-in', files['c.crl'], '-noout', '-text').replace(/\s+/g, ' ');
      for (const r of revoked) expect(text.toUpperCase()).toContain(r.serial.replace(/^00/, '').toUpperCase());
    }
  });

  it('rolls the account key over and deactivates the account', async () => {
    const client = newClient(await ecKey());
    const account = await client.createAccount({ termsOfServiceAgreed: true });
    expect(account.status).toBe('valid');
    const url = client.getAccountUrl();
    // A key another account holds is refused (409), and the account keeps its key.
    const takenKey = await ecKey();
    await newClient(takenKey).createAccount({ termsOfServiceAgreed: true });
    await expect(client.updateAccountKey(takenKey)).rejects.toThrow(/belongs to an account already/);
    expect((await client.updateAccount({})).status).toBe('valid');
    const newKey = await ecKey();
    await client.updateAccountKey(newKey);
    // The old key no longer finds an account; the new one finds the same account.
    await expect(newClient(await ecKey()).createAccount({ onlyReturnExisting: true })).rejects.toThrow(/no account/i);
    const again = newClient(newKey);
    await again.createAccount({ onlyReturnExisting: true });
    expect(again.getAccountUrl()).toBe(url);
    const deactivated = await again.updateAccount({ status: 'deactivated' } as never);
    expect(deactivated.status).toBe('deactivated');
    await expect(newClient(newKey).createAccount({ onlyReturnExisting: true })).rejects.toThrow(/deactivated/);
    await expect(again.createOrder({ identifiers: [{ type: 'dns', value: 'www.acme.test' }] })).rejects.toThrow(/deactivated/);
  });

  it('limits certificates per name and week with rateLimited', async () => {
    const client = newClient(await ecKey());
    await client.createAccount({ termsOfServiceAgreed: true });
    for (let i = 0; i < 2; i++) {
      const order = await orderAndValidate(client, ['twice.acme.test']);
      const [, csr] = await acme.crypto.createCsr({ altNames: ['twice.acme.test'] });
      expect((await client.finalizeOrder(order, csr)).status).toBe('valid');
    }
    // By hand: acme-client would sleep out the Retry-After of a 429.
    const other = es256();
    const kid = await newAccount(other);
    const res = await post('new-order', other, { identifiers: [{ type: 'dns', value: 'twice.acme.test' }] }, { kid });
    const p = await problemOf(res);
    expect([p.status, p.type]).toEqual([429, 'rateLimited']);
    expect(String(p.body.detail)).toMatch(/2 certificates this week/);
    expect(res.headers.get('retry-after')).toBe('86400');
  });
});

describe('External Account Binding', () => {
  it("requires a binding where the profile says so, and holds the account to the binding's names", async () => {
    const created = await anvil.api('POST', '/api/v1/profiles', {
      name: 'acme-eab',
      kind: 'server',
      policy: { sanTypes: ['dns'], acme: { enabled: true, requireEab: true, challenges: ['http-01'] } },
    });
    expect(created.status).toBe(201);
    const eabDir = `${anvil.publicUrl}/acme/acme-eab/directory`;
    expect(((await (await fetch(eabDir)).json()) as { meta: { externalAccountRequired: boolean } }).meta.externalAccountRequired).toBe(
      true,
    );
    const plain = new acme.Client({ directoryUrl: eabDir, accountKey: await ecKey() });
    await expect(plain.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/External Account Binding/);

    const { keyId, hmacKey } = await anvil.authority.acmeEab.create(
      { name: 'partner', profiles: ['acme-eab'], sanPatterns: ['*.acme.test'] },
      { id: 'test', name: 'test', source: null },
    );
    const bound = new acme.Client({ directoryUrl: eabDir, accountKey: await ecKey(), externalAccountBinding: { kid: keyId, hmacKey } });
    await bound.createAccount({ termsOfServiceAgreed: true });
    const account = await anvil.store.acme.getAccount(bound.getAccountUrl().split('/').pop()!);
    expect(account?.eabKeyId).toBe(keyId);
    expect(account?.limits?.sanPatterns).toEqual(['*.acme.test']);
    await expect(bound.createOrder({ identifiers: [{ type: 'dns', value: 'www.example.org' }] })).rejects.toThrow(/may not issue/);
    expect((await bound.createOrder({ identifiers: [{ type: 'dns', value: 'www.acme.test' }] })).status).toBe('pending');
  });
});

describe('hand-built requests', () => {
  let signer: Signer;
  let kid: string;
  beforeAll(async () => {
    signer = es256();
    kid = await newAccount(signer);
  });

  it('serves the directory with nonce and index link, and refuses profiles without ACME with 404', async () => {
    const res = await fetch(dir);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body.newOrder).toBe(`${anvil.publicUrl}/acme/${PROFILE}/new-order`);
    expect(body.renewalInfo).toBe(`${anvil.publicUrl}/acme/${PROFILE}/renewal-info`);
    expect(res.headers.get('replay-nonce')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(res.headers.get('link')).toBe(`<${dir}>;rel="index"`);
    expect((await fetch(`${anvil.publicUrl}/acme/${PROFILE}/new-nonce`)).status).toBe(204);
    const none = await fetch(`${anvil.publicUrl}/acme/server/directory`);
    const p = await problemOf(none);
    expect([p.status, p.type]).toEqual([404, 'malformed']);
    expect(String(p.body.detail)).toMatch(/no ACME directory/);
  });

  it('answers on the mTLS listener with URLs of the origin the client used, and only for its own host names', async () => {
    const get = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: anvil.mtls!.port,
            path: `/acme/${PROFILE}/directory`,
            headers: { host },
            servername: 'localhost',
            ca: anvil.authority.trustBundlePem(),
          },
          (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const origin = `localhost:${anvil.mtls!.port}`;
    const ok = await get(origin);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).newAccount).toBe(`https://${origin}/acme/${PROFILE}/new-account`);
    const other = await get(`evil.test:${anvil.mtls!.port}`);
    expect(other.status).toBe(421);
  });

  it('returns the existing account for a known key (200, same Location), with its orders list', async () => {
    const res = await post('new-account', signer, {});
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBe(kid);
    const { orders } = (await res.json()) as { orders: string };
    expect(orders).toBe(`${kid}/orders`);
    const created = await post('new-order', signer, { identifiers: [{ type: 'dns', value: 'www.acme.test' }] }, { kid });
    const list = (await (await post(`acct/${kid.split('/').pop()}/orders`, signer, null, { kid, url: orders })).json()) as {
      orders: string[];
    };
    expect(list.orders).toContain(created.headers.get('location'));
    // Another account's list is not this one's to read.
    const p = await problemOf(await post(`acct/${randomUUID()}/orders`, signer, null, { kid }));
    expect(p.type).toBe('unauthorized');
  });

  it('refuses a bad signature as malformed', async () => {
    const p = await problemOf(
      await post('new-order', signer, { identifiers: [{ type: 'dns', value: 'www.acme.test' }] }, { kid, tamper: true }),
    );
    expect([p.status, p.type]).toEqual([400, 'malformed']);
    expect(String(p.body.detail)).toMatch(/signature/);
  });

  it('refuses a replayed and an unknown nonce with badNonce and a fresh Replay-Nonce', async () => {
    const n = await nonce();
    expect((await post(`acct/${kid.split('/').pop()}`, signer, null, { kid, nonce: n })).status).toBe(200);
    const replay = await post(`acct/${kid.split('/').pop()}`, signer, null, { kid, nonce: n });
    expect((await problemOf(replay)).type).toBe('badNonce');
    expect(replay.headers.get('replay-nonce')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(replay.headers.get('replay-nonce')).not.toBe(n);
    expect((await problemOf(await post('new-account', es256(), {}, { nonce: 'bm90LWlzc3VlZA' }))).type).toBe('badNonce');
  });

  it('refuses a url that is not the request URL with unauthorized', async () => {
    const p = await problemOf(
      await post('new-order', signer, { identifiers: [] }, { kid, url: `${anvil.publicUrl}/acme/${PROFILE}/new-account` }),
    );
    expect([p.status, p.type]).toEqual([403, 'unauthorized']);
  });

  it.each(['none', 'HS256'])('refuses alg %s with badSignatureAlgorithm and the accepted list', async (alg) => {
    const p = await problemOf(await post('new-account', es256(), {}, { alg }));
    expect(p.type).toBe('badSignatureAlgorithm');
    expect(p.body.algorithms).toEqual(expect.arrayContaining(['ES256', 'RS256', 'EdDSA']));
  });

  it('refuses an unknown kid with accountDoesNotExist, a wrong content type, and bodies that are not JWS', async () => {
    const unknown = `${anvil.publicUrl}/acme/${PROFILE}/acct/${randomUUID()}`;
    expect((await problemOf(await post('new-order', signer, { identifiers: [] }, { kid: unknown }))).type).toBe('accountDoesNotExist');
    const wrongType = await post('new-account', es256(), {}, { contentType: 'application/json' });
    expect([wrongType.status, (await problemOf(wrongType)).type]).toEqual([415, 'malformed']);
    for (const body of ['not json', '[]', '{"protected":"e30","payload":"","signature":"","extra":1}']) {
      const res = await fetch(`${anvil.publicUrl}/acme/${PROFILE}/new-account`, {
        method: 'POST',
        headers: { 'content-type': 'application/jose+json' },
        body,
      });
      expect((await problemOf(res)).type).toBe('malformed');
    }
  });

  it('refuses names outside the profile with rejectedIdentifier', async () => {
    const p = await problemOf(await post('new-order', signer, { identifiers: [{ type: 'dns', value: 'www.example.org' }] }, { kid }));
    expect([p.status, p.type]).toEqual([400, 'rejectedIdentifier']);
    const bad = await problemOf(await post('new-order', signer, { identifiers: [{ type: 'email', value: 'a@acme.test' }] }, { kid }));
    expect(bad.type).toBe('unsupportedIdentifier');
  });

  it('key authorization is the token and the account key thumbprint', async () => {
    const res = await post('new-order', signer, { identifiers: [{ type: 'dns', value: 'rl.acme.test' }] }, { kid });
    expect(res.status).toBe(201);
    const order = (await res.json()) as { authorizations: string[] };
    const authz = (await (await post(order.authorizations[0].split(`/${PROFILE}/`)[1], signer, null, { kid })).json()) as {
      challenges: Array<{ token: string; type: string }>;
    };
    expect(authz.challenges.map((c) => c.type)).toEqual(['http-01']);
    expect(authz.challenges[0].token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(jwkThumbprint(signer.jwk)).toBe(
      createHash('sha256')
        .update(JSON.stringify({ crv: 'P-256', kty: 'EC', x: signer.jwk.x, y: signer.jwk.y }))
        .digest('base64url'),
    );
  });

  it('limits orders per account and hour with rateLimited 429 and Retry-After', async () => {
    const limited = es256();
    const limitedKid = await newAccount(limited);
    const order = () => post('new-order', limited, { identifiers: [{ type: 'dns', value: 'rl.acme.test' }] }, { kid: limitedKid });
    for (let i = 0; i < 6; i++) expect((await order()).status).toBe(201);
    const res = await order();
    const p = await problemOf(res);
    expect([p.status, p.type]).toEqual([429, 'rateLimited']);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

/**
 * Profiles as data (issue 2): POST/GET/PUT /api/v1/profiles with a policy, then issuance under
 * it is allowed or refused accordingly. Runs on PGlite and PostgreSQL.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '@anvil/ca';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
const DAY = 86_400;
const PROD = 'prod-workloads';
const EDGE = 'edge-servers';

beforeAll(async () => {
  anvil = await createTestAnvil();
  const res = await anvil.api('POST', '/api/v1/issuers', { name: 'issuing-prod', keyAlgorithm: 'EC-P256' });
  expect(res.status).toBe(201);
});
afterAll(async () => {
  await anvil?.close();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await anvil.api(method, path, body);
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), body: text ? JSON.parse(text) : null };
}

async function certificateCount(): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const page: { items: unknown[]; nextCursor: string | null } = (
      await call('GET', `/api/v1/certificates?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    ).body;
    n += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return n;
}

const prodPolicy = {
  sanTypes: ['dns', 'ip', 'uri', 'email'],
  dnsSuffixes: ['svc.prod.example'],
  allowWildcards: false,
  ipCidrs: ['10.20.0.0/16', 'fd00:abcd::/32'],
  uriPrefixes: ['spiffe://prod.example/'],
  emailDomains: ['prod.example'],
  keyAlgorithms: ['EC-P256', 'RSA'],
  minRsaBits: 3072,
  defaultTtl: '7d',
  maxTtl: '30d',
  issuer: 'issuing-prod',
};

describe('profile CRUD', () => {
  it('lists the built-in profiles', async () => {
    const { status, body } = await call('GET', '/api/v1/profiles');
    expect(status).toBe(200);
    const byName = Object.fromEntries(body.items.map((p: { name: string }) => [p.name, p]));
    for (const name of ['server', 'client', 'peer']) {
      expect(byName[name].kind).toBe(name);
      expect(byName[name].builtin).toBe(true);
    }
    expect(byName.server.policy.allowWildcards).toBe(true);
    expect(byName.client.policy.allowWildcards).toBe(false);
  });

  it('creates a profile with a full policy (TTL durations become seconds) and reads it back', async () => {
    const created = await call('POST', '/api/v1/profiles', { name: PROD, kind: 'client', policy: prodPolicy });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toEqual({
      name: PROD,
      kind: 'client',
      builtin: false,
      policy: { ...prodPolicy, defaultTtl: 7 * DAY, maxTtl: 30 * DAY },
    });
    const read = await call('GET', `/api/v1/profiles/${PROD}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    const listed = await call('GET', '/api/v1/profiles');
    expect(listed.body.items.map((p: { name: string }) => p.name)).toContain(PROD);

    const edge = await call('POST', '/api/v1/profiles', {
      name: EDGE,
      kind: 'server',
      policy: {
        sanTypes: ['dns'],
        dnsSuffixes: ['Edge.Example.NET'],
        allowWildcards: true,
        keyAlgorithms: ['EC-P256', 'EC-P384', 'Ed25519'],
        maxTtl: 90 * DAY,
        defaultTtl: DAY,
      },
    });
    expect(edge.status, JSON.stringify(edge.body)).toBe(201);
  });

  it('refuses a duplicate name, unknown names and bad policies', async () => {
    const cases: Array<{ method: string; path: string; body?: unknown; status: number; code: string }> = [
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: PROD, kind: 'client', policy: prodPolicy },
        status: 409,
        code: 'profile_exists',
      },
      { method: 'GET', path: '/api/v1/profiles/no-such-profile', status: 404, code: 'unknown_profile' },
      {
        method: 'PUT',
        path: '/api/v1/profiles/no-such-profile',
        body: { kind: 'client', policy: prodPolicy },
        status: 404,
        code: 'unknown_profile',
      },
      {
        method: 'PUT',
        path: `/api/v1/profiles/${PROD}`,
        body: { kind: 'server', policy: prodPolicy },
        status: 422,
        code: 'profile_kind_change',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x1', kind: 'server', policy: { sanTypes: ['dns'], defaultTtl: '60d', maxTtl: '30d' } },
        status: 422,
        code: 'invalid_policy',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x2', kind: 'server', policy: { sanTypes: ['ip'], ipCidrs: ['10.0.0.0/33'] } },
        status: 422,
        code: 'invalid_policy',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x3', kind: 'server', policy: { sanTypes: ['dns'], dnsSuffixes: ['bad suffix'] } },
        status: 422,
        code: 'invalid_policy',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x4', kind: 'server', policy: { sanTypes: ['dns'], issuer: 'no-such-ca' } },
        status: 404,
        code: 'unknown_issuer',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x5', kind: 'server', policy: { sanTypes: ['dns'], minRsaBits: 1024 } },
        status: 400,
        code: 'validation_failed',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x6', kind: 'server', policy: { sanTypes: [] } },
        status: 400,
        code: 'validation_failed',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x7', kind: 'server', policy: { sanTypes: ['dns'], keyAlgorithms: ['DSA'] } },
        status: 400,
        code: 'validation_failed',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x8', kind: 'ca', policy: { sanTypes: ['dns'] } },
        status: 400,
        code: 'validation_failed',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'Bad Name', kind: 'server', policy: { sanTypes: ['dns'] } },
        status: 400,
        code: 'validation_failed',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x9', kind: 'server', builtin: true, policy: { sanTypes: ['dns'] } },
        status: 400,
        code: 'validation_failed',
      },
      {
        method: 'POST',
        path: '/api/v1/profiles',
        body: { name: 'x10', kind: 'server', policy: { sanTypes: ['dns'], maxTtl: 'soon' } },
        status: 422,
        code: 'invalid_ttl',
      },
    ];
    for (const c of cases) {
      const r = await call(c.method, c.path, c.body);
      expect(r.status, `${c.method} ${c.path} ${JSON.stringify(c.body)} -> ${JSON.stringify(r.body)}`).toBe(c.status);
      expect(r.contentType).toBe('application/problem+json');
      expect(r.body.code).toBe(c.code);
    }
    const names = (await call('GET', '/api/v1/profiles')).body.items.map((p: { name: string }) => p.name);
    expect(names.filter((n: string) => /^x\d+$/.test(n))).toEqual([]);
  });

  it('only admin tokens may create or change profiles; any token may read them', async () => {
    const token = 'anvil_test_issue_only_token_0123456789';
    await anvil.store.insertToken({ name: 'issuer-bot', tokenHash: hashToken(token), scopes: ['certificates:issue'] });
    const as = (method: string, path: string, body?: unknown) =>
      anvil.app.request(path, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const post = await as('POST', '/api/v1/profiles', { name: 'sneaky', kind: 'server', policy: { sanTypes: ['dns'] } });
    expect(post.status).toBe(403);
    expect((await post.json()).code).toBe('forbidden');
    const put = await as('PUT', `/api/v1/profiles/${PROD}`, { kind: 'client', policy: { ...prodPolicy, dnsSuffixes: ['example'] } });
    expect(put.status).toBe(403);
    expect((await as('GET', `/api/v1/profiles/${PROD}`)).status).toBe(200);
    expect((await call('GET', `/api/v1/profiles/${PROD}`)).body.policy.dnsSuffixes).toEqual(['svc.prod.example']);
    expect((await call('GET', '/api/v1/profiles/sneaky')).status).toBe(404);
  });

  it('writes profile changes to the audit trail', async () => {
    const audit = (await call('GET', '/api/v1/audit?limit=500')).body.items as Array<{ action: string; target: string }>;
    expect(audit.some((e) => e.action === 'profile.create' && e.target === PROD)).toBe(true);
    expect(audit.some((e) => e.action === 'profile.create' && e.target === EDGE)).toBe(true);
  });
});

describe('issuance under a profile policy', () => {
  const cn = { CN: 'workload-a' };

  const allowed: Array<{ name: string; body: Record<string, unknown>; check?: (v: Record<string, any>) => void }> = [
    { name: 'a DNS name under the suffix', body: { sans: { dns: ['api.svc.prod.example'] } } },
    {
      name: 'a DNS name equal to the suffix, any case',
      body: { sans: { dns: ['SVC.Prod.Example'] } },
      check: (v) => expect(v.sans.dns).toEqual(['svc.prod.example']),
    },
    { name: 'an IPv4 address inside 10.20.0.0/16', body: { sans: { ip: ['10.20.255.254'] } } },
    { name: 'an IPv6 address inside fd00:abcd::/32', body: { sans: { ip: ['fd00:abcd:1::7'] } } },
    { name: 'a SPIFFE ID under the URI prefix', body: { sans: { uri: ['spiffe://prod.example/ns/payments/sa/api'] } } },
    { name: 'an email in the allowed domain', body: { sans: { email: ['ops@prod.example'] } } },
    {
      name: 'every SAN type at once',
      body: { sans: { dns: ['a.svc.prod.example'], ip: ['10.20.0.1'], uri: ['spiffe://prod.example/a'], email: ['a@prod.example'] } },
    },
    {
      name: 'an RSA-3072 key (the policy minimum)',
      body: { keyAlgorithm: 'RSA-3072', sans: { dns: ['rsa.svc.prod.example'] } },
      check: (v) => expect(createPrivateKey(v.privateKey).asymmetricKeyDetails?.modulusLength).toBe(3072),
    },
    {
      name: 'the default TTL of 7 days',
      body: { sans: { dns: ['ttl.svc.prod.example'] } },
      check: (v) => expect((Date.parse(v.notAfter) - Date.parse(v.notBefore)) / 1000).toBe(7 * DAY + 60),
    },
    {
      name: 'a TTL of exactly the 30-day maximum',
      body: { ttl: '30d', sans: { dns: ['ttl30.svc.prod.example'] } },
      check: (v) => expect((Date.parse(v.notAfter) - Date.parse(v.notBefore)) / 1000).toBe(30 * DAY + 60),
    },
    {
      name: "the profile's issuer, named explicitly",
      body: { issuer: 'issuing-prod', sans: { dns: ['named.svc.prod.example'] } },
    },
  ];

  for (const c of allowed) {
    it(`allows ${c.name}`, async () => {
      const { status, body } = await call('POST', '/api/v1/certificates', { profile: PROD, subject: cn, ...c.body });
      expect(status, JSON.stringify(body)).toBe(201);
      expect(body.profile).toBe(PROD);
      // Issued by the profile's issuer, and the chain says so.
      expect(body.issuer).toBe('issuing-prod');
      const leaf = new X509Certificate(body.certificate);
      const chain = new X509Certificate(body.chain);
      expect(chain.subject).toContain('issuing-prod');
      expect(leaf.verify(chain.publicKey)).toBe(true);
      expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      c.check?.(body);
    });
  }

  const refused: Array<{ name: string; body: Record<string, unknown>; status?: number; code: string; profile?: string }> = [
    { name: 'a DNS name outside the suffixes', body: { sans: { dns: ['api.staging.example'] } }, code: 'san_not_allowed' },
    { name: 'a DNS name that only ends with the suffix text', body: { sans: { dns: ['evilsvc.prod.example'] } }, code: 'san_not_allowed' },
    { name: 'the bare parent of the suffix', body: { sans: { dns: ['prod.example'] } }, code: 'san_not_allowed' },
    { name: 'a wildcard (not allowed by this policy)', body: { sans: { dns: ['*.svc.prod.example'] } }, code: 'wildcard_not_allowed' },
    { name: 'an IPv4 address outside the CIDRs', body: { sans: { ip: ['10.21.0.1'] } }, code: 'san_not_allowed' },
    { name: 'an IPv6 address outside the CIDRs', body: { sans: { ip: ['fd00:abce::1'] } }, code: 'san_not_allowed' },
    { name: 'an IPv4-mapped IPv6 address of an allowed IPv4', body: { sans: { ip: ['::ffff:10.20.0.1'] } }, code: 'san_not_allowed' },
    { name: 'a URI under another trust domain', body: { sans: { uri: ['spiffe://staging.example/ns/a'] } }, code: 'san_not_allowed' },
    {
      name: 'a URI whose host merely starts with the trust domain',
      body: { sans: { uri: ['spiffe://prod.example.evil/ns/a'] } },
      code: 'san_not_allowed',
    },
    { name: 'a URI of another scheme', body: { sans: { uri: ['https://prod.example/ns/a'] } }, code: 'san_not_allowed' },
    { name: 'an email in another domain', body: { sans: { email: ['ops@staging.example'] } }, code: 'san_not_allowed' },
    {
      name: 'an email in a subdomain of the allowed domain',
      body: { sans: { email: ['ops@mail.prod.example'] } },
      code: 'san_not_allowed',
    },
    { name: 'one bad name among good ones', body: { sans: { dns: ['ok.svc.prod.example', 'bad.example'] } }, code: 'san_not_allowed' },
    { name: 'an EC-P384 key', body: { keyAlgorithm: 'EC-P384', sans: { dns: ['k.svc.prod.example'] } }, code: 'key_not_allowed' },
    { name: 'an Ed25519 key', body: { keyAlgorithm: 'Ed25519', sans: { dns: ['k.svc.prod.example'] } }, code: 'key_not_allowed' },
    {
      name: 'an RSA-2048 key (below the 3072 minimum)',
      body: { keyAlgorithm: 'RSA-2048', sans: { dns: ['k.svc.prod.example'] } },
      code: 'weak_key',
    },
    { name: 'a TTL above the 30-day maximum', body: { ttl: '31d', sans: { dns: ['t.svc.prod.example'] } }, code: 'ttl_too_long' },
    {
      name: 'a TTL one second above the maximum',
      body: { ttl: 30 * DAY + 1, sans: { dns: ['t.svc.prod.example'] } },
      code: 'ttl_too_long',
    },
    {
      name: 'another issuer than the profile names',
      body: { issuer: 'issuing-ca', sans: { dns: ['i.svc.prod.example'] } },
      code: 'issuer_not_allowed',
    },
    {
      name: 'a SAN type the profile excludes',
      profile: EDGE,
      body: { sans: { dns: ['www.edge.example.net'], ip: ['192.0.2.1'] } },
      code: 'san_type_not_allowed',
    },
    {
      name: 'a wildcard that is not the whole leftmost label',
      profile: EDGE,
      body: { sans: { dns: ['w*.edge.example.net'] } },
      code: 'invalid_dns_name',
    },
    {
      name: 'a wildcard below the leftmost label',
      profile: EDGE,
      body: { sans: { dns: ['www.*.edge.example.net'] } },
      code: 'invalid_dns_name',
    },
    { name: 'two wildcard labels', profile: EDGE, body: { sans: { dns: ['*.*.edge.example.net'] } }, code: 'invalid_dns_name' },
    { name: 'a wildcard outside the suffix', profile: EDGE, body: { sans: { dns: ['*.example.net'] } }, code: 'san_not_allowed' },
    {
      name: 'an RSA key where only EC and Ed25519 are allowed',
      profile: EDGE,
      body: { keyAlgorithm: 'RSA-2048', sans: { dns: ['r.edge.example.net'] } },
      code: 'key_not_allowed',
    },
  ];

  for (const c of refused) {
    it(`refuses ${c.name} (${c.code})`, async () => {
      const before = await certificateCount();
      const profile = c.profile ?? PROD;
      const { status, contentType, body } = await call('POST', '/api/v1/certificates', {
        profile,
        subject: profile === PROD ? cn : undefined,
        ...c.body,
      });
      expect(status, JSON.stringify(body)).toBe(c.status ?? 422);
      expect(contentType).toBe('application/problem+json');
      expect(body.code).toBe(c.code);
      expect(await certificateCount()).toBe(before);
    });
  }

  it('allows wildcards as the whole leftmost label under a profile that permits them (suffix match is case-insensitive)', async () => {
    const { status, body } = await call('POST', '/api/v1/certificates', {
      profile: EDGE,
      sans: { dns: ['*.www.edge.example.net', 'edge.example.net'] },
    });
    expect(status, JSON.stringify(body)).toBe(201);
    expect(new X509Certificate(body.certificate).subjectAltName).toBe('DNS:*.www.edge.example.net, DNS:edge.example.net');
    // No CN and a wildcard SAN: the default TTL of this profile (1 day) applies.
    expect((Date.parse(body.notAfter) - Date.parse(body.notBefore)) / 1000).toBe(DAY + 60);
  });
});

describe('policy matching edge cases', () => {
  beforeAll(async () => {
    const res = await call('POST', '/api/v1/profiles', {
      name: 'mesh',
      kind: 'peer',
      policy: { sanTypes: ['dns', 'ip', 'uri'], uriPrefixes: ['spiffe://mesh.example'], ipCidrs: ['2001:db8::/32', '192.0.2.0/24'] },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  // `x509` is how OpenSSL (node's X509Certificate) prints the SAN: IPv6 uncompressed, upper-case.
  const cases: Array<{ name: string; sans: Record<string, string[]>; status: number; code?: string; ip?: string[]; x509?: string }> = [
    {
      name: 'a trust-domain prefix without a slash allows IDs in that trust domain',
      sans: { uri: ['spiffe://mesh.example/ns/a'] },
      status: 201,
    },
    { name: 'and the trust domain ID itself', sans: { uri: ['spiffe://mesh.example'] }, status: 201 },
    {
      name: 'but not a longer host that starts with it',
      sans: { uri: ['spiffe://mesh.example.evil/ns/a'] },
      status: 422,
      code: 'san_not_allowed',
    },
    { name: 'nor userinfo tricks', sans: { uri: ['spiffe://mesh.example@evil.example/ns/a'] }, status: 422, code: 'san_not_allowed' },
    { name: 'nor another port', sans: { uri: ['spiffe://mesh.example:8443/ns/a'] }, status: 422, code: 'san_not_allowed' },
    {
      name: 'IPv6 in the CIDR, written long-hand, is stored as the certificate shows it',
      sans: { ip: ['2001:0DB8:0:0:0:0:0:1'] },
      status: 201,
      ip: ['2001:db8::1'],
      x509: 'IP Address:2001:DB8:0:0:0:0:0:1',
    },
    {
      name: 'an IPv4 address in 192.0.2.0/24',
      sans: { ip: ['192.0.2.200'] },
      status: 201,
      ip: ['192.0.2.200'],
      x509: 'IP Address:192.0.2.200',
    },
    { name: 'an IPv4 address next to the CIDR', sans: { ip: ['192.0.3.1'] }, status: 422, code: 'san_not_allowed' },
    { name: 'an IPv4-mapped address is not the IPv4 address', sans: { ip: ['::ffff:192.0.2.1'] }, status: 422, code: 'san_not_allowed' },
    { name: 'an IPv6 zone id', sans: { ip: ['2001:db8::1%eth0'] }, status: 422, code: 'invalid_ip' },
    { name: 'a URI that is not absolute', sans: { uri: ['mesh.example/ns/a'] }, status: 422, code: 'invalid_uri' },
    {
      name: 'a URI with non-ASCII characters (IA5String)',
      sans: { uri: ['spiffe://mesh.example/ns/ünï'] },
      status: 422,
      code: 'invalid_uri',
    },
    { name: 'the same URI percent-encoded', sans: { uri: ['spiffe://mesh.example/ns/%C3%BCn%C3%AF'] }, status: 201 },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.status}${c.code ? ` ${c.code}` : ''}`, async () => {
      const { status, body } = await call('POST', '/api/v1/certificates', { profile: 'mesh', sans: c.sans });
      expect(status, JSON.stringify(body)).toBe(c.status);
      if (c.code) expect(body.code).toBe(c.code);
      if (c.ip) {
        expect(body.sans.ip).toEqual(c.ip);
        expect(new X509Certificate(body.certificate).subjectAltName).toBe(c.x509);
      }
    });
  }

  it('email domains compare case-insensitively', async () => {
    const created = await call('POST', '/api/v1/profiles', {
      name: 'mail-clients',
      kind: 'client',
      policy: { sanTypes: ['email'], emailDomains: ['Corp.Example'] },
    });
    expect(created.status).toBe(201);
    const ok = await call('POST', '/api/v1/certificates', {
      profile: 'mail-clients',
      subject: { CN: 'alice' },
      sans: { email: ['Alice@CORP.example'] },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.sans.email).toEqual(['Alice@corp.example']);
    const other = await call('POST', '/api/v1/certificates', {
      profile: 'mail-clients',
      subject: { CN: 'bob' },
      sans: { email: ['bob@corp.example.org'] },
    });
    expect(other.body.code).toBe('san_not_allowed');
  });
});

describe('changing a profile changes what it issues', () => {
  it('PUT replaces the policy; issuance follows the new policy at once', async () => {
    const name = 'api.svc.staging.example';
    const before = await call('POST', '/api/v1/certificates', { profile: PROD, subject: { CN: 'w' }, sans: { dns: [name] } });
    expect(before.status).toBe(422);
    expect(before.body.code).toBe('san_not_allowed');

    const updated = await call('PUT', `/api/v1/profiles/${PROD}`, {
      kind: 'client',
      policy: {
        ...prodPolicy,
        dnsSuffixes: ['svc.prod.example', 'svc.staging.example'],
        keyAlgorithms: ['EC-P256', 'EC-P384'],
        maxTtl: '14d',
      },
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body.policy.maxTtl).toBe(14 * DAY);
    expect(updated.body.builtin).toBe(false);
    expect((await call('GET', `/api/v1/profiles/${PROD}`)).body.policy.dnsSuffixes).toEqual(['svc.prod.example', 'svc.staging.example']);

    const now = await call('POST', '/api/v1/certificates', {
      profile: PROD,
      subject: { CN: 'w' },
      keyAlgorithm: 'EC-P384',
      sans: { dns: [name] },
    });
    expect(now.status, JSON.stringify(now.body)).toBe(201);
    // What the new policy took away is refused now.
    const rsa = await call('POST', '/api/v1/certificates', {
      profile: PROD,
      subject: { CN: 'w' },
      keyAlgorithm: 'RSA-3072',
      sans: { dns: [name] },
    });
    expect(rsa.body.code).toBe('key_not_allowed');
    const ttl = await call('POST', '/api/v1/certificates', { profile: PROD, subject: { CN: 'w' }, ttl: '15d', sans: { dns: [name] } });
    expect(ttl.body.code).toBe('ttl_too_long');

    const audit = (await call('GET', '/api/v1/audit?limit=500')).body.items as Array<{ action: string; target: string }>;
    expect(audit.some((e) => e.action === 'profile.update' && e.target === PROD)).toBe(true);
  });

  it('an admin can narrow a built-in profile', async () => {
    const server = (await call('GET', '/api/v1/profiles/server')).body;
    const narrowed = await call('PUT', '/api/v1/profiles/server', {
      kind: 'server',
      policy: { ...server.policy, dnsSuffixes: ['corp.example'], allowWildcards: false },
    });
    expect(narrowed.status, JSON.stringify(narrowed.body)).toBe(200);
    expect(narrowed.body.builtin).toBe(true);
    expect((await call('POST', '/api/v1/certificates', { profile: 'server', sans: { dns: ['www.other.example'] } })).body.code).toBe(
      'san_not_allowed',
    );
    expect((await call('POST', '/api/v1/certificates', { profile: 'server', sans: { dns: ['*.corp.example'] } })).body.code).toBe(
      'wildcard_not_allowed',
    );
    expect((await call('POST', '/api/v1/certificates', { profile: 'server', sans: { dns: ['www.corp.example'] } })).status).toBe(201);
    // restore
    expect((await call('PUT', '/api/v1/profiles/server', { kind: 'server', policy: server.policy })).status).toBe(200);
    expect((await call('POST', '/api/v1/certificates', { profile: 'server', sans: { dns: ['www.other.example'] } })).status).toBe(201);
  });
});

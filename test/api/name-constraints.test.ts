/**
 * Issue 14 item 4: a name-constrained intermediate over the API. Its certificate carries the
 * critical extension (as openssl prints it), issuance under it refuses names outside it before
 * signing (name_constraint_violation, nothing recorded), a leaf it signs inside them passes
 * `openssl verify -x509_strict` and `certtool --verify-chain`, and one signed BY HAND with its key
 * outside them fails openssl for the constraint — and the judge says name_constraints.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toPem } from '@anvil/pki';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';

const hasOpenssl = haveTool('openssl');
const hasCerttool = haveTool('certtool');

let anvil: TestAnvil;
let dir: string;
let files: Record<string, string>;

const CONSTRAINTS = {
  permitted: { dns: ['Partner.Test'], ip: ['10.20.0.0/16', '2001:db8::/32'], uri: ['.partner.test'], email: ['partner.test'] },
  excluded: { dns: ['bad.partner.test'], ip: ['10.20.99.0/24'] },
};

async function json(res: Response) {
  return { status: res.status, body: (await res.json()) as any, type: res.headers.get('content-type') ?? '' };
}

async function certificateCount(): Promise<number> {
  const { body } = await json(await anvil.api('GET', '/api/v1/certificates?limit=200'));
  return body.items.length;
}

async function issuerNames(): Promise<string[]> {
  const { body } = await json(await anvil.api('GET', '/api/v1/issuers'));
  return body.items.map((i: { name: string }) => i.name);
}

beforeAll(async () => {
  anvil = await createTestAnvil();
  dir = tempDir('anvil-nc-api-');
});
afterAll(async () => {
  await anvil?.close();
});

describe('a name-constrained intermediate', () => {
  let issuer: any;
  beforeAll(async () => {
    const res = await json(await anvil.api('POST', '/api/v1/issuers', { name: 'partners-ca', nameConstraints: CONSTRAINTS }));
    expect(res.status).toBe(201);
    issuer = res.body;
    const root = anvil.authority.issuerByName('root-ca');
    // The intermediate's key, exported through the store and the key-encryption key: the test signs by hand with it.
    const record = (await anvil.store.listIssuers()).find((i) => i.name === 'partners-ca')!;
    const pkcs8 = anvil.database.kek.decrypt(record.encryptedKey!, 'issuer:partners-ca');
    files = writeFiles(dir, { 'root.pem': root.pem, 'int.pem': issuer.certificate, 'int.key': toPem(pkcs8, 'PRIVATE KEY') });
  });

  it('is created with its constraints normalised, in the issuer JSON', () => {
    expect(issuer.nameConstraints).toEqual({
      permitted: { dns: ['partner.test'], ip: ['10.20.0.0/16', '2001:db8::/32'], uri: ['.partner.test'], email: ['partner.test'] },
      excluded: { dns: ['bad.partner.test'], ip: ['10.20.99.0/24'], uri: [], email: [] },
    });
    expect(issuer.status).toBe('active');
  });

  it.skipIf(!hasOpenssl)('carries them as a critical nameConstraints extension (openssl x509 -text)', () => {
    const text = run('openssl', ['x509', '-noout', '-text', '-in', files['int.pem']]).out;
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:partner\.test\s+IP:10\.20\.0\.0\/255\.255\.0\.0/);
    expect(text).toMatch(/Excluded:\s+DNS:bad\.partner\.test\s+IP:10\.20\.99\.0\/255\.255\.255\.0/);
    expect(run('openssl', ['verify', '-x509_strict', '-CAfile', files['root.pem'], files['int.pem']]).status).toBe(0);
  });

  it('keeps them across a restart of the registry (read back from the database)', async () => {
    const rows = await anvil.store.listIssuers();
    expect(rows.find((r) => r.name === 'partners-ca')?.nameConstraints?.permitted.dns).toEqual(['partner.test']);
  });

  it('is shown on the console issuer page', async () => {
    const { ConsoleClient, textOf } = await import('../support/console.ts');
    const ui = new ConsoleClient(anvil);
    await ui.signIn();
    const page = await ui.request('GET', '/issuers/partners-ca');
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain('Permitted names');
    expect(text).toContain('dns: partner.test; ip: 10.20.0.0/16, 2001:db8::/32; uri: .partner.test; email: partner.test');
    expect(text).toContain('dns: bad.partner.test; ip: 10.20.99.0/24');
  });

  describe('issuance under it', () => {
    let allowed: any;
    beforeAll(async () => {
      const res = await json(
        await anvil.api('POST', '/api/v1/certificates', {
          profile: 'client',
          issuer: 'partners-ca',
          subject: { CN: 'partner-svc' },
          sans: { dns: ['svc.partner.test'], ip: ['10.20.1.2'], uri: ['spiffe://mesh.partner.test/ns/a'], email: ['ops@partner.test'] },
        }),
      );
      expect(res.status).toBe(201);
      allowed = res.body;
      writeFiles(dir, { 'allowed.pem': allowed.certificate });
    });

    it.skipIf(!hasOpenssl)('signs names inside the constraints: openssl verify -x509_strict passes', () => {
      const r = run('openssl', [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslclient',
        '-CAfile',
        files['root.pem'],
        '-untrusted',
        files['int.pem'],
        join(dir, 'allowed.pem'),
      ]);
      expect(r.out).toMatch(/: OK/);
      expect(r.status).toBe(0);
    });

    it.skipIf(!hasCerttool)('certtool --verify-chain passes too', () => {
      writeFiles(dir, { 'allowed-chain.pem': allowed.certificate + issuer.certificate });
      const r = run('certtool', [
        '--verify',
        '--verify-profile=medium',
        '--load-ca-certificate',
        files['root.pem'],
        '--infile',
        join(dir, 'allowed-chain.pem'),
      ]);
      expect(r.out).toContain('Chain verification output: Verified. The certificate is trusted.');
      expect(r.status).toBe(0);
    });

    it('the judge verifies it', async () => {
      const { body } = await json(await anvil.api('POST', '/api/v1/judge', { chain: allowed.fullchain }));
      expect(body.status).toBe('verified');
      expect(body.checks.find((c: { name: string }) => c.name === 'name_constraints')).toMatchObject({ ok: true });
    });

    // [what, request, the name refused, the subtree]
    const refusals: Array<[string, Record<string, unknown>, string, string]> = [
      ['a DNS name outside', { profile: 'client', subject: { CN: 'x' }, sans: { dns: ['api.evil.test'] } }, 'api.evil.test', 'permitted'],
      [
        'a DNS name under the excluded domain',
        { profile: 'server', sans: { dns: ['x.bad.partner.test'] } },
        'x.bad.partner.test',
        'excluded',
      ],
      ['a wildcard over the excluded domain', { profile: 'server', sans: { dns: ['*.partner.test'] } }, '*.partner.test', 'excluded'],
      ['an IP outside the ranges', { profile: 'server', sans: { ip: ['192.0.2.1'] } }, '192.0.2.1', 'permitted'],
      ['an IP in the excluded range', { profile: 'server', sans: { ip: ['10.20.99.5'] } }, '10.20.99.5', 'excluded'],
      [
        'a URI at another host',
        { profile: 'client', subject: { CN: 'x' }, sans: { uri: ['spiffe://evil.test/a'] } },
        'spiffe://evil.test/a',
        'permitted',
      ],
      [
        'an email at another domain',
        { profile: 'client', subject: { CN: 'x' }, sans: { email: ['a@evil.test'] } },
        'a@evil.test',
        'permitted',
      ],
      [
        'a host-name CN outside',
        { profile: 'client', subject: { CN: 'admin.evil.test' }, sans: { email: ['ops@partner.test'] } },
        'admin.evil.test',
        'permitted',
      ],
    ];
    it.each(refusals)('refuses %s before signing, recording nothing', async (_what, request, name, subtree) => {
      const before = await certificateCount();
      const res = await json(await anvil.api('POST', '/api/v1/certificates', { ...request, issuer: 'partners-ca' }));
      expect(res.status).toBe(422);
      expect(res.type).toMatch(/application\/problem\+json/);
      expect(res.body.code).toBe('name_constraint_violation');
      expect(res.body.detail).toContain(`"${name}"`);
      expect(res.body.detail).toContain('partners-ca');
      expect(res.body).toMatchObject({ name, subtree, issuer: 'partners-ca' });
      expect(await certificateCount()).toBe(before);
      // A refusal is audited (who asked for what they may not have), never a certificate row.
      const audit = await json(await anvil.api('GET', '/api/v1/audit?action=certificate.issue&outcome=failure&limit=1'));
      expect(audit.body.items[0].details.code).toBe('name_constraint_violation');
    });

    it('a profile bound to the issuer refuses the same way', async () => {
      const created = await anvil.api('POST', '/api/v1/profiles', {
        name: 'partner-server',
        kind: 'server',
        policy: {
          sanTypes: ['dns', 'ip'],
          allowWildcards: true,
          keyAlgorithms: ['EC-P256'],
          minRsaBits: 2048,
          defaultTtl: 86400,
          maxTtl: 86400,
          issuer: 'partners-ca',
        },
      });
      expect(created.status).toBe(201);
      const ok = await json(
        await anvil.api('POST', '/api/v1/certificates', { profile: 'partner-server', sans: { dns: ['www.partner.test'] } }),
      );
      expect(ok.status).toBe(201);
      const refused = await json(
        await anvil.api('POST', '/api/v1/certificates', { profile: 'partner-server', sans: { dns: ['www.evil.test'] } }),
      );
      expect(refused.status).toBe(422);
      expect(refused.body.code).toBe('name_constraint_violation');
    });
  });

  describe.skipIf(!hasOpenssl)('a leaf signed by hand with its key, outside the constraints', () => {
    const handSigned = (name: string, san: string) => {
      writeFiles(dir, {
        [`${name}.ext`]: `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nsubjectAltName=${san}\n`,
      });
      const key = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const cert = join(dir, `${name}.pem`);
      expect(
        run('openssl', [
          'req',
          '-new',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          key,
          '-out',
          csr,
          '-subj',
          '/CN=hand-made',
        ]).status,
      ).toBe(0);
      const signed = run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        files['int.pem'],
        '-CAkey',
        files['int.key'],
        '-CAcreateserial',
        '-days',
        '1',
        '-sha256',
        '-extfile',
        join(dir, `${name}.ext`),
        '-out',
        cert,
      ]);
      expect(signed.status, signed.out).toBe(0);
      return cert;
    };
    const verify = (cert: string) =>
      run('openssl', [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslclient',
        '-CAfile',
        files['root.pem'],
        '-untrusted',
        files['int.pem'],
        cert,
      ]);

    it('outside the permitted subtrees: openssl says permitted subtree violation, the judge name_constraints', async () => {
      const cert = handSigned('outside', 'DNS:api.evil.test');
      const r = verify(cert);
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/permitted subtree violation/);
      const { body } = await json(await anvil.api('POST', '/api/v1/judge', { chain: readFileSync(cert, 'utf8') + issuer.certificate }));
      expect(body.status).toBe('failed');
      expect(body.reason).toBe('name_constraints');
      expect(body.openssl).toMatchObject({ code: 47, name: 'X509_V_ERR_PERMITTED_VIOLATION' });
      expect(body.nginx).toBe('FAILED:permitted subtree violation');
    });

    it('inside an excluded subtree: openssl says excluded subtree violation, the judge name_constraints', async () => {
      const cert = handSigned('excluded', 'IP:10.20.99.5');
      const r = verify(cert);
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/excluded subtree violation/);
      const { body } = await json(await anvil.api('POST', '/api/v1/judge', { chain: readFileSync(cert, 'utf8') + issuer.certificate }));
      expect(body.reason).toBe('name_constraints');
      expect(body.openssl).toMatchObject({ code: 48 });
    });

    it.skipIf(!hasCerttool)('certtool --verify-chain refuses it too', () => {
      const cert = join(dir, 'outside.pem');
      writeFiles(dir, { 'outside-chain.pem': readFileSync(cert, 'utf8') + issuer.certificate });
      const r = run('certtool', [
        '--verify',
        '--verify-profile=medium',
        '--load-ca-certificate',
        files['root.pem'],
        '--infile',
        join(dir, 'outside-chain.pem'),
      ]);
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/Not verified.*violates the signer's constraints/);
    });
  });
});

describe('bad name constraints are refused, creating nothing', () => {
  const cases: Array<[string, Record<string, unknown>, number, string]> = [
    ['a malformed CIDR', { name: 'bad-1', nameConstraints: { permitted: { ip: ['10.0.0/8'] } } }, 422, 'invalid_name_constraints'],
    ['a prefix too long', { name: 'bad-2', nameConstraints: { permitted: { ip: ['10.0.0.0/33'] } } }, 422, 'invalid_name_constraints'],
    ['host bits set', { name: 'bad-3', nameConstraints: { excluded: { ip: ['10.1.2.3/8'] } } }, 422, 'invalid_name_constraints'],
    ['a wildcard domain', { name: 'bad-4', nameConstraints: { permitted: { dns: ['*.example.com'] } } }, 422, 'invalid_name_constraints'],
    [
      'a URI for a URI host',
      { name: 'bad-5', nameConstraints: { permitted: { uri: ['https://example.com/'] } } },
      422,
      'invalid_name_constraints',
    ],
    ['constraints that constrain nothing', { name: 'bad-6', nameConstraints: { permitted: {} } }, 422, 'invalid_name_constraints'],
    ['an unknown name type', { name: 'bad-7', nameConstraints: { permitted: { dirName: ['CN=x'] } } }, 400, 'validation_failed'],
    [
      'constraints on a root',
      { name: 'bad-8', kind: 'root', nameConstraints: { permitted: { dns: ['example.com'] } } },
      422,
      'name_constraints_on_root',
    ],
  ];
  it.each(cases)('%s', async (_what, body, status, code) => {
    const before = await issuerNames();
    const res = await json(await anvil.api('POST', '/api/v1/issuers', body));
    expect(res.status).toBe(status);
    expect(res.type).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe(code);
    expect(await issuerNames()).toEqual(before);
    expect((await anvil.store.listIssuers()).some((i) => i.name === body.name)).toBe(false);
  });

  it('the field is named', async () => {
    const res = await json(
      await anvil.api('POST', '/api/v1/issuers', { name: 'bad-9', nameConstraints: { excluded: { ip: ['10.0.0.0/8', 'nonsense'] } } }),
    );
    expect(res.body).toMatchObject({ code: 'invalid_name_constraints', field: 'excluded.ip[1]' });
  });
});

/**
 * Issue 14 item 5: rotation over the API. An intermediate rotated out hands its profiles to a new
 * one and retires: it issues nothing more (issuer_retired) but keeps publishing its CRL and OCSP
 * answers, and its certificates can still be revoked. Root rollover: a new root cross-certified
 * by the old one; the trust bundle holds both, and `openssl verify -x509_strict` and certtool
 * verify a leaf of the new hierarchy from either root alone (the old one through the
 * cross-certificate in cross-chain.pem). Every refusal is a problem code that changes nothing.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';

const hasOpenssl = haveTool('openssl');
const hasCerttool = haveTool('certtool');

let anvil: TestAnvil;
let dir: string;

async function json(res: Response) {
  return { status: res.status, body: (await res.json()) as any, type: res.headers.get('content-type') ?? '' };
}
const api = async (method: string, path: string, body?: unknown) => json(await anvil.api(method, path, body));
const text = async (path: string) => {
  const res = await anvil.app.request(path);
  expect(res.status, path).toBe(200);
  return res.text();
};

async function issuerOf(name: string) {
  const { body } = await api('GET', '/api/v1/issuers');
  return body.items.find((i: { name: string }) => i.name === name);
}

/** Issuers' statuses and every profile's issuer: what a refusal must leave as it was. */
async function state() {
  const issuers = (await api('GET', '/api/v1/issuers')).body.items.map((i: any) => `${i.name}:${i.status}`);
  const profiles = (await api('GET', '/api/v1/profiles')).body.items.map((p: any) => `${p.name}:${p.policy.issuer ?? '-'}`);
  return { issuers, profiles };
}

function expectProblem(res: { status: number; body: any; type: string }, status: number, code: string) {
  expect(res.type).toMatch(/application\/problem\+json/);
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
}

beforeAll(async () => {
  anvil = await createTestAnvil();
  dir = tempDir('anvil-rotation-');
});
afterAll(async () => {
  await anvil?.close();
});

describe('rotating an intermediate', () => {
  let old: any;
  beforeAll(async () => {
    const issued = await api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'before-rotation' },
      sans: { dns: ['old.partner.test'] },
    });
    expect(issued.status).toBe(201);
    expect(issued.body.issuer).toBe('issuing-ca');
    old = issued.body;
    expect((await api('POST', '/api/v1/issuers', { name: 'issuing-ca-2' })).status).toBe(201);
  });

  const refusals: Array<[string, string, unknown, number, string]> = [
    ['to an unknown issuer', '/api/v1/issuers/issuing-ca/rotate', { to: 'nope' }, 404, 'unknown_issuer'],
    ['to itself', '/api/v1/issuers/issuing-ca/rotate', { to: 'issuing-ca' }, 422, 'rotate_to_self'],
    ['to a root', '/api/v1/issuers/issuing-ca/rotate', { to: 'root-ca' }, 422, 'not_an_intermediate'],
    ['a root', '/api/v1/issuers/root-ca/rotate', { to: 'issuing-ca-2' }, 422, 'not_an_intermediate'],
    ['an unknown issuer', '/api/v1/issuers/nope/rotate', { to: 'issuing-ca-2' }, 404, 'unknown_issuer'],
    ['leaving profiles behind', '/api/v1/issuers/issuing-ca/rotate', { to: 'issuing-ca-2', profiles: ['server'] }, 409, 'issuer_in_use'],
    ['moving an unknown profile', '/api/v1/issuers/issuing-ca/rotate', { to: 'issuing-ca-2', profiles: ['nope'] }, 422, 'unknown_profile'],
    ['without a target', '/api/v1/issuers/issuing-ca/rotate', {}, 400, 'validation_failed'],
    ['retiring the only issuer of profiles, with no replacement', '/api/v1/issuers/issuing-ca/retire', undefined, 409, 'issuer_in_use'],
  ];
  it.each(refusals)('refuses rotating %s, changing nothing', async (_what, path, body, status, code) => {
    const before = await state();
    expectProblem(await api('POST', path, body), status, code);
    expect(await state()).toEqual(before);
  });

  it('leaving profiles behind names them', async () => {
    const res = await api('POST', '/api/v1/issuers/issuing-ca/rotate', { to: 'issuing-ca-2', profiles: ['server'] });
    expect(res.body.detail).toMatch(/"client", "peer" would be left without an issuer/);
  });

  describe('once rotated', () => {
    let rotated: any;
    beforeAll(async () => {
      rotated = await api('POST', '/api/v1/issuers/issuing-ca/rotate', { to: 'issuing-ca-2' });
    });

    it('moves every profile that issued from it and retires it', async () => {
      expect(rotated.status).toBe(200);
      expect(rotated.body.profiles.sort()).toEqual(['client', 'peer', 'server']);
      expect(rotated.body.retired).toMatchObject({ name: 'issuing-ca', status: 'retired' });
      expect(rotated.body.retired.retiredAt).toMatch(/^\d{4}-/);
      expect(rotated.body.to).toMatchObject({ name: 'issuing-ca-2', status: 'active' });
      expect((await api('GET', '/api/v1/profiles/client')).body.policy.issuer).toBe('issuing-ca-2');
      const audit = await api('GET', '/api/v1/audit?action=issuer.retire&limit=5');
      expect(audit.body.items[0]).toMatchObject({ target: 'issuing-ca', outcome: 'success', details: { to: 'issuing-ca-2' } });
      expect((await issuerOf('issuing-ca')).status).toBe('retired');
      // From the database, not only this process's copy.
      expect((await anvil.store.listIssuers()).find((i) => i.name === 'issuing-ca')?.status).toBe('retired');
    });

    it('the profiles issue from the new intermediate', async () => {
      const res = await api('POST', '/api/v1/certificates', {
        profile: 'client',
        subject: { CN: 'after' },
        sans: { dns: ['new.partner.test'] },
      });
      expect(res.status).toBe(201);
      expect(res.body.issuer).toBe('issuing-ca-2');
    });

    it('a profile without an issuer follows the rotation (the default issuer is the successor)', async () => {
      const made = await api('POST', '/api/v1/profiles', {
        name: 'open',
        kind: 'client',
        policy: {
          sanTypes: ['dns'],
          allowWildcards: false,
          keyAlgorithms: ['EC-P256'],
          minRsaBits: 2048,
          defaultTtl: 86400,
          maxTtl: 86400,
        },
      });
      expect(made.status).toBe(201);
      const res = await api('POST', '/api/v1/certificates', {
        profile: 'open',
        subject: { CN: 'open' },
        sans: { dns: ['open.partner.test'] },
      });
      expect(res.body.issuer).toBe('issuing-ca-2');
    });

    it('the retired one issues nothing more: issuer_retired, nothing recorded', async () => {
      const before = (await api('GET', '/api/v1/certificates?limit=200')).body.items.length;
      const res = await api('POST', '/api/v1/certificates', {
        profile: 'open',
        issuer: 'issuing-ca',
        subject: { CN: 'x' },
        sans: { dns: ['x.partner.test'] },
      });
      expectProblem(res, 409, 'issuer_retired');
      expect((await api('GET', '/api/v1/certificates?limit=200')).body.items.length).toBe(before);
    });

    it('refuses a profile naming it, rotating it again, and rotating to it', async () => {
      const before = await state();
      const profile = await api('POST', '/api/v1/profiles', {
        name: 'stale',
        kind: 'client',
        policy: {
          sanTypes: ['dns'],
          allowWildcards: false,
          keyAlgorithms: ['EC-P256'],
          minRsaBits: 2048,
          defaultTtl: 86400,
          maxTtl: 86400,
          issuer: 'issuing-ca',
        },
      });
      expectProblem(profile, 409, 'issuer_retired');
      expectProblem(await api('POST', '/api/v1/issuers/issuing-ca/rotate', { to: 'issuing-ca-2' }), 409, 'issuer_retired');
      expect((await api('POST', '/api/v1/issuers', { name: 'issuing-ca-3' })).status).toBe(201);
      expectProblem(await api('POST', '/api/v1/issuers/issuing-ca-2/rotate', { to: 'issuing-ca' }), 409, 'issuer_retired');
      const after = await state();
      expect(after.profiles).toEqual(before.profiles);
      expect(after.issuers.filter((i: string) => !i.startsWith('issuing-ca-3'))).toEqual(before.issuers);
    });

    it('keeps publishing its CRL, and revoking its certificates still works (CRL and OCSP)', async () => {
      const crlBefore = await anvil.app.request('/pki/crl/issuing-ca.crl');
      expect(crlBefore.status).toBe(200);
      const revoked = await api('POST', `/api/v1/certificates/${old.id}/revoke`, { reason: 'superseded' });
      expect(revoked.status).toBe(200);
      const crlPem = await text('/pki/crl/issuing-ca.pem');
      const files = writeFiles(dir, {
        'old-int.pem': anvil.authority.issuerByName('issuing-ca').pem,
        'old.crl.pem': crlPem,
        'old-leaf.pem': old.certificate,
      });
      if (hasOpenssl) {
        const crl = run('openssl', ['crl', '-in', files['old.crl.pem'], '-noout', '-text', '-CAfile', files['old-int.pem']]);
        expect(crl.out).toContain('verify OK');
        // openssl prints the serial without the DER sign octet.
        expect(crl.out.replace(/\s/g, '')).toContain(`SerialNumber:${old.serial.toUpperCase().replace(/^(00)+/, '')}`);
        // OCSP: the retired issuer's responder still answers, and says revoked.
        const req = join(dir, 'ocsp.req');
        run('openssl', ['ocsp', '-issuer', files['old-int.pem'], '-cert', files['old-leaf.pem'], '-no_nonce', '-reqout', req]);
        const { readFileSync } = await import('node:fs');
        const answer = await anvil.app.request('/ocsp', {
          method: 'POST',
          headers: { 'content-type': 'application/ocsp-request' },
          body: readFileSync(req),
        });
        expect(answer.status).toBe(200);
        const respFile = writeFiles(dir, { 'ocsp.resp': new Uint8Array(await answer.arrayBuffer()) })['ocsp.resp'];
        const bundle = writeFiles(dir, { 'trust.pem': await text('/pki/trust-bundle.pem') })['trust.pem'];
        const checked = run('openssl', [
          'ocsp',
          '-respin',
          respFile,
          '-issuer',
          files['old-int.pem'],
          '-cert',
          files['old-leaf.pem'],
          '-CAfile',
          bundle,
          '-verify_other',
          files['old-int.pem'],
          '-no_nonce',
        ]);
        expect(checked.out).toMatch(/Response verify OK/);
        expect(checked.out).toMatch(/old-leaf\.pem: revoked/);
      }
    });

    it('its own certificate can still be revoked', async () => {
      const res = await api('POST', '/api/v1/issuers/issuing-ca/revoke', { reason: 'cessationOfOperation' });
      expect(res.status).toBe(200);
      expect((await issuerOf('issuing-ca')).status).toBe('revoked');
    });
  });
});

describe('root rollover with a cross-certificate', () => {
  let cross: any;
  let leaf: any;
  let f: Record<string, string>;
  beforeAll(async () => {
    expect((await api('POST', '/api/v1/issuers', { name: 'root-2027', kind: 'root', commonName: 'Anvil Root CA 2027' })).status).toBe(201);
    expect((await api('POST', '/api/v1/issuers', { name: 'issuing-2027', parent: 'root-2027' })).status).toBe(201);
    const rotated = await api('POST', '/api/v1/issuers/issuing-ca-2/rotate', { to: 'issuing-2027' });
    expect(rotated.status).toBe(200);
    const issued = await api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'rolled' },
      sans: { dns: ['rolled.partner.test'] },
    });
    expect(issued.body.issuer).toBe('issuing-2027');
    leaf = issued.body;
  });

  const refusals: Array<[string, string, unknown, number, string]> = [
    ['by itself', '/api/v1/issuers/root-2027/cross-certificates', { signer: 'root-2027' }, 422, 'cross_certify_self'],
    ['by an intermediate', '/api/v1/issuers/root-2027/cross-certificates', { signer: 'issuing-ca-3' }, 422, 'not_a_root'],
    ['an intermediate', '/api/v1/issuers/issuing-2027/cross-certificates', { signer: 'root-ca' }, 422, 'not_a_root'],
    ['by an unknown root', '/api/v1/issuers/root-2027/cross-certificates', { signer: 'nope' }, 404, 'unknown_issuer'],
    [
      'with a constraint on the new root',
      '/api/v1/issuers',
      { name: 'root-x', kind: 'root', nameConstraints: { permitted: { dns: ['a.test'] } } },
      422,
      'name_constraints_on_root',
    ],
    ['a root with a parent', '/api/v1/issuers', { name: 'root-y', kind: 'root', parent: 'root-ca' }, 422, 'invalid_parent'],
  ];
  it.each(refusals)('refuses cross-certifying %s', async (_what, path, body, status, code) => {
    const before = (await api('GET', '/api/v1/issuers')).body;
    expectProblem(await api('POST', path, body), status, code);
    expect((await api('GET', '/api/v1/issuers')).body).toEqual(before);
  });

  describe('once cross-certified', () => {
    beforeAll(async () => {
      const res = await api('POST', '/api/v1/issuers/root-2027/cross-certificates', { signer: 'root-ca' });
      expect(res.status).toBe(201);
      cross = res.body;
      f = writeFiles(dir, {
        'old-root.pem': anvil.authority.issuerByName('root-ca').pem,
        'new-root.pem': anvil.authority.issuerByName('root-2027').pem,
        'cross.pem': cross.certificate,
        'leaf.pem': leaf.certificate,
        'chain.pem': await text('/pki/issuers/issuing-2027/chain.pem'),
        'cross-chain.pem': await text('/pki/issuers/issuing-2027/cross-chain.pem'),
        'trust-bundle.pem': await text('/pki/trust-bundle.pem'),
      });
    });

    it('is published at a stable URL and listed on the new root', async () => {
      expect(cross.url).toBe('/pki/issuers/root-2027/cross/root-ca.pem');
      expect(await text('/pki/issuers/root-2027/cross/root-ca.pem')).toBe(cross.certificate);
      const der = await anvil.app.request('/pki/issuers/root-2027/cross/root-ca.crt');
      expect(der.headers.get('content-type')).toBe('application/pkix-cert');
      expectProblem(await json(await anvil.app.request('/pki/issuers/root-2027/cross/root-9.pem')), 404, 'unknown_cross_certificate');
      expect((await issuerOf('root-2027')).crossCertificates).toEqual([
        expect.objectContaining({ signer: 'root-ca', serial: cross.serial, url: '/pki/issuers/root-2027/cross/root-ca.pem' }),
      ]);
      expectProblem(
        await api('POST', '/api/v1/issuers/root-2027/cross-certificates', { signer: 'root-ca' }),
        409,
        'cross_certificate_exists',
      );
    });

    it('chain.pem stays the intermediate; cross-chain.pem adds the cross-certificate; the trust bundle holds both roots', async () => {
      const int = anvil.authority.issuerByName('issuing-2027').pem;
      expect(await text('/pki/issuers/issuing-2027/chain.pem')).toBe(int);
      expect(await text('/pki/issuers/issuing-2027/cross-chain.pem')).toBe(int + cross.certificate);
      const bundle = await text('/pki/trust-bundle.pem');
      expect(bundle).toContain(anvil.authority.issuerByName('root-ca').pem);
      expect(bundle).toContain(anvil.authority.issuerByName('root-2027').pem);
    });

    it.skipIf(!hasOpenssl)('is a CA certificate: subject and key of the new root, issued by the old root', () => {
      const subject = (file: string) => run('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', file]).out;
      const issuer = (file: string) => run('openssl', ['x509', '-noout', '-issuer', '-nameopt', 'RFC2253', '-in', file]).out;
      const pub = (file: string) => run('openssl', ['x509', '-noout', '-pubkey', '-in', file]).out;
      expect(subject(f['cross.pem']).replace('subject=', '')).toBe(subject(f['new-root.pem']).replace('subject=', ''));
      expect(issuer(f['cross.pem']).replace('issuer=', '')).toBe(subject(f['old-root.pem']).replace('subject=', ''));
      expect(pub(f['cross.pem'])).toBe(pub(f['new-root.pem']));
      const t = run('openssl', ['x509', '-noout', '-text', '-in', f['cross.pem']]).out;
      expect(t).toMatch(/CA:TRUE, pathlen:1/);
      expect(t).toMatch(/Certificate Sign, CRL Sign/);
      expect(run('openssl', ['verify', '-x509_strict', '-CAfile', f['old-root.pem'], f['cross.pem']]).status).toBe(0);
    });

    const verify = (trust: string, untrusted: string) =>
      run('openssl', [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslclient',
        '-show_chain',
        '-CAfile',
        trust,
        '-untrusted',
        untrusted,
        f['leaf.pem'],
      ]);

    it.skipIf(!hasOpenssl)('a client trusting only the new root verifies the leaf via the intermediate', () => {
      for (const untrusted of ['chain.pem', 'cross-chain.pem']) {
        const r = verify(f['new-root.pem'], f[untrusted]);
        expect(r.status, r.out).toBe(0);
        expect(r.out).toMatch(/depth=2: .*Anvil Root CA 2027 \(untrusted\)|depth=2: .*Anvil Root CA 2027/);
      }
    });

    it.skipIf(!hasOpenssl)('a client trusting only the old root verifies it via intermediate + cross-certificate', () => {
      const r = verify(f['old-root.pem'], f['cross-chain.pem']);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toMatch(/depth=3: .*Anvil Root CA \(root-ca\)/);
      // Without the cross-certificate nothing links the new hierarchy to the old root.
      const without = verify(f['old-root.pem'], f['chain.pem']);
      expect(without.status).not.toBe(0);
      expect(without.out).toMatch(/unable to get (local )?issuer certificate/);
    });

    it.skipIf(!hasOpenssl)('a client trusting the whole trust bundle verifies it either way', () => {
      expect(verify(f['trust-bundle.pem'], f['cross-chain.pem']).status).toBe(0);
      expect(verify(f['trust-bundle.pem'], f['chain.pem']).status).toBe(0);
    });

    it.skipIf(!hasCerttool)('certtool --verify-chain agrees for each trust store', () => {
      const presented = writeFiles(dir, {
        'presented.pem': leaf.certificate + anvil.authority.issuerByName('issuing-2027').pem + cross.certificate,
      })['presented.pem'];
      for (const trust of ['old-root.pem', 'new-root.pem']) {
        const r = run('certtool', ['--verify', '--verify-profile=medium', '--load-ca-certificate', f[trust], '--infile', presented]);
        expect(r.out, trust).toContain('Chain verification output: Verified. The certificate is trusted.');
        expect(r.status).toBe(0);
      }
      // The chain as a file ending in a self-signed root: leaf, intermediate, cross, old root.
      const all = writeFiles(dir, {
        'all.pem':
          leaf.certificate +
          anvil.authority.issuerByName('issuing-2027').pem +
          cross.certificate +
          anvil.authority.issuerByName('root-ca').pem,
      })['all.pem'];
      const chained = run('certtool', ['--verify-chain', '--verify-profile=medium', '--infile', all]);
      expect(chained.out).toContain('Chain verification output: Verified.');
      expect(chained.status).toBe(0);
    });

    it('the judge verifies the leaf against the trust bundle', async () => {
      const { body } = await api('POST', '/api/v1/judge', { chain: leaf.fullchain });
      expect(body.status).toBe('verified');
    });
  });
});

describe('a retired issuer once its last certificate has expired', () => {
  let clocked: TestAnvil;
  let clock = new Date();
  const days = (n: number) => new Date(Date.now() + n * 86_400_000);
  let leaf: any;

  const crlNumber = async (issuer: string) => {
    const res = await clocked.app.request(`/pki/crl/${issuer}.crl`);
    expect(res.status).toBe(200);
    const file = writeFiles(dir, { [`${issuer}.crl`]: new Uint8Array(await res.arrayBuffer()) })[`${issuer}.crl`];
    return run('openssl', ['crl', '-inform', 'DER', '-in', file, '-noout', '-crlnumber']).out.trim();
  };
  /** The OCSP answer's status for the leaf, as openssl reads it (with a nonce: never a cached answer). */
  const ocspOfLeaf = async () => {
    const files = writeFiles(dir, {
      'retired-int.pem': clocked.authority.issuerByName('issuing-ca').pem,
      'retired-leaf.pem': leaf.certificate,
    });
    const req = join(dir, 'retired.req');
    run('openssl', ['ocsp', '-issuer', files['retired-int.pem'], '-cert', files['retired-leaf.pem'], '-reqout', req]);
    const { readFileSync } = await import('node:fs');
    const answer = await clocked.app.request('/ocsp', {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: readFileSync(req),
    });
    const resp = writeFiles(dir, { 'retired.resp': new Uint8Array(await answer.arrayBuffer()) })['retired.resp'];
    return run('openssl', ['ocsp', '-respin', resp, '-resp_text', '-noverify']).out;
  };

  beforeAll(async () => {
    clocked = await createTestAnvil({ now: () => clock });
    const api2 = async (method: string, path: string, body?: unknown) => json(await clocked.api(method, path, body));
    const issued = await api2('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'short-lived' },
      sans: { dns: ['short.partner.test'] },
      ttl: '2d',
    });
    expect(issued.status).toBe(201);
    leaf = issued.body;
    expect((await api2('POST', '/api/v1/issuers', { name: 'issuing-ca-2' })).status).toBe(201);
    expect((await api2('POST', '/api/v1/issuers/issuing-ca/rotate', { to: 'issuing-ca-2' })).status).toBe(200);
  });
  afterAll(async () => {
    await clocked?.close();
  });

  it.runIf(hasOpenssl)('publishes until then: its CRL is re-signed when due, and OCSP answers for its certificate', async () => {
    const first = await crlNumber('issuing-ca');
    clock = days(1); // past half the CRL's 24 h: due for re-signing
    expect(await crlNumber('issuing-ca')).not.toBe(first);
    expect(await ocspOfLeaf()).toContain('Cert Status: good');
  });

  it.runIf(hasOpenssl)('after it, stops: the last CRL stays as it was, and OCSP answers unauthorized', async () => {
    clock = days(1);
    const last = await crlNumber('issuing-ca');
    const successor = await crlNumber('issuing-ca-2');
    clock = days(3); // the 2-day certificate has expired
    await clocked.authority.crls.refresh(clocked.authority.issuers());
    expect(await crlNumber('issuing-ca')).toBe(last);
    expect(await crlNumber('issuing-ca-2')).not.toBe(successor);
    expect(await ocspOfLeaf()).toContain('Responder Error: unauthorized (6)');
  });
});

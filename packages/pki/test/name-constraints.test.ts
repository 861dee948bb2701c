/**
 * Name constraints (name-constraints.ts): what an operator may write, the extension's DER, and the
 * pre-signing check — the check against `openssl verify` of the same names under a CA certificate
 * carrying our encoding, case by case, so that what Anvil refuses is what OpenSSL refuses.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildName,
  checkNameConstraints,
  emptySans,
  encodeTbsCertificate,
  generateKey,
  keyIdentifier,
  NameConstraintError,
  nameConstraintsDer,
  parseNameConstraints,
  serialFromRandom,
  signTbs,
  SoftwareSigner,
  toPem,
  type CertificateParams,
  type NameConstraints,
  type Sans,
} from '../src/index.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('parseNameConstraints', () => {
  it('normalises: lower-case domains, CIDRs in the certificate form, duplicates dropped', () => {
    const nc = parseNameConstraints({
      permitted: { dns: ['Partner.Test', '.partner.test', 'partner.test'], ip: ['10.20.0.0/16', '2001:DB8::/32', '192.0.2.7'] },
      excluded: { uri: ['.Evil.Test'], email: ['Boss@Partner.TEST', 'mail.test'] },
    });
    expect(nc.permitted).toEqual({
      dns: ['partner.test', '.partner.test'],
      ip: ['10.20.0.0/16', '2001:db8::/32', '192.0.2.7/32'],
      uri: [],
      email: [],
    });
    // The local part stays as written: OpenSSL compares it case-sensitively.
    expect(nc.excluded).toEqual({ dns: [], ip: [], uri: ['.evil.test'], email: ['Boss@partner.test', 'mail.test'] });
  });

  it.each([
    [{ permitted: { ip: ['10.0.0/8'] } }, 'permitted.ip[0]', /CIDR/],
    [{ permitted: { ip: ['10.0.0.0/33'] } }, 'permitted.ip[0]', /CIDR/],
    [{ permitted: { ip: ['10.0.0.0/8/1'] } }, 'permitted.ip[0]', /CIDR/],
    [{ permitted: { ip: ['10.1.2.3/8'] } }, 'permitted.ip[0]', /host bits set; write 10\.0\.0\.0\/8/],
    [{ excluded: { ip: ['fe80::1%eth0/64'] } }, 'excluded.ip[0]', /CIDR/],
    [{ permitted: { dns: ['*.example.com'] } }, 'permitted.dns[0]', /DNS domain/],
    [{ permitted: { dns: ['exa mple.com'] } }, 'permitted.dns[0]', /DNS domain/],
    [{ permitted: { dns: [''] } }, 'permitted.dns[0]', /DNS domain/],
    [{ permitted: { uri: ['https://example.com/'] } }, 'permitted.uri[0]', /host .* not a URI/],
    [{ permitted: { email: ['a b@example.com'] } }, 'permitted.email[0]', /email/],
    [{ permitted: { dirName: ['CN=x'] } } as never, 'permitted.dirName', /dns, ip, uri or email/],
    [{}, 'nameConstraints', /at least one/],
    [{ permitted: { dns: [] }, excluded: {} }, 'nameConstraints', /at least one/],
  ])('refuses %j (%s)', (input, field, message) => {
    let err: unknown;
    try {
      parseNameConstraints(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NameConstraintError);
    expect((err as NameConstraintError).field).toBe(field);
    expect((err as NameConstraintError).code).toBe('invalid_name_constraints');
    expect((err as Error).message).toMatch(message);
  });
});

describe('nameConstraintsDer', () => {
  it('writes GeneralSubtrees with only a base (minimum 0 is the DEFAULT), IP as address and mask', () => {
    const der = nameConstraintsDer(
      parseNameConstraints({ permitted: { dns: ['example.com'], ip: ['10.0.0.0/8'] }, excluded: { email: ['.evil.test'] } }),
    );
    expect(hex(der)).toBe(
      [
        '302d',
        'a01b', // [0] permittedSubtrees
        '300d820b',
        Buffer.from('example.com').toString('hex'),
        '300a8708',
        '0a000000ff000000',
        'a10e', // [1] excludedSubtrees
        '300c810a',
        Buffer.from('.evil.test').toString('hex'),
      ].join(''),
    );
  });

  it('writes IPv6 ranges as 32 octets', () => {
    const der = nameConstraintsDer(parseNameConstraints({ excluded: { ip: ['2001:db8::/33'] } }));
    expect(hex(der)).toBe(`3026a1243022872020010db8${'0'.repeat(24)}${'ff'.repeat(4)}80${'0'.repeat(22)}`);
  });
});

// ---- the check beside openssl verify ------------------------------------------------------------

const haveOpenssl = spawnSync('sh', ['-c', 'command -v openssl']).status === 0;
if (!haveOpenssl && process.env.CI === 'true') throw new Error('openssl is required under CI');

const NC: NameConstraints = parseNameConstraints({
  permitted: { dns: ['partner.test'], ip: ['10.20.0.0/16', '2001:db8::/32'], uri: ['.partner.test'], email: ['partner.test'] },
  excluded: { dns: ['bad.partner.test'], ip: ['10.20.99.0/24'], email: ['boss@partner.test'] },
});

let dir: string;
let rootPem: string;
let intPem: string;
let intSigner: SoftwareSigner;
let intSpki: Uint8Array;
const intSubject = { CN: 'NC Test Intermediate', O: 'Anvil Test' };

async function caPair() {
  const key = await generateKey('EC-P256');
  return { key, signer: new SoftwareSigner('EC-P256', key.pkcs8Der) };
}

function tbs(
  p: Partial<CertificateParams> & Pick<CertificateParams, 'subject' | 'issuerName' | 'issuerKeyId' | 'subjectPublicKeySpki'>,
): CertificateParams {
  const now = Date.now();
  return {
    serial: serialFromRandom(crypto.getRandomValues(new Uint8Array(16))),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keyUsage: ['keyCertSign', 'cRLSign'],
    basicConstraints: { ca: true },
    ...p,
  };
}

beforeAll(async () => {
  if (!haveOpenssl) return;
  dir = mkdtempSync(join(tmpdir(), 'anvil-nc-'));
  const root = await caPair();
  const rootSubject = { CN: 'NC Test Root', O: 'Anvil Test' };
  const rootId = keyIdentifier(root.key.spkiDer);
  const rootDer = await signTbs(
    encodeTbsCertificate(
      tbs({ subject: rootSubject, issuerName: buildName(rootSubject), issuerKeyId: rootId, subjectPublicKeySpki: root.key.spkiDer }),
      root.signer.signatureAlgorithm,
    ),
    root.signer,
  );
  const int = await caPair();
  intSigner = int.signer;
  intSpki = int.key.spkiDer;
  const intDer = await signTbs(
    encodeTbsCertificate(
      tbs({
        subject: intSubject,
        issuerName: buildName(rootSubject),
        issuerKeyId: rootId,
        subjectPublicKeySpki: int.key.spkiDer,
        basicConstraints: { ca: true, pathLen: 0 },
        nameConstraints: NC,
      }),
      root.signer.signatureAlgorithm,
    ),
    root.signer,
  );
  rootPem = toPem(rootDer, 'CERTIFICATE');
  intPem = toPem(intDer, 'CERTIFICATE');
  writeFileSync(join(dir, 'root.pem'), rootPem);
  writeFileSync(join(dir, 'int.pem'), intPem);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A client leaf with these names signed by the constrained intermediate, through `openssl verify -x509_strict`. */
async function opensslVerdict(sans: Sans, cn: string): Promise<string> {
  const leaf = await generateKey('EC-P256');
  const der = await signTbs(
    encodeTbsCertificate(
      tbs({
        subject: { CN: cn },
        issuerName: buildName(intSubject),
        issuerKeyId: keyIdentifier(intSpki),
        subjectPublicKeySpki: leaf.spkiDer,
        keyUsage: ['digitalSignature'],
        extKeyUsage: ['clientAuth'],
        basicConstraints: { ca: false },
        sans,
      }),
      intSigner.signatureAlgorithm,
    ),
    intSigner,
  );
  const file = join(dir, 'leaf.pem');
  writeFileSync(file, toPem(der, 'CERTIFICATE'));
  const r = spawnSync(
    'openssl',
    ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int.pem'), file],
    {
      encoding: 'utf8',
    },
  );
  const out = `${r.stdout}${r.stderr}`;
  if (r.status === 0) return 'ok';
  if (/permitted subtree violation/.test(out)) return 'permitted';
  if (/excluded subtree violation/.test(out)) return 'excluded';
  if (/unsupported or invalid name syntax/.test(out)) return 'unsupported';
  return out;
}

const sansOf = (s: Partial<Sans>): Sans => ({ ...emptySans(), ...s });

describe.skipIf(!haveOpenssl)('checkNameConstraints agrees with openssl verify', () => {
  it('the intermediate carries the extension critical, as openssl prints it', () => {
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'int.pem')], { encoding: 'utf8' });
    expect(text).toMatch(/X509v3 Name Constraints: critical/);
    expect(text).toMatch(
      /Permitted:\s+DNS:partner\.test\s+IP:10\.20\.0\.0\/255\.255\.0\.0\s+IP:2001:DB8:0:0:0:0:0:0\/FFFF:FFFF:0:0:0:0:0:0\s+URI:\.partner\.test\s+email:partner\.test/,
    );
    expect(text).toMatch(/Excluded:\s+DNS:bad\.partner\.test\s+IP:10\.20\.99\.0\/255\.255\.255\.0\s+email:boss@partner\.test/);
  });

  // [what, SANs, CN, openssl's verdict (and Anvil's)]
  const cases: Array<[string, Partial<Sans>, string, 'ok' | 'permitted' | 'excluded' | 'unsupported']> = [
    ['the permitted domain itself', { dns: ['partner.test'] }, 'svc', 'ok'],
    ['a name under it', { dns: ['a.b.partner.test'] }, 'svc', 'ok'],
    ['a look-alike outside the label boundary', { dns: ['notpartner.test'] }, 'svc', 'permitted'],
    ['another domain', { dns: ['evil.test'] }, 'svc', 'permitted'],
    ['the excluded domain', { dns: ['bad.partner.test'] }, 'svc', 'excluded'],
    ['a name under the excluded domain', { dns: ['x.bad.partner.test'] }, 'svc', 'excluded'],
    ['an address in the range', { ip: ['10.20.1.2'] }, 'svc', 'ok'],
    ['an address outside it', { ip: ['10.21.0.1'] }, 'svc', 'permitted'],
    ['an address in the excluded range', { ip: ['10.20.99.7'] }, 'svc', 'excluded'],
    ['an IPv6 address in the range', { ip: ['2001:db8::5'] }, 'svc', 'ok'],
    ['an IPv6 address outside it', { ip: ['2001:db9::1'] }, 'svc', 'permitted'],
    ['a URI under the permitted host suffix', { uri: ['spiffe://svc.partner.test/ns/a'] }, 'svc', 'ok'],
    ['a URI with a port', { uri: ['https://svc.partner.test:8443/x'] }, 'svc', 'ok'],
    ['a URI at the bare host (".host" wants a subdomain)', { uri: ['spiffe://partner.test/a'] }, 'svc', 'permitted'],
    ['a URI without an authority', { uri: ['urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66'] }, 'svc', 'unsupported'],
    ['a mailbox at the permitted host', { email: ['ops@partner.test'] }, 'svc', 'ok'],
    ['a mailbox at a host under it (a bare domain is exact)', { email: ['ops@sub.partner.test'] }, 'svc', 'permitted'],
    ['the excluded mailbox', { email: ['boss@partner.test'] }, 'svc', 'excluded'],
    ['a host-name CN without DNS SANs', { email: ['ops@partner.test'] }, 'host.evil.test', 'permitted'],
    ['a CN that is no host name', { email: ['ops@partner.test'] }, 'Partner Ops', 'ok'],
  ];
  it.each(cases)('%s', async (_what, sans, cn, expected) => {
    expect(await opensslVerdict(sansOf(sans), cn)).toBe(expected);
    const v = checkNameConstraints(NC, { sans: sansOf(sans), commonName: cn });
    expect(v?.subtree ?? 'ok').toBe(expected);
  });

  // Where Anvil refuses what OpenSSL lets through: names a verifier's quirk would carry past the CA.
  const stricter: Array<[string, Partial<Sans>, string, string]> = [
    ['a host-name CN beside DNS SANs', { dns: ['a.partner.test'] }, 'admin.evil.test', 'permitted'],
    ['a wildcard over an excluded domain', { dns: ['*.partner.test'] }, 'svc', 'excluded'],
    ['a URI whose real host hides behind userinfo', { uri: ['https://svc.partner.test:1@evil.test/'] }, 'svc', 'permitted'],
  ];
  it.each(stricter)('stricter than openssl: %s', async (_what, sans, cn, anvil) => {
    expect(await opensslVerdict(sansOf(sans), cn)).toBe('ok');
    expect(checkNameConstraints(NC, { sans: sansOf(sans), commonName: cn })?.subtree).toBe(anvil);
  });

  it('names the name and the constraint', () => {
    expect(checkNameConstraints(NC, { sans: sansOf({ dns: ['x.bad.partner.test'] }) })).toEqual({
      type: 'dns',
      name: 'x.bad.partner.test',
      subtree: 'excluded',
      constraints: ['bad.partner.test'],
      opensslCode: 48,
    });
    expect(checkNameConstraints(NC, { sans: sansOf({ ip: ['192.0.2.1'] }) })).toMatchObject({
      subtree: 'permitted',
      constraints: ['10.20.0.0/16', '2001:db8::/32'],
      opensslCode: 47,
    });
  });
});

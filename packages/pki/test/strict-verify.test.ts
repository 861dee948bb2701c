/**
 * The strict verdict (src/validation/strict-verify.ts) on path-validation vectors modelled on the
 * public suites (x509-limbo's rfc5280 and webpki namespaces, BetterTLS name constraints, PKITS
 * basics), every certificate made by the openssl CLI (`openssl ca`) at test time. Each vector
 * carries the verdict its RFC 5280 / web-PKI rule demands; the same vectors also go through
 * `openssl verify` (plain and -x509_strict), the JDK's PKIX builder and Go when installed, and a
 * pass-rate table compares them.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeChain, type Verdict } from '../src/index.ts';
import { haveTool, tempDir } from '../../../test/support/tools.ts';

const AT = new Date('2026-06-01T00:00:00Z');
const START = '20250101000000Z';
const END = '20350101000000Z';

type KeyKind = 'ec' | 'p384' | 'p192' | 'dsa' | 'rsa1024' | 'rsa2048';

interface Cert {
  name: string;
  path: string;
  pem: string;
  der: Uint8Array;
  keyPath: string;
}

interface CertSpec {
  subject: string;
  /** Omitted: self-signed. */
  issuer?: Cert;
  /**
   * The key's name: certificates given the same name share one key. By default CAs share one key per
   * role (the builders match issuers by name first), which keeps the suite to few key generations.
   */
  key?: string;
  kind?: KeyKind;
  ext: string[];
  serial?: string;
  start?: string;
  end?: string;
  md?: string;
}

const ROOT = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];
const INT = [...ROOT, 'authorityKeyIdentifier=keyid:always'];
const LEAF_BASE = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid:always',
];
const leafExt = (extra: { eku?: string | null; san?: string | null; more?: string[] } = {}): string[] => [
  ...LEAF_BASE,
  ...(extra.eku === null ? [] : [`extendedKeyUsage=${extra.eku ?? 'clientAuth'}`]),
  ...(extra.san === null ? [] : [`subjectAltName=${extra.san ?? 'DNS:client.example.com'}`]),
  ...(extra.more ?? []),
];

/** A tiny PKI on the openssl CLI: one key per key name, `openssl ca` for every certificate. */
class Pki {
  private keys = new Map<string, { keyPath: string; csr: string }>();
  private n = 0;
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'new'));
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = d',
        '[d]',
        `database = ${join(dir, 'index.txt')}`,
        `new_certs_dir = ${join(dir, 'new')}`,
        `serial = ${join(dir, 'serial')}`,
        'default_md = sha256',
        'policy = any',
        'unique_subject = no',
        'preserve = yes',
        'copy_extensions = none',
        '[any]',
        ...['countryName', 'organizationName', 'organizationalUnitName', 'commonName', 'emailAddress'].map((f) => `${f} = optional`),
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '',
      ].join('\n'),
    );
  }

  openssl(args: string[]): string {
    return execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  private key(name: string, kind: KeyKind): { keyPath: string; csr: string } {
    const hit = this.keys.get(name);
    if (hit) return hit;
    const keyPath = join(this.dir, `${name}.key`);
    const alg: Record<KeyKind, string[]> = {
      ec: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
      p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
      p192: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-192'],
      rsa1024: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
      rsa2048: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      dsa: ['-paramfile', join(this.dir, 'dsa.params')],
    };
    if (kind === 'dsa')
      this.openssl([
        'genpkey',
        '-genparam',
        '-algorithm',
        'DSA',
        '-pkeyopt',
        'dsa_paramgen_bits:2048',
        '-out',
        join(this.dir, 'dsa.params'),
      ]);
    this.openssl(['genpkey', ...alg[kind], '-out', keyPath]);
    // One CSR per key: `openssl ca -subj` gives each certificate its own subject.
    const csr = join(this.dir, `${name}.csr`);
    this.openssl(['req', '-new', '-key', keyPath, '-subj', '/CN=csr', '-config', join(this.dir, 'ca.cnf'), '-out', csr]);
    const k = { keyPath, csr };
    this.keys.set(name, k);
    return k;
  }

  cert(name: string, spec: CertSpec): Cert {
    const { keyPath, csr } = this.key(spec.key ?? (spec.issuer ? 'ca-int' : 'ca-root'), spec.kind ?? 'ec');
    const id = `${name}-${++this.n}`;
    const path = join(this.dir, `${id}.pem`);
    const extPath = join(this.dir, `${id}.ext`);
    writeFileSync(extPath, ['[x]', ...spec.ext, ''].join('\n'));
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'serial'), `${spec.serial ?? `7a${(this.n + 0x1000).toString(16)}5a5a5a5a5a5a5a`}\n`);
    const signer = spec.issuer ? ['-cert', spec.issuer.path, '-keyfile', spec.issuer.keyPath] : ['-selfsign', '-keyfile', keyPath];
    this.openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      join(this.dir, 'ca.cnf'),
      ...signer,
      '-in',
      csr,
      '-out',
      path,
      '-subj',
      spec.subject,
      '-extfile',
      extPath,
      '-extensions',
      'x',
      '-startdate',
      spec.start ?? START,
      '-enddate',
      spec.end ?? END,
      '-md',
      spec.md ?? 'sha256',
    ]);
    const pem = readFileSync(path, 'utf8');
    const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    return { name, path, pem, der: new Uint8Array(Buffer.from(b64, 'base64')), keyPath };
  }

  ski(c: Cert): string {
    const out = this.openssl(['x509', '-in', c.path, '-noout', '-ext', 'subjectKeyIdentifier']);
    return out.split('\n')[1].trim();
  }
}

type Expect = 'accept' | 'reject';

interface Vector {
  id: string;
  namespace: 'rfc5280' | 'webpki' | 'bettertls-nc' | 'pkits' | 'path-building';
  rule: string;
  /** Leaf first, then the intermediates as presented. */
  chain: Cert[];
  anchors: Cert[];
  expect: Expect;
  purpose?: 'client' | 'server';
  /** false: the rule is a judgment call between verifiers, left out of the 100% assertion. */
  certain?: boolean;
}

function buildVectors(p: Pki): Vector[] {
  const v: Vector[] = [];
  const root = p.cert('root', { key: 'root', subject: '/O=Anvil Test/CN=Root CA', ext: ROOT });
  const int = p.cert('int', { key: 'int', subject: '/O=Anvil Test/CN=Intermediate CA', issuer: root, ext: INT });
  const leaf = (name: string, spec: Partial<CertSpec> & { ext?: string[] } = {}, issuer: Cert = int): Cert =>
    p.cert(name, { key: spec.key ?? 'leaf', subject: '/CN=client.example.com', issuer, ext: leafExt(), ...spec });
  const add = (x: Omit<Vector, 'anchors' | 'chain'> & { chain: Cert[]; anchors?: Cert[] }) => v.push({ anchors: [root], ...x });
  const underInt = (l: Cert) => [l, int];

  // ---- baselines ----
  add({ id: 'valid-client', namespace: 'webpki', rule: 'baseline', chain: underInt(leaf('ok')), expect: 'accept' });
  add({ id: 'valid-leaf-under-root', namespace: 'webpki', rule: 'baseline', chain: [leaf('ok-root', {}, root)], expect: 'accept' });
  add({
    id: 'valid-server',
    namespace: 'webpki',
    rule: 'baseline',
    purpose: 'server',
    chain: underInt(leaf('ok-server', { ext: leafExt({ eku: 'serverAuth', san: 'DNS:api.example.com' }) })),
    expect: 'accept',
  });
  add({
    id: 'valid-rsa2048',
    namespace: 'webpki',
    rule: 'baseline',
    chain: underInt(leaf('rsa', { key: 'rsa2048', kind: 'rsa2048' })),
    expect: 'accept',
  });
  add({
    id: 'valid-p384',
    namespace: 'webpki',
    rule: 'baseline',
    chain: underInt(leaf('p384', { key: 'p384', kind: 'p384' })),
    expect: 'accept',
  });
  add({
    id: 'valid-email-uri-sans',
    namespace: 'webpki',
    rule: 'baseline',
    chain: underInt(
      leaf('sans', { subject: '/CN=alice', ext: leafExt({ san: 'email:alice@example.com,URI:spiffe://example.com/alice' }) }),
    ),
    expect: 'accept',
  });
  add({
    id: 'valid-wildcard-leftmost',
    namespace: 'webpki',
    rule: 'baseline',
    purpose: 'server',
    chain: underInt(leaf('wild-ok', { subject: '/CN=*.example.com', ext: leafExt({ eku: 'serverAuth', san: 'DNS:*.example.com' }) })),
    expect: 'accept',
  });
  add({
    id: 'valid-eku-client-and-any',
    namespace: 'webpki',
    rule: 'baseline',
    chain: underInt(leaf('eku-both', { ext: leafExt({ eku: 'clientAuth,anyExtendedKeyUsage' }) })),
    expect: 'accept',
  });
  add({
    id: 'valid-unknown-noncritical-ext',
    namespace: 'rfc5280',
    rule: 'baseline',
    chain: underInt(leaf('noncrit', { ext: leafExt({ more: ['1.3.6.1.4.1.55555.1=DER:05:00'] }) })),
    expect: 'accept',
  });
  add({
    id: 'valid-serial-20-octets',
    namespace: 'rfc5280',
    rule: 'serial',
    chain: underInt(leaf('s20', { serial: `7f${'ab'.repeat(19)}` })),
    expect: 'accept',
  });

  // ---- path building (x509-limbo pathbuilding, RFC 4158) ----
  const missing = p.cert('lonely', { key: 'leaf', subject: '/CN=client.example.com', issuer: int, ext: leafExt() });
  add({ id: 'missing-intermediate', namespace: 'path-building', rule: 'path', chain: [missing], expect: 'reject' });
  const otherRoot = p.cert('other-root', { subject: '/O=Elsewhere/CN=Other Root', ext: ROOT });
  add({
    id: 'untrusted-root',
    namespace: 'path-building',
    rule: 'path',
    chain: underInt(leaf('ok2')),
    anchors: [otherRoot],
    expect: 'reject',
  });
  // Two intermediates with the same subject and key id, one with the wrong key: only the signature tells them apart.
  const impostor = p.cert('impostor', {
    subject: '/O=Anvil Test/CN=Intermediate CA',
    issuer: root,
    ext: [
      ...ROOT.filter((e) => !e.startsWith('subjectKeyIdentifier')),
      `subjectKeyIdentifier=${p.ski(int)}`,
      'authorityKeyIdentifier=keyid:always',
    ],
  });
  add({ id: 'backtrack-wrong-key-first', namespace: 'path-building', rule: 'path', chain: [leaf('bt1'), impostor, int], expect: 'accept' });
  add({ id: 'wrong-key-only', namespace: 'path-building', rule: 'path', chain: [leaf('bt1b'), impostor], expect: 'reject' });
  // A renewed intermediate (same name and key): the expired one first.
  const intExpired = p.cert('int-old', {
    key: 'int',
    subject: '/O=Anvil Test/CN=Intermediate CA',
    issuer: root,
    ext: INT,
    start: '20200101000000Z',
    end: '20250601000000Z',
  });
  add({
    id: 'backtrack-expired-first',
    namespace: 'path-building',
    rule: 'validity',
    chain: [leaf('bt2'), intExpired, int],
    expect: 'accept',
  });
  add({ id: 'expired-intermediate', namespace: 'rfc5280', rule: 'validity', chain: [leaf('bt3'), intExpired], expect: 'reject' });
  // The same intermediate key certified by an untrusted root (listed first) and by the trusted one.
  const foreign = p.cert('foreign-root', { subject: '/O=Foreign/CN=Foreign Root', ext: ROOT });
  const intForeign = p.cert('int-foreign', { key: 'int', subject: '/O=Anvil Test/CN=Intermediate CA', issuer: foreign, ext: INT });
  add({
    id: 'backtrack-untrusted-cross-first',
    namespace: 'path-building',
    rule: 'path',
    chain: [leaf('bt4'), intForeign, int],
    expect: 'accept',
  });
  // Cross-signed root: the anchor is the old root, the new root's self-signed certificate is also sent.
  const newRoot = p.cert('new-root', { key: 'new-root', subject: '/O=Anvil Test/CN=New Root', ext: ROOT });
  const newRootCross = p.cert('new-root-cross', { key: 'new-root', subject: '/O=Anvil Test/CN=New Root', issuer: root, ext: INT });
  const intNew = p.cert('int-new', { subject: '/O=Anvil Test/CN=Issuing CA 2', issuer: newRoot, ext: INT });
  add({
    id: 'cross-signed-root',
    namespace: 'path-building',
    rule: 'path',
    chain: [leaf('cross', {}, intNew), intNew, newRoot, newRootCross],
    expect: 'accept',
  });
  // Deep chains, beyond nginx's ssl_verify_depth (3 here).
  const deep = (n: number): Cert[] => {
    const chain: Cert[] = [];
    let up = root;
    for (let i = 1; i <= n; i++) {
      up = p.cert(`deep${n}-${i}`, { subject: `/O=Anvil Test/CN=Deep ${n} level ${i}`, issuer: up, ext: INT });
      chain.unshift(up);
    }
    return [leaf(`deep${n}-leaf`, {}, up), ...chain];
  };
  add({ id: 'deep-chain-6', namespace: 'path-building', rule: 'depth', chain: deep(6), expect: 'accept' });
  add({ id: 'deep-chain-10', namespace: 'path-building', rule: 'depth', chain: deep(10), expect: 'accept' });

  // ---- RFC 5280 basics (PKITS 4.1-4.7 in spirit) ----
  const intPl0Clean = p.cert('int-pl0c', {
    subject: '/O=Anvil Test/CN=PathLen0 CA',
    issuer: root,
    ext: ['basicConstraints=critical,CA:TRUE,pathlen:0', ...INT.filter((e) => !e.startsWith('basicConstraints'))],
  });
  add({
    id: 'pathlen-0-ok',
    namespace: 'rfc5280',
    rule: 'path_length',
    chain: [leaf('pl-ok', {}, intPl0Clean), intPl0Clean],
    expect: 'accept',
  });
  const subPl = p.cert('sub-pl', { subject: '/O=Anvil Test/CN=Below PathLen0', issuer: intPl0Clean, ext: INT });
  add({
    id: 'pathlen-exceeded',
    namespace: 'rfc5280',
    rule: 'path_length',
    chain: [leaf('pl-bad', {}, subPl), subPl, intPl0Clean],
    expect: 'reject',
  });
  const rootPl0 = p.cert('root-pl0', {
    subject: '/O=Anvil Test/CN=Root PathLen0',
    ext: ['basicConstraints=critical,CA:TRUE,pathlen:0', ...ROOT.slice(1)],
  });
  const intUnderPl0 = p.cert('int-u-pl0', { subject: '/O=Anvil Test/CN=Under Root PathLen0', issuer: rootPl0, ext: INT });
  add({
    id: 'pathlen-on-anchor-exceeded',
    namespace: 'rfc5280',
    rule: 'path_length',
    chain: [leaf('pl-anchor', {}, intUnderPl0), intUnderPl0],
    anchors: [rootPl0],
    expect: 'reject',
    // RFC 5280 §6.1 takes only the anchor's name and key; Go and webpki apply its constraints too.
    certain: false,
  });
  const intNoCertSign = p.cert('int-nocs', {
    subject: '/O=Anvil Test/CN=No CertSign CA',
    issuer: root,
    ext: [
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,digitalSignature,cRLSign',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid:always',
    ],
  });
  add({
    id: 'intermediate-without-keycertsign',
    namespace: 'rfc5280',
    rule: 'key_usage',
    chain: [leaf('nocs', {}, intNoCertSign), intNoCertSign],
    expect: 'reject',
  });
  const intNoBc = p.cert('int-nobc', {
    subject: '/O=Anvil Test/CN=No BC CA',
    issuer: root,
    ext: ['keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid:always'],
  });
  add({
    id: 'intermediate-without-basic-constraints',
    namespace: 'rfc5280',
    rule: 'ca',
    chain: [leaf('nobc', {}, intNoBc), intNoBc],
    expect: 'reject',
  });
  const intCaFalse = p.cert('int-cafalse', {
    subject: '/O=Anvil Test/CN=CA FALSE CA',
    issuer: root,
    ext: ['basicConstraints=critical,CA:FALSE', ...INT.slice(1)],
  });
  add({
    id: 'intermediate-ca-false',
    namespace: 'rfc5280',
    rule: 'ca',
    chain: [leaf('cafalse', {}, intCaFalse), intCaFalse],
    expect: 'reject',
  });
  add({
    id: 'leaf-not-yet-valid',
    namespace: 'rfc5280',
    rule: 'validity',
    chain: underInt(leaf('nyv', { start: '20270101000000Z' })),
    expect: 'reject',
  });
  add({
    id: 'leaf-expired',
    namespace: 'rfc5280',
    rule: 'validity',
    chain: underInt(leaf('exp', { start: '20240101000000Z', end: '20260101000000Z' })),
    expect: 'reject',
  });
  add({
    id: 'sha1-signed-leaf',
    namespace: 'webpki',
    rule: 'signature_algorithm',
    chain: underInt(leaf('sha1', { md: 'sha1' })),
    expect: 'reject',
  });
  const intSha1 = p.cert('int-sha1', { subject: '/O=Anvil Test/CN=SHA1 CA', issuer: root, ext: INT, md: 'sha1' });
  add({
    id: 'sha1-signed-intermediate',
    namespace: 'webpki',
    rule: 'signature_algorithm',
    chain: [leaf('sha1i', {}, intSha1), intSha1],
    expect: 'reject',
  });
  add({
    id: 'leaf-unknown-critical-ext',
    namespace: 'rfc5280',
    rule: 'critical_extensions',
    chain: underInt(leaf('crit', { ext: leafExt({ more: ['1.3.6.1.4.1.55555.2=critical,DER:05:00'] }) })),
    expect: 'reject',
  });
  const intCrit = p.cert('int-crit', {
    subject: '/O=Anvil Test/CN=Critical CA',
    issuer: root,
    ext: [...INT, '1.3.6.1.4.1.55555.3=critical,DER:05:00'],
  });
  add({
    id: 'intermediate-unknown-critical-ext',
    namespace: 'rfc5280',
    rule: 'critical_extensions',
    chain: [leaf('criti', {}, intCrit), intCrit],
    expect: 'reject',
  });

  // ---- web-PKI rules (x509-limbo webpki namespace) ----
  add({
    id: 'leaf-without-aki',
    namespace: 'webpki',
    rule: 'authority_key_id',
    // OpenSSL 3 adds an AKI unless told `none`.
    chain: underInt(
      leaf('noaki', { ext: leafExt().map((e) => (e.startsWith('authorityKeyIdentifier') ? 'authorityKeyIdentifier=none' : e)) }),
    ),
    expect: 'reject',
  });
  const intNoAki = p.cert('int-noaki', {
    subject: '/O=Anvil Test/CN=No AKI CA',
    issuer: root,
    ext: [...ROOT, 'authorityKeyIdentifier=none'],
  });
  add({
    id: 'intermediate-without-aki',
    namespace: 'webpki',
    rule: 'authority_key_id',
    chain: [leaf('noaki-i', {}, intNoAki), intNoAki],
    expect: 'reject',
  });
  const intNoSki = p.cert('int-noski', {
    subject: '/O=Anvil Test/CN=No SKI CA',
    issuer: root,
    ext: [
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier=none',
      'authorityKeyIdentifier=keyid:always',
    ],
  });
  add({
    id: 'intermediate-without-ski',
    namespace: 'webpki',
    rule: 'subject_key_id',
    chain: [
      p.cert('noski-leaf', {
        key: 'leaf',
        subject: '/CN=client.example.com',
        issuer: intNoSki,
        ext: leafExt().map((e) => (e.startsWith('authorityKeyIdentifier') ? 'authorityKeyIdentifier=keyid,issuer' : e)),
      }),
      intNoSki,
    ],
    expect: 'reject',
  });
  add({
    id: 'leaf-without-eku',
    namespace: 'webpki',
    rule: 'eku',
    chain: underInt(leaf('noeku', { ext: leafExt({ eku: null }) })),
    expect: 'reject',
  });
  add({
    id: 'leaf-any-eku-only',
    namespace: 'webpki',
    rule: 'eku',
    chain: underInt(leaf('anyeku', { ext: leafExt({ eku: 'anyExtendedKeyUsage' }) })),
    expect: 'reject',
  });
  add({
    id: 'leaf-server-eku-as-client',
    namespace: 'webpki',
    rule: 'eku',
    chain: underInt(leaf('srv-eku', { ext: leafExt({ eku: 'serverAuth' }) })),
    expect: 'reject',
  });
  add({
    id: 'leaf-client-eku-as-server',
    namespace: 'webpki',
    rule: 'eku',
    purpose: 'server',
    chain: underInt(leaf('cli-eku', { ext: leafExt({ eku: 'clientAuth', san: 'DNS:api.example.com' }) })),
    expect: 'reject',
  });
  add({
    id: 'leaf-ca-true',
    namespace: 'webpki',
    rule: 'leaf_ca',
    chain: underInt(leaf('leafca', { ext: ['basicConstraints=critical,CA:TRUE', ...leafExt().slice(1)] })),
    expect: 'reject',
  });
  add({
    id: 'leaf-dsa-key',
    namespace: 'webpki',
    rule: 'key',
    chain: underInt(leaf('dsa', { key: 'dsa', kind: 'dsa' })),
    expect: 'reject',
  });
  add({
    id: 'leaf-p192-key',
    namespace: 'webpki',
    rule: 'key',
    chain: underInt(leaf('p192', { key: 'p192', kind: 'p192' })),
    expect: 'reject',
  });
  add({
    id: 'leaf-rsa1024-key',
    namespace: 'webpki',
    rule: 'key',
    chain: underInt(leaf('rsa1024', { key: 'rsa1024', kind: 'rsa1024' })),
    expect: 'reject',
  });
  add({ id: 'serial-zero', namespace: 'rfc5280', rule: 'serial', chain: underInt(leaf('s0', { serial: '00' })), expect: 'reject' });
  add({
    id: 'serial-21-octets',
    namespace: 'rfc5280',
    rule: 'serial',
    chain: underInt(leaf('s21', { serial: `01${'00'.repeat(20)}` })),
    expect: 'reject',
  });
  const wild = (id: string, dns: string, certain = true) =>
    add({
      id,
      namespace: 'webpki',
      rule: 'wildcard',
      purpose: 'server',
      chain: underInt(leaf(id, { subject: '/CN=wild', ext: leafExt({ eku: 'serverAuth', san: `DNS:${dns}` }) })),
      expect: 'reject',
      certain,
    });
  wild('wildcard-not-leftmost', 'api.*.example.com');
  wild('wildcard-partial-label', 'f*o.example.com');
  wild('wildcard-over-tld', '*.com', false);
  add({
    id: 'cn-as-host-no-san-client',
    namespace: 'webpki',
    rule: 'host_name',
    chain: underInt(leaf('cn-host', { ext: leafExt({ san: null }) })),
    expect: 'reject',
  });
  add({
    id: 'cn-as-host-no-san-server',
    namespace: 'webpki',
    rule: 'host_name',
    purpose: 'server',
    chain: underInt(leaf('cn-host-s', { subject: '/CN=api.example.com', ext: leafExt({ eku: 'serverAuth', san: null }) })),
    expect: 'reject',
  });

  // ---- name constraints (BetterTLS, x509-limbo rfc5280::nc) ----
  const ncCa = (id: string, nc: string) =>
    p.cert(id, { subject: `/O=Anvil Test/CN=NC ${id}`, issuer: root, ext: [...INT, `nameConstraints=critical,${nc}`] });
  const ncDns = ncCa('nc-dns', 'permitted;DNS:example.com');
  const ncIp = ncCa('nc-ip', 'permitted;IP:10.0.0.0/255.0.0.0');
  const ncEmail = ncCa('nc-email', 'permitted;email:example.com');
  const ncUri = ncCa('nc-uri', 'permitted;URI:.example.com');
  const ncExDns = ncCa('nc-exdns', 'excluded;DNS:evil.example.com');
  const ncExIp = ncCa('nc-exip', 'excluded;IP:192.168.0.0/255.255.0.0');
  const nc = (id: string, ca: Cert, subject: string, san: string | null, expect: Expect) =>
    add({ id, namespace: 'bettertls-nc', rule: 'name_constraints', chain: [leaf(id, { subject, ext: leafExt({ san }) }, ca), ca], expect });
  nc('nc-dns-permitted-ok', ncDns, '/CN=client', 'DNS:a.example.com', 'accept');
  nc('nc-dns-permitted-violated', ncDns, '/CN=client', 'DNS:a.evil.com', 'reject');
  nc('nc-dns-label-boundary', ncDns, '/CN=client', 'DNS:notexample.com', 'reject');
  nc('nc-ip-permitted-ok', ncIp, '/CN=client', 'IP:10.1.2.3', 'accept');
  nc('nc-ip-permitted-violated', ncIp, '/CN=client', 'IP:192.0.2.1', 'reject');
  nc('nc-email-permitted-ok', ncEmail, '/CN=alice', 'email:alice@example.com', 'accept');
  nc('nc-email-permitted-violated', ncEmail, '/CN=alice', 'email:alice@evil.com', 'reject');
  nc('nc-uri-permitted-ok', ncUri, '/CN=svc', 'URI:spiffe://svc.example.com/a', 'accept');
  nc('nc-uri-permitted-violated', ncUri, '/CN=svc', 'URI:spiffe://svc.evil.com/a', 'reject');
  nc('nc-dns-excluded', ncExDns, '/CN=client', 'DNS:x.evil.example.com', 'reject');
  nc('nc-ip-excluded', ncExIp, '/CN=client', 'IP:192.168.7.7', 'reject');
  nc('nc-cn-as-dns-no-san', ncDns, '/CN=host.evil.com', 'email:ops@example.org', 'reject');
  nc('nc-cn-as-dns-beside-dns-san', ncDns, '/CN=host.evil.com', 'DNS:a.example.com', 'reject');
  const rootNc = p.cert('root-nc', {
    subject: '/O=Anvil Test/CN=Root NC',
    ext: [...ROOT, 'nameConstraints=critical,permitted;DNS:example.com'],
  });
  const intUnderNc = p.cert('int-u-nc', { subject: '/O=Anvil Test/CN=Under Root NC', issuer: rootNc, ext: INT });
  add({
    id: 'nc-on-anchor-violated',
    namespace: 'bettertls-nc',
    rule: 'name_constraints',
    chain: [leaf('nc-anchor', { ext: leafExt({ san: 'DNS:a.evil.com' }) }, intUnderNc), intUnderNc],
    anchors: [rootNc],
    expect: 'reject',
    // Anchor constraints are optional in RFC 5280 (RFC 5937 adds them); Go, webpki and OpenSSL apply them.
    certain: false,
  });
  return v;
}

// ---- the other verifiers -------------------------------------------------------------------------

interface Outcome {
  accept: boolean;
  detail: string;
}

function files(dir: string, x: Vector): { anchors: string; untrusted: string | null; leaf: string; chain: string } {
  const base = join(dir, `v-${x.id}`);
  writeFileSync(`${base}-anchors.pem`, x.anchors.map((c) => c.pem).join(''));
  writeFileSync(`${base}-leaf.pem`, x.chain[0].pem);
  writeFileSync(`${base}-chain.pem`, x.chain.map((c) => c.pem).join(''));
  const rest = x.chain.slice(1);
  if (rest.length) writeFileSync(`${base}-untrusted.pem`, rest.map((c) => c.pem).join(''));
  return {
    anchors: `${base}-anchors.pem`,
    untrusted: rest.length ? `${base}-untrusted.pem` : null,
    leaf: `${base}-leaf.pem`,
    chain: `${base}-chain.pem`,
  };
}

async function opensslVerify(dir: string, x: Vector): Promise<Outcome> {
  const f = files(dir, x);
  const args = [
    'verify',
    '-x509_strict',
    '-purpose',
    x.purpose === 'server' ? 'sslserver' : 'sslclient',
    '-attime',
    String(AT.getTime() / 1000),
    '-no-CApath',
    '-no-CAstore',
    '-CAfile',
    f.anchors,
    ...(f.untrusted ? ['-untrusted', f.untrusted] : []),
    f.leaf,
  ];
  const r = await new Promise<{ status: number | null; text: string }>((resolve) => {
    const child = spawn('openssl', args);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('close', (status) => resolve({ status, text: text.replace(/\s+/g, ' ').trim() }));
  });
  return { accept: r.status === 0, detail: r.text.match(/error \d+[^:]*: (.*?)( error in| $)/)?.[1] ?? r.text.slice(0, 120) };
}

/** The JDK's verdicts, in one JVM started in the background (it takes seconds to start and compile). */
async function javaVerdicts(dir: string, vectors: Vector[]): Promise<Map<string, Outcome> | null> {
  if (spawnSync('sh', ['-c', 'command -v java']).status !== 0) return null;
  const manifest = join(dir, 'java-manifest.tsv');
  writeFileSync(
    manifest,
    vectors
      .map((x) => {
        const f = files(dir, x);
        return [x.id, String(AT.getTime() / 1000), x.purpose ?? 'client', f.anchors, f.chain].join('\t');
      })
      .join('\n'),
  );
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('java', [join(import.meta.dirname, 'strict-vectors', 'PkixCheck.java'), manifest]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  if (r.status !== 0) throw new Error(`PkixCheck failed: ${r.stderr}`);
  const out = new Map<string, Outcome>();
  for (const line of r.stdout.trim().split('\n')) {
    const [id, verdict] = line.split('\t');
    out.set(id, { accept: verdict === 'ACCEPT', detail: verdict.replace(/^REJECT /, '') });
  }
  return out;
}

// ---- the suite -----------------------------------------------------------------------------------

describe.skipIf(!haveTool('openssl'))('strict verdict: path-validation vectors', () => {
  let dir: string;
  let vectors: Vector[];
  const verdicts = new Map<string, Verdict>();
  const others = new Map<string, Map<string, Outcome>>();

  beforeAll(async () => {
    dir = tempDir('anvil-strict-');
    vectors = buildVectors(new Pki(dir));
    for (const x of vectors)
      verdicts.set(
        x.id,
        judgeChain({ presented: x.chain.map((c) => c.der), anchors: x.anchors.map((c) => c.der), at: AT, purpose: x.purpose }),
      );
    const java = javaVerdicts(dir, vectors);
    const strictOpenssl = new Map<string, Outcome>();
    // A few at a time: each is a process start, and the JVM runs beside them.
    for (let i = 0; i < vectors.length; i += 4)
      for (const [j, o] of (await Promise.all(vectors.slice(i, i + 4).map((x) => opensslVerify(dir, x)))).entries())
        strictOpenssl.set(vectors[i + j].id, o);
    others.set('openssl -x509_strict', strictOpenssl);
    const javaOut = await java;
    if (javaOut) others.set('java PKIX', javaOut);
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const strictAccepts = (id: string): boolean => verdicts.get(id)!.strict.status === 'verified';

  it('has at least 40 vectors covering every rule of the issue', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(40);
    const rules = new Set(vectors.map((x) => x.rule));
    for (const r of [
      'path',
      'validity',
      'ca',
      'path_length',
      'key_usage',
      'name_constraints',
      'critical_extensions',
      'signature_algorithm',
      'key',
      'serial',
      'authority_key_id',
      'eku',
      'leaf_ca',
      'wildcard',
      'host_name',
      'depth',
    ])
      expect(rules, r).toContain(r);
  });

  it('gives the expected strict verdict on every vector whose expectation is certain', () => {
    const wrong = vectors
      .filter((x) => x.certain !== false && strictAccepts(x.id) !== (x.expect === 'accept'))
      .map(
        (x) =>
          `${x.id}: expected ${x.expect}, strict says ${verdicts.get(x.id)!.strict.status} (${verdicts
            .get(x.id)!
            .strict.checks.filter((c) => !c.ok)
            .map((c) => c.detail)
            .join('; ')})`,
      );
    expect(wrong).toEqual([]);
  });

  it('names the rule a rejected vector breaks as the strict reason', () => {
    for (const x of vectors.filter((v) => v.expect === 'reject' && v.rule !== 'depth')) {
      const s = verdicts.get(x.id)!.strict;
      const failed = s.checks.filter((c) => !c.ok).map((c) => c.name);
      expect(failed, x.id).toContain(x.rule);
    }
  });

  it('leaves the nginx and openssl fields as the OpenSSL replay says, and hints only where nginx accepts and strict refuses', () => {
    for (const x of vectors) {
      const v = verdicts.get(x.id)!;
      const nginxOk = v.nginx === 'SUCCESS';
      expect(v.strict.hint !== null, x.id).toBe(nginxOk && v.strict.status === 'failed');
      if (v.strict.hint) expect(v.strict.hint).toMatch(/^nginx \(OpenSSL\) accepts this chain, but the strict rules do not/);
    }
    // The issue's examples: nginx accepts, strict refuses, the hint names who refuses.
    for (const id of ['leaf-without-aki', 'leaf-ca-true', 'leaf-p192-key', 'serial-zero', 'backtrack-untrusted-cross-first'].filter(
      (i) => verdicts.get(i)!.nginx === 'SUCCESS' && !strictAccepts(i),
    ))
      expect(verdicts.get(id)!.strict.hint, id).toMatch(/Refused by|enforces by default/);
    expect(verdicts.get('leaf-p192-key')!.strict.checks.find((c) => c.name === 'key')?.refusedBy).toContain('go');
    expect(verdicts.get('leaf-without-aki')!.strict.hint).toContain('pyca/cryptography (authority key id)');
    expect(verdicts.get('leaf-ca-true')!.strict.checks.find((c) => c.name === 'leaf_ca')?.refusedBy).toContain('rustls/webpki');
  });

  it('finds the good path by backtracking where the first candidate fails', () => {
    for (const id of ['backtrack-wrong-key-first', 'backtrack-expired-first', 'backtrack-untrusted-cross-first', 'cross-signed-root']) {
      const s = verdicts.get(id)!.strict;
      expect(s.status, id).toBe('verified');
      expect(s.path!.at(-1)!.subject).toContain('Root CA');
    }
    expect(verdicts.get('deep-chain-10')!.strict.path).toHaveLength(12);
    expect(verdicts.get('deep-chain-10')!.nginx).not.toBe('SUCCESS');
  });

  it("strict's pass rate is at least the best other verifier's (openssl -x509_strict, java, go when installed)", () => {
    const rate = (accepts: (id: string) => boolean) => vectors.filter((x) => accepts(x.id) === (x.expect === 'accept')).length;
    const strictRate = rate(strictAccepts);
    const rows: Array<[string, number]> = [
      ['anvil strict', strictRate],
      ['anvil nginx replay', rate((id) => verdicts.get(id)!.nginx === 'SUCCESS')],
      ...[...others].map(([name, m]) => [name, rate((id) => m.get(id)!.accept)] as [string, number]),
    ];
    const names = ['strict', 'nginx', ...others.keys()];
    const cell = (ok: boolean, accept: boolean) => `${accept ? 'accept' : 'reject'}${ok ? '' : ' ✗'}`;
    const lines = vectors.map((x) => {
      const v = verdicts.get(x.id)!;
      const results = [strictAccepts(x.id), v.nginx === 'SUCCESS', ...[...others.values()].map((m) => m.get(x.id)!.accept)];
      return [x.namespace, x.id, x.expect, ...results.map((a) => cell(a === (x.expect === 'accept'), a))].join(' | ');
    });
    const byRule = new Map<string, Record<string, number>>();
    for (const x of vectors) {
      const r = byRule.get(x.rule) ?? { vectors: 0, ...Object.fromEntries(names.map((n) => [n, 0])) };
      r.vectors++;
      const results = [
        strictAccepts(x.id),
        verdicts.get(x.id)!.nginx === 'SUCCESS',
        ...[...others.values()].map((m) => m.get(x.id)!.accept),
      ];
      results.forEach((a, i) => {
        if (a !== (x.expect === 'accept')) r[names[i]]++;
      });
      byRule.set(x.rule, r);
    }
    console.log(
      [
        '',
        `strict verdict vectors: ${vectors.length} (go: ${spawnSync('sh', ['-c', 'command -v go']).status === 0 ? 'installed but not wired' : 'not installed'})`,
        `namespace | vector | expected | strict | nginx | ${[...others.keys()].join(' | ')}`,
        ...lines,
        '',
        `failures by rule: rule | vectors | ${names.join(' | ')}`,
        ...[...byRule].map(([rule, r]) => [rule, r.vectors, ...names.map((n) => r[n])].join(' | ')),
        '',
        `pass rate by namespace: namespace | vectors | ${names.join(' | ')}`,
        ...[...new Set(vectors.map((x) => x.namespace))].map((ns) => {
          const in_ = vectors.filter((x) => x.namespace === ns);
          const passed = (i: number) =>
            in_.filter((x) => {
              const v = verdicts.get(x.id)!;
              const results = [strictAccepts(x.id), v.nginx === 'SUCCESS', ...[...others.values()].map((m) => m.get(x.id)!.accept)];
              return results[i] === (x.expect === 'accept');
            }).length;
          return [ns, in_.length, ...names.map((_, i) => passed(i))].join(' | ');
        }),
        '',
        'pass rate:',
        ...rows.map(([name, n]) => `  ${name}: ${n}/${vectors.length} (${((100 * n) / vectors.length).toFixed(1)}%)`),
        '',
      ].join('\n'),
    );
    const best = Math.max(...rows.slice(2).map(([, n]) => n));
    expect(strictRate).toBeGreaterThanOrEqual(best);
    expect(strictRate).toBeGreaterThanOrEqual(rows.find(([n]) => n === 'openssl -x509_strict')![1]);
  });
});

describe('strict verdict: nothing or garbage presented', () => {
  it('is absent when no certificate is presented, failed/malformed when one does not decode', () => {
    const absent = judgeChain({ presented: [], anchors: [], at: AT });
    expect(absent.strict).toEqual({ status: 'absent', reason: null, checks: [], path: null, hint: null });
    const garbage = judgeChain({ presented: [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])], anchors: [], at: AT });
    expect(garbage.strict).toMatchObject({ status: 'failed', reason: 'malformed', path: null, hint: null });
  });
});

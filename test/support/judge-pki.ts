/**
 * The PKI cases the judge parity suites share (nginx: judge-parity.test.ts, HAProxy:
 * judge-haproxy-parity.test.ts): a small PKI made with the openssl CLI, so validity dates and
 * CRLs are real OpenSSL output, and the matrix of client chains judged against it.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JudgeOptions, JudgeReason, Verdict } from '../../packages/pki/src/index.ts';

// ---- a small PKI made with the openssl CLI -------------------------------------------------------

export type KeyKind = 'ec' | 'rsa' | 'ed25519';

export interface Issued {
  name: string;
  certPath: string;
  keyPath: string;
  pem: string;
  der: Uint8Array;
}
export interface Ca extends Issued {
  cnf: string;
}

export const pemToDer = (pem: string): Uint8Array =>
  new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
export const derToPem = (der: Uint8Array, label = 'CERTIFICATE'): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;

export class OpensslPki {
  constructor(readonly dir: string) {}

  openssl(args: string[]): string {
    return execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  key(name: string, kind: KeyKind): string {
    const path = join(this.dir, `${name}.key`);
    const alg: Record<KeyKind, string[]> = {
      ec: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
      rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      ed25519: ['-algorithm', 'ED25519'],
    };
    this.openssl(['genpkey', ...alg[kind], '-out', path]);
    return path;
  }

  private load(name: string, certPath: string, keyPath: string): Issued {
    const pem = readFileSync(certPath, 'utf8');
    return { name, certPath, keyPath, pem, der: pemToDer(pem) };
  }

  /** An `openssl ca` database for a CA, so it can sign with exact dates, revoke and make CRLs. */
  asCa(c: Issued): Ca {
    const dir = join(this.dir, `ca-${c.name}`);
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), `1${randomBytes(8).toString('hex')}1\n`);
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    const cnf = join(dir, 'ca.cnf');
    writeFileSync(
      cnf,
      [
        '[ ca ]',
        'default_ca = CA_default',
        '[ CA_default ]',
        `dir = ${dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        `certificate = ${c.certPath}`,
        `private_key = ${c.keyPath}`,
        'serial = $dir/serial',
        'crlnumber = $dir/crlnumber',
        'default_md = sha256',
        'default_crl_days = 30',
        'policy = policy_any',
        'unique_subject = no',
        'preserve = yes',
        'copy_extensions = none',
        '[ policy_any ]',
        ...[
          'countryName',
          'stateOrProvinceName',
          'localityName',
          'organizationName',
          'organizationalUnitName',
          'commonName',
          'emailAddress',
        ].map((f) => `${f} = optional`),
        '[ crl_ext ]',
        'authorityKeyIdentifier = keyid:always',
        '',
      ].join('\n'),
    );
    return { ...c, cnf };
  }

  root(
    name: string,
    subject: string,
    kind: KeyKind = 'ec',
    ext = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  ): Ca {
    const keyPath = this.key(name, kind);
    const certPath = join(this.dir, `${name}.pem`);
    this.openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      keyPath,
      '-subj',
      subject,
      '-days',
      '3650',
      '-out',
      certPath,
      ...ext.flatMap((e) => ['-addext', e]),
    ]);
    return this.asCa(this.load(name, certPath, keyPath));
  }

  issue(
    name: string,
    issuer: Ca,
    p: { subject: string; kind?: KeyKind; ext: string[]; startdate?: string; enddate?: string; md?: string },
  ): Issued {
    const keyPath = this.key(name, p.kind ?? 'ec');
    const csr = join(this.dir, `${name}.csr`);
    this.openssl(['req', '-new', '-key', keyPath, '-subj', p.subject, '-out', csr]);
    const extPath = join(this.dir, `${name}.ext`);
    writeFileSync(extPath, `${p.ext.join('\n')}\n`);
    const certPath = join(this.dir, `${name}.pem`);
    const validity = p.startdate ? ['-startdate', p.startdate, '-enddate', p.enddate!] : ['-days', '365'];
    this.openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      issuer.cnf,
      '-in',
      csr,
      '-out',
      certPath,
      '-extfile',
      extPath,
      '-md',
      p.md ?? 'sha256',
      ...validity,
    ]);
    return this.load(name, certPath, keyPath);
  }

  ca(name: string, issuer: Ca, subject: string, kind: KeyKind = 'ec', ext = CA_EXT): Ca {
    return this.asCa(this.issue(name, issuer, { subject, kind, ext, startdate: '20240101000000Z', enddate: '20400101000000Z' }));
  }

  revoke(ca: Ca, cert: Issued, reason = 'keyCompromise'): void {
    this.openssl(['ca', '-config', ca.cnf, '-revoke', cert.certPath, '-crl_reason', reason]);
  }

  crl(ca: Ca): { pem: string; der: Uint8Array } {
    const path = join(this.dir, `${ca.name}-${randomBytes(3).toString('hex')}.crl.pem`);
    this.openssl(['ca', '-config', ca.cnf, '-gencrl', '-crlexts', 'crl_ext', '-out', path]);
    const pem = readFileSync(path, 'utf8');
    return { pem, der: pemToDer(pem) };
  }
}

export const CA_EXT = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid:always',
];
export const clientExt = (
  san = 'DNS:client1.example.test, email:client1@example.test, IP:10.0.0.7',
  eku = 'clientAuth',
  ku = 'digitalSignature',
) => [
  'basicConstraints=critical,CA:FALSE',
  `keyUsage=critical,${ku}`,
  `extendedKeyUsage=${eku}`,
  `subjectAltName=${san}`,
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
];

// ---- the case matrix --------------------------------------------------------------------------------

export interface Case {
  name: string;
  /** What the client sends, leaf first; empty: no certificate. */
  chain: Issued[];
  /** Private key of the leaf (for curl). */
  key?: string;
  anchors: Issued[];
  crls?: Array<{ pem: string; der: Uint8Array }>;
  depth?: number;
  expectName?: JudgeOptions['expectName'];
  /** The judge's expected verdict (the nginx string and the OpenSSL code come from the real tools). */
  status: Verdict['status'];
  reason: JudgeReason | null;
  revocation?: Verdict['revocation']['status'];
  /** Run curl at OpenSSL security level 0, so the client loads a certificate its own OpenSSL dislikes. */
  clientSeclevel0?: boolean;
}

export function buildMatrix(pki: OpensslPki): Case[] {
  const root = pki.root('root', '/O=Anvil Test/CN=Anvil Test Root');
  const intA = pki.ca('intA', root, '/O=Anvil Test/CN=Anvil Test Intermediate A');
  const intB = pki.ca('intB', root, '/O=Anvil Test/CN=Anvil Test Intermediate B', 'rsa');
  const leaf = pki.issue('leaf', intA, { subject: '/O=Partner A/CN=client1', ext: clientExt() });
  const rsaLeaf = pki.issue('rsaleaf', intB, { subject: '/CN=client-rsa', kind: 'rsa', ext: clientExt('DNS:client-rsa.example.test') });
  const edLeaf = pki.issue('edleaf', intA, {
    subject: '/CN=client-ed25519',
    kind: 'ed25519',
    ext: clientExt('DNS:client-ed.example.test'),
  });
  const expired = pki.issue('expired', intA, {
    subject: '/CN=old',
    ext: clientExt('DNS:old.example.test'),
    startdate: '20240101000000Z',
    enddate: '20250101000000Z',
  });
  const future = pki.issue('future', intA, {
    subject: '/CN=future',
    ext: clientExt('DNS:future.example.test'),
    startdate: '20500101000000Z',
    enddate: '20510101000000Z',
  });
  const revoked = pki.issue('revoked', intA, { subject: '/CN=revoked', ext: clientExt('DNS:revoked.example.test') });
  pki.revoke(intA, revoked, 'keyCompromise');
  const crlA = pki.crl(intA);
  const crlRoot = pki.crl(root);
  const serverOnly = pki.issue('serveronly', intA, { subject: '/CN=server-only', ext: clientExt('DNS:srv.example.test', 'serverAuth') });
  const noDigSig = pki.issue('nodigsig', intA, {
    subject: '/CN=no-digital-signature',
    kind: 'rsa',
    ext: clientExt('DNS:enc.example.test', 'clientAuth', 'keyEncipherment'),
  });
  const otherRoot = pki.root('oroot', '/O=Elsewhere/CN=Elsewhere Root');
  const otherInt = pki.ca('oint', otherRoot, '/O=Elsewhere/CN=Elsewhere Intermediate');
  const stranger = pki.issue('stranger', otherInt, { subject: '/CN=stranger', ext: clientExt('DNS:stranger.example.test') });
  const selfSigned = pki.root('selfsigned', '/CN=self-signed-client', 'ec', [
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
  ]);
  const byLeaf = pki.issue('byleaf', pki.asCa(leaf), { subject: '/CN=signed-by-a-leaf', ext: clientExt('DNS:by-leaf.example.test') });
  const badSig = new Uint8Array(leaf.der);
  badSig[badSig.length - 6] ^= 0x01; // inside the signature value
  const tampered: Issued = { ...leaf, name: 'tampered', der: badSig, pem: derToPem(badSig) };
  const pathlen0 = pki.ca('pathlen0', root, '/O=Anvil Test/CN=Pathlen Zero CA', 'ec', [
    ...CA_EXT.slice(1),
    'basicConstraints=critical,CA:TRUE,pathlen:0',
  ]);
  const belowPathlen = pki.ca('belowpl', pathlen0, '/O=Anvil Test/CN=CA Below Pathlen Zero');
  const deepLeaf = pki.issue('deepleaf', belowPathlen, { subject: '/CN=too-deep-for-pathlen', ext: clientExt('DNS:deep.example.test') });
  const intC = pki.ca('intC', intA, '/O=Anvil Test/CN=Anvil Test Intermediate C');
  const cLeaf = pki.issue('cleaf', intC, { subject: '/CN=three-levels', ext: clientExt('DNS:three.example.test') });
  const constrained = pki.ca('intNC', root, '/O=Anvil Test/CN=Constrained CA', 'ec', [
    ...CA_EXT,
    'nameConstraints=critical,permitted;DNS:.allowed.test',
  ]);
  const outside = pki.issue('outside', constrained, { subject: '/CN=outside', ext: clientExt('DNS:client.other.test') });
  const sha1Leaf = pki.issue('sha1leaf', intB, {
    subject: '/CN=sha1-signed',
    kind: 'rsa',
    ext: clientExt('DNS:sha1.example.test'),
    md: 'sha1',
  });

  const k = (x: Issued) => x.keyPath;
  return [
    {
      name: 'valid EC client certificate + intermediate',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [root],
      status: 'verified',
      reason: null,
      revocation: 'unknown',
    },
    {
      name: 'valid RSA client via a second intermediate (RSA)',
      chain: [rsaLeaf, intB],
      key: k(rsaLeaf),
      anchors: [root],
      status: 'verified',
      reason: null,
    },
    { name: 'valid Ed25519 client certificate', chain: [edLeaf, intA], key: k(edLeaf), anchors: [root], status: 'verified', reason: null },
    {
      name: 'leaf only (intermediate not sent)',
      chain: [leaf],
      key: k(leaf),
      anchors: [root],
      status: 'failed',
      reason: 'missing_intermediate',
    },
    { name: 'expired', chain: [expired, intA], key: k(expired), anchors: [root], status: 'failed', reason: 'expired' },
    { name: 'not yet valid', chain: [future, intA], key: k(future), anchors: [root], status: 'failed', reason: 'not_yet_valid' },
    {
      name: 'CRLs for every CA, leaf not revoked',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [root],
      crls: [crlA, crlRoot],
      status: 'verified',
      reason: null,
      revocation: 'good',
    },
    {
      name: 'revoked (CRL)',
      chain: [revoked, intA],
      key: k(revoked),
      anchors: [root],
      crls: [crlA, crlRoot],
      status: 'failed',
      reason: 'revoked',
      revocation: 'revoked',
    },
    {
      name: 'ssl_crl without the root CRL',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [root],
      crls: [crlA],
      status: 'failed',
      reason: 'revocation_unknown',
      revocation: 'good',
    },
    { name: 'server-only EKU', chain: [serverOnly, intA], key: k(serverOnly), anchors: [root], status: 'failed', reason: 'wrong_purpose' },
    {
      name: 'keyUsage without digitalSignature',
      chain: [noDigSig, intA],
      key: k(noDigSig),
      anchors: [root],
      status: 'failed',
      reason: 'key_usage',
    },
    {
      name: 'unknown CA (foreign intermediate sent)',
      chain: [stranger, otherInt],
      key: k(stranger),
      anchors: [root],
      status: 'failed',
      reason: 'unknown_ca',
    },
    {
      name: 'foreign root sent in the chain',
      chain: [stranger, otherInt, otherRoot],
      key: k(stranger),
      anchors: [root],
      status: 'failed',
      reason: 'unknown_ca',
    },
    {
      name: 'self-signed client certificate',
      chain: [selfSigned],
      key: k(selfSigned),
      anchors: [root],
      status: 'failed',
      reason: 'self_signed',
    },
    {
      name: 'signed by a non-CA certificate',
      chain: [byLeaf, leaf, intA],
      key: k(byLeaf),
      anchors: [root],
      status: 'failed',
      reason: 'not_a_ca',
    },
    {
      name: 'bad signature (one bit flipped)',
      chain: [tampered, intA],
      key: k(leaf),
      anchors: [root],
      status: 'failed',
      reason: 'bad_signature',
    },
    {
      name: 'wrong DNS name (expectName)',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [root],
      expectName: { type: 'dns', value: 'other.example.test' },
      status: 'failed',
      reason: 'name_mismatch',
    },
    {
      name: 'wrong email (expectName)',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [root],
      expectName: { type: 'email', value: 'someone@example.test' },
      status: 'failed',
      reason: 'name_mismatch',
    },
    {
      name: 'wrong IP (expectName)',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [root],
      expectName: { type: 'ip', value: '10.0.0.8' },
      status: 'failed',
      reason: 'name_mismatch',
    },
    {
      name: 'right DNS name (expectName)',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [root],
      expectName: { type: 'dns', value: 'CLIENT1.example.test' },
      status: 'verified',
      reason: null,
    },
    {
      name: 'pathLenConstraint 0 violated',
      chain: [deepLeaf, belowPathlen, pathlen0],
      key: k(deepLeaf),
      anchors: [root],
      status: 'failed',
      reason: 'path_length',
    },
    {
      name: 'three-level chain within ssl_verify_depth 3',
      chain: [cLeaf, intC, intA],
      key: k(cLeaf),
      anchors: [root],
      status: 'verified',
      reason: null,
    },
    {
      name: 'three-level chain beyond ssl_verify_depth 1',
      chain: [cLeaf, intC, intA],
      key: k(cLeaf),
      anchors: [root],
      depth: 1,
      status: 'failed',
      reason: 'path_length',
    },
    {
      name: 'trust bundle holds only the intermediate',
      chain: [leaf, intA],
      key: k(leaf),
      anchors: [intA],
      status: 'failed',
      reason: 'unknown_ca',
    },
    {
      name: 'name constraints violated',
      chain: [outside, constrained],
      key: k(outside),
      anchors: [root],
      status: 'failed',
      reason: 'name_constraints',
    },
    // curl's own OpenSSL refuses to load a SHA-1 certificate at security level 1; lower it for the client only.
    {
      name: 'SHA-1 signed leaf (security level 1)',
      chain: [sha1Leaf, intB],
      key: k(sha1Leaf),
      anchors: [root],
      status: 'failed',
      reason: 'bad_signature',
      clientSeclevel0: true,
    },
    { name: 'no client certificate', chain: [], anchors: [root], status: 'absent', reason: null },
  ];
}

/** The matrix's case names, in order: known before a suite's beforeAll builds the certificates (it.each needs them at collection). */
export const MATRIX_CASE_NAMES = [
  'valid EC client certificate + intermediate',
  'valid RSA client via a second intermediate (RSA)',
  'valid Ed25519 client certificate',
  'leaf only (intermediate not sent)',
  'expired',
  'not yet valid',
  'CRLs for every CA, leaf not revoked',
  'revoked (CRL)',
  'ssl_crl without the root CRL',
  'server-only EKU',
  'keyUsage without digitalSignature',
  'unknown CA (foreign intermediate sent)',
  'foreign root sent in the chain',
  'self-signed client certificate',
  'signed by a non-CA certificate',
  'bad signature (one bit flipped)',
  'wrong DNS name (expectName)',
  'wrong email (expectName)',
  'wrong IP (expectName)',
  'right DNS name (expectName)',
  'pathLenConstraint 0 violated',
  'three-level chain within ssl_verify_depth 3',
  'three-level chain beyond ssl_verify_depth 1',
  'trust bundle holds only the intermediate',
  'name constraints violated',
  'SHA-1 signed leaf (security level 1)',
  'no client certificate',
];

/**
 * curl presenting a case's client chain and key (none for the no-certificate case), with OpenSSL's
 * security level 0 on the client when the case needs it; `args` are curl's other arguments.
 */
export function curlAsClient(c: Case, dir: string, args: string[]): SpawnSyncReturns<string> {
  const env = { ...process.env };
  if (c.clientSeclevel0) {
    env.OPENSSL_CONF = join(dir, 'client-openssl.cnf');
    writeFileSync(
      env.OPENSSL_CONF,
      'openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nCipherString = DEFAULT:@SECLEVEL=0\n',
    );
  }
  const certArgs: string[] = [];
  if (c.chain.length) {
    const certFile = join(dir, 'client.pem');
    writeFileSync(certFile, c.chain.map((x) => x.pem).join(''));
    certArgs.push('--cert', certFile, '--key', c.key!);
  }
  return spawnSync('curl', [...certArgs, ...args], { encoding: 'utf8', env });
}

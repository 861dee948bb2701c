/**
 * Judge parity: for every case the verdict engine must say exactly what a real nginx
 * ($ssl_client_verify) and `openssl verify` say for the same certificates, trust anchors and
 * CRLs. The PKI is built with the openssl CLI (openssl ca, so validity dates and CRLs are real
 * OpenSSL output), nginx runs on loopback ports with `ssl_verify_client optional`, and curl
 * presents each client certificate.
 *
 * Without nginx the suite skips loudly; under CI=true a missing nginx fails it.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OPENSSL_VERIFY_CONTINUES,
  createJudge,
  judgeChain,
  type JudgeOptions,
  type JudgeReason,
  type Verdict,
} from '../../packages/pki/src/index.ts';
import { freePort, waitForPort } from '../support/nginx.ts';

// ---- environment ------------------------------------------------------------------------------

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : which('nginx');
const HAVE_OPENSSL = which('openssl') !== null;
const HAVE_CURL = which('curl') !== null;
const MISSING = [!NGINX && 'nginx', !HAVE_OPENSSL && 'openssl', !HAVE_CURL && 'curl'].filter(Boolean) as string[];
if (MISSING.length) {
  const msg = `judge parity: ${MISSING.join(', ')} not installed`;
  if (process.env.CI === 'true') throw new Error(`${msg}; CI must run this suite (apt-get install nginx-light openssl curl)`);
  console.warn(`\n*** ${msg}: SKIPPING the nginx/OpenSSL parity suite ***\n`);
}
const withTools = MISSING.length ? describe.skip : describe;
const withOpenssl = HAVE_OPENSSL ? describe : describe.skip;

// ---- a small PKI made with the openssl CLI -------------------------------------------------------

type KeyKind = 'ec' | 'rsa' | 'ed25519';

interface Issued {
  name: string;
  certPath: string;
  keyPath: string;
  pem: string;
  der: Uint8Array;
}
interface Ca extends Issued {
  cnf: string;
}

const pemToDer = (pem: string): Uint8Array =>
  new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
const derToPem = (der: Uint8Array, label = 'CERTIFICATE'): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;

class OpensslPki {
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

const CA_EXT = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid:always',
];
const clientExt = (
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

interface Case {
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

function buildMatrix(pki: OpensslPki): Case[] {
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

// ---- running nginx, curl and openssl verify ------------------------------------------------------

interface Prepared {
  c: Case;
  dir: string;
  port: number;
  anchorsPath: string;
  crlPath?: string;
}

function nginxConf(root: string, servers: Prepared[], serverCert: string, serverKey: string): string {
  const blocks = servers.map(
    (p) => `
  server {
    listen 127.0.0.1:${p.port} ssl;
    ssl_certificate ${serverCert};
    ssl_certificate_key ${serverKey};
    ssl_verify_client optional;
    ssl_client_certificate ${p.anchorsPath};
    ssl_verify_depth ${p.c.depth ?? 3};${p.crlPath ? `\n    ssl_crl ${p.crlPath};` : ''}
    # A failed verification ends in error 495 before any location runs; show the verdict anyway.
    error_page 495 = @verdict;
    location / { return 200 "$ssl_client_verify"; }
    location @verdict { return 200 "$ssl_client_verify"; }
  }`,
  );
  return `daemon off;
master_process off;
pid ${root}/nginx.pid;
error_log ${root}/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${root}/tmp/body;
  proxy_temp_path ${root}/tmp/proxy;
  fastcgi_temp_path ${root}/tmp/fastcgi;
  uwsgi_temp_path ${root}/tmp/uwsgi;
  scgi_temp_path ${root}/tmp/scgi;
${blocks.join('\n')}
}
`;
}

function curlVerdict(p: Prepared): string {
  const args = ['-sk', '--max-time', '10', `https://127.0.0.1:${p.port}/`];
  const env = { ...process.env };
  if (p.c.clientSeclevel0) {
    env.OPENSSL_CONF = join(p.dir, 'client-openssl.cnf');
    writeFileSync(
      env.OPENSSL_CONF,
      'openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nCipherString = DEFAULT:@SECLEVEL=0\n',
    );
  }
  if (p.c.chain.length) {
    const certFile = join(p.dir, 'client.pem');
    writeFileSync(certFile, p.c.chain.map((x) => x.pem).join(''));
    args.unshift('--cert', certFile, '--key', p.c.key!);
  }
  const r = spawnSync('curl', args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`curl failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

interface OpensslVerifyResult {
  ok: boolean;
  errors: Array<{ code: number; depth: number }>;
  output: string;
}

function opensslVerify(p: Prepared): OpensslVerifyResult {
  const { c, dir } = p;
  const args = ['verify', '-purpose', 'sslclient', '-verify_depth', String(c.depth ?? 3), '-auth_level', '1', '-CAfile', p.anchorsPath];
  if (c.chain.length > 1) {
    const untrusted = join(dir, 'untrusted.pem');
    writeFileSync(
      untrusted,
      c.chain
        .slice(1)
        .map((x) => x.pem)
        .join(''),
    );
    args.push('-untrusted', untrusted);
  }
  if (p.crlPath) args.push('-crl_check_all', '-CRLfile', p.crlPath);
  if (c.expectName) {
    const flag = { dns: '-verify_hostname', email: '-verify_email', ip: '-verify_ip', uri: '' }[c.expectName.type];
    if (flag) args.push(flag, c.expectName.value);
  }
  const leafPath = join(dir, 'leaf.pem');
  writeFileSync(leafPath, c.chain[0].pem);
  args.push(leafPath);
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  const output = `${r.stdout}${r.stderr}`;
  const errors = [...output.matchAll(/error (\d+) at (\d+) depth lookup/g)].map((m) => ({ code: Number(m[1]), depth: Number(m[2]) }));
  return { ok: r.status === 0, errors, output };
}

// ---- the suite -------------------------------------------------------------------------------

withTools('judge parity with nginx and openssl verify', () => {
  let work: string;
  let nginx: ChildProcess | undefined;
  const prepared = new Map<string, Prepared>();
  const rows: Array<Record<string, string>> = [];
  let cases: Case[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'anvil-judge-parity-'));
    const pki = new OpensslPki(work);
    cases = buildMatrix(pki);
    const server = pki.root('nginx-server', '/CN=localhost', 'ec', ['subjectAltName=DNS:localhost,IP:127.0.0.1']);
    const nginxRoot = join(work, 'nginx');
    mkdirSync(join(nginxRoot, 'tmp'), { recursive: true });
    for (const [i, c] of cases.entries()) {
      const dir = join(work, `case-${i}`);
      mkdirSync(dir);
      const anchorsPath = join(dir, 'anchors.pem');
      writeFileSync(anchorsPath, c.anchors.map((a) => a.pem).join(''));
      let crlPath: string | undefined;
      if (c.crls) {
        crlPath = join(dir, 'crls.pem');
        writeFileSync(crlPath, c.crls.map((x) => x.pem).join(''));
      }
      prepared.set(c.name, { c, dir, port: await freePort(), anchorsPath, crlPath });
    }
    const confPath = join(nginxRoot, 'nginx.conf');
    writeFileSync(confPath, nginxConf(nginxRoot, [...prepared.values()], server.certPath, server.keyPath));
    const logPath = join(nginxRoot, 'error.log');
    writeFileSync(logPath, '');
    nginx = spawn(NGINX!, ['-p', nginxRoot, '-c', confPath, '-e', logPath], { stdio: 'ignore' });
    for (const p of prepared.values()) await waitForPort(p.port, nginx, logPath);
  });

  afterAll(() => {
    if (nginx && nginx.exitCode === null) nginx.kill('SIGTERM');
    if (rows.length) console.table(rows);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('covers the required matrix', () => {
    expect(cases.length).toBeGreaterThanOrEqual(14);
  });

  // Case names are known before beforeAll builds the certificates.
  const names = [
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

  it.each(names)('%s', (name) => {
    const p = prepared.get(name);
    if (!p) throw new Error(`case "${name}" is not in the matrix`);
    const { c } = p;
    const at = new Date();
    const body = curlVerdict(p);
    const options: JudgeOptions = { at, expectName: c.expectName, maxDepth: c.depth ?? 3 };
    const verdict = judgeChain({
      presented: c.chain.map((x) => x.der),
      anchors: c.anchors.map((a) => a.der),
      crls: c.crls?.map((x) => x.der),
      ...options,
    });
    const ov = c.chain.length ? opensslVerify(p) : null;
    rows.push({
      case: name,
      nginx: body,
      'openssl verify': ov ? (ov.ok ? 'OK' : ov.errors.map((e) => `${e.code}@${e.depth}`).join(' ')) : '-',
      judge: `${verdict.status}${verdict.reason ? `/${verdict.reason}` : ''}`,
    });

    // (a) nginx: the exact $ssl_client_verify string.
    expect(verdict.nginx).toBe(body);
    const fromNginx = body === 'SUCCESS' ? 'verified' : body === 'NONE' ? 'absent' : 'failed';
    // nginx does not check client names: with expectName the judge may fail where nginx succeeds.
    if (!(c.expectName && c.reason === 'name_mismatch')) expect(verdict.status).toBe(fromNginx);

    // (b) openssl verify: the first error it prints is the judge's `openssl`, and everything it
    // prints is the judge's error sequence up to the first error the CLI does not continue past.
    if (ov) {
      if (ov.ok) expect(verdict.openssl, ov.output).toBeNull();
      else expect(verdict.openssl?.code, ov.output).toBe(ov.errors[0].code);
      if (!ov.ok) expect(verdict.openssl?.depth).toBe(ov.errors[0].depth);
      const trace = createJudge({ anchors: c.anchors.map((a) => a.der), crls: c.crls?.map((x) => x.der) })
        .trace(
          c.chain.map((x) => x.der),
          options,
        )
        .events.map((e) => ({ code: e.code, depth: e.depth }));
      const stop = trace.findIndex((e) => !OPENSSL_VERIFY_CONTINUES.has(e.code));
      expect(ov.errors, ov.output).toEqual(stop < 0 ? trace : trace.slice(0, stop + 1));
    }

    // (c) the judge's own words.
    expect(verdict.status).toBe(c.status);
    expect(verdict.reason).toBe(c.reason);
    if (c.revocation) expect(verdict.revocation.status).toBe(c.revocation);
    if (verdict.status === 'failed') expect(verdict.hints.length).toBeGreaterThan(0);
    expect(verdict.presented).toHaveLength(c.chain.length);
  });

  it('describes names the way openssl prints them', () => {
    const p = prepared.get('valid EC client certificate + intermediate')!;
    const leafPath = join(p.dir, 'leaf-subject.pem');
    writeFileSync(leafPath, p.c.chain[0].pem);
    const out = execFileSync('openssl', ['x509', '-in', leafPath, '-noout', '-subject', '-issuer', '-serial', '-nameopt', 'oneline'], {
      encoding: 'utf8',
    });
    const v = judgeChain({ presented: p.c.chain.map((x) => x.der), anchors: p.c.anchors.map((a) => a.der), at: new Date() });
    expect(out).toContain(`subject=${v.presented[0].subject}\n`);
    expect(out).toContain(`issuer=${v.presented[0].issuer}\n`);
    expect(out.toLowerCase()).toContain(`serial=${v.presented[0].serial.replace(/^00/, '')}`);
  });
});

// ---- the judge's own logic (needs only the openssl CLI for fixtures) -------------------------------

withOpenssl('judge verdicts beyond nginx', () => {
  let work: string;
  let pki: OpensslPki;
  let root: Ca;
  let intA: Ca;
  let leaf: Issued;
  let foreignLeaf: Issued;
  let crlA: { pem: string; der: Uint8Array };
  let crlRoot: { pem: string; der: Uint8Array };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'anvil-judge-unit-'));
    pki = new OpensslPki(work);
    root = pki.root('root', '/O=Anvil Test/CN=Unit Root');
    intA = pki.ca('intA', root, '/O=Anvil Test/CN=Unit Intermediate');
    leaf = pki.issue('leaf', intA, { subject: '/CN=unit-client', ext: clientExt('URI:spiffe://anvil.test/ns/a/sa/b') });
    const otherRoot = pki.root('other', '/CN=Other Root');
    foreignLeaf = pki.issue('foreign', otherRoot, { subject: '/CN=foreign-client', ext: clientExt('DNS:f.example.test') });
    crlA = pki.crl(intA);
    crlRoot = pki.crl(root);
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const at = () => new Date();

  it('absent: no certificate presented', () => {
    const v = judgeChain({ presented: [], anchors: [root.der], at: at() });
    expect(v).toMatchObject({ status: 'absent', reason: null, nginx: 'NONE', openssl: null, path: null });
    expect(v.hints.join(' ')).toMatch(/certificate and its key/);
    expect(v.hints.join(' ')).toMatch(/proxy/);
    expect(v.hints.join(' ')).toMatch(/host and port/);
  });

  it('verified without revocation data says revocation was not checked', () => {
    const v = judgeChain({ presented: [leaf.der, intA.der], anchors: [root.der], at: at() });
    expect(v.status).toBe('verified');
    expect(v.revocation).toEqual({ checked: false, source: 'none', status: 'unknown' });
    expect(v.checks.find((c) => c.name === 'revocation')).toMatchObject({ ok: false });
    expect(v.checks.find((c) => c.name === 'revocation')!.detail).toMatch(/^not checked/);
    expect(v.path?.map((p) => p.subject)).toEqual([
      'CN = unit-client',
      'O = Anvil Test, CN = Unit Intermediate',
      'O = Anvil Test, CN = Unit Root',
    ]);
  });

  it('an authoritative lookup can revoke what nginx accepts', () => {
    const asked: string[] = [];
    const leafSerial = judgeChain({ presented: [leaf.der], anchors: [root.der], at: at() }).presented[0].serial;
    const v = judgeChain({
      presented: [leaf.der, intA.der],
      anchors: [root.der],
      at: at(),
      revocationLookup: ({ serialHex, issuerNameDer }) => {
        asked.push(serialHex);
        expect(issuerNameDer.length).toBeGreaterThan(0);
        return serialHex === leafSerial
          ? { status: 'revoked', reason: 'keyCompromise', revokedAt: new Date('2030-01-02T03:04:05Z'), source: 'anvil-db' }
          : { status: 'good', source: 'anvil-db' };
      },
    });
    expect(asked).toHaveLength(2); // leaf and intermediate (the root is self-signed)
    expect(v).toMatchObject({ status: 'failed', reason: 'revoked', nginx: 'SUCCESS', openssl: null });
    expect(v.revocation).toEqual({
      checked: true,
      source: 'anvil-db',
      status: 'revoked',
      reason: 'keyCompromise',
      revokedAt: '2030-01-02T03:04:05.000Z',
    });
    expect(v.hints.join(' ')).toMatch(/2030-01-02/);
    expect(v.hints.join(' ')).toMatch(/keyCompromise/);
    expect(v.hints.join(' ')).toMatch(/nginx does not know/);
  });

  it('a lookup answering good for the leaf counts as checked', () => {
    const v = judgeChain({
      presented: [leaf.der, intA.der],
      anchors: [root.der],
      at: at(),
      revocationLookup: () => ({ status: 'good', source: 'anvil-db' }),
    });
    expect(v.status).toBe('verified');
    expect(v.revocation).toEqual({ checked: true, source: 'anvil-db', status: 'good' });
  });

  it('CRL and lookup agreeing on good name both sources', () => {
    const v = judgeChain({
      presented: [leaf.der, intA.der],
      anchors: [root.der],
      crls: [crlA.der, crlRoot.der],
      at: at(),
      revocationLookup: () => ({ status: 'good', source: 'anvil-db' }),
    });
    expect(v.revocation).toEqual({ checked: true, source: 'crl+anvil-db', status: 'good' });
  });

  it('knownIssuers names the missing intermediate and tells it from an unknown CA', () => {
    const judge = createJudge({ anchors: [root.der], knownIssuers: [intA.der] });
    const missing = judge.judge([leaf.der], { at: at() });
    expect(missing).toMatchObject({
      status: 'failed',
      reason: 'missing_intermediate',
      nginx: 'FAILED:unable to verify the first certificate',
    });
    expect(missing.openssl).toEqual({ code: 20, name: 'X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY', depth: 0 });
    expect(missing.hints[0]).toContain('O = Anvil Test, CN = Unit Intermediate');
    expect(missing.hints[0]).toContain('fullchain.pem');
    const foreign = judge.judge([foreignLeaf.der], { at: at() });
    expect(foreign).toMatchObject({ status: 'failed', reason: 'unknown_ca' });
    expect(foreign.hints[0]).toContain('CN = Other Root');
  });

  it('wrong purpose hints say what to reissue with, for client and server judging', () => {
    const v = judgeChain({ presented: [leaf.der, intA.der], anchors: [root.der], at: at(), purpose: 'server' });
    expect(v).toMatchObject({ status: 'failed', reason: 'wrong_purpose', nginx: 'FAILED:unsuitable certificate purpose' });
    expect(v.hints[0]).toMatch(/Reissue with serverAuth/);
  });

  it('URI expectations are checked by the judge alone', () => {
    const ok = judgeChain({
      presented: [leaf.der, intA.der],
      anchors: [root.der],
      at: at(),
      expectName: { type: 'uri', value: 'spiffe://anvil.test/ns/a/sa/b' },
    });
    expect(ok.status).toBe('verified');
    const bad = judgeChain({
      presented: [leaf.der, intA.der],
      anchors: [root.der],
      at: at(),
      expectName: { type: 'uri', value: 'spiffe://anvil.test/ns/a/sa/c' },
    });
    expect(bad).toMatchObject({ status: 'failed', reason: 'name_mismatch', nginx: 'SUCCESS', openssl: null });
  });

  it('time is a parameter: the same chain expires in the future', () => {
    const v = judgeChain({ presented: [leaf.der, intA.der], anchors: [root.der], at: new Date('2045-01-01T00:00:00Z') });
    expect(v).toMatchObject({ status: 'failed', reason: 'expired', nginx: 'FAILED:certificate has expired' });
    expect(v.openssl?.code).toBe(10);
  });

  it('malformed input is reported, not thrown', () => {
    const v = judgeChain({ presented: [new Uint8Array([0x30, 0x03, 0x02, 0x01])], anchors: [root.der], at: at() });
    expect(v).toMatchObject({ status: 'failed', reason: 'malformed' });
    expect(() => createJudge({ anchors: [new Uint8Array([1, 2, 3])] })).toThrow(/trust anchor #1/);
  });

  it('createJudge reuses parsed anchors, CRLs and signature checks', () => {
    const judge = createJudge({ anchors: [root.der], crls: [crlA.der, crlRoot.der] });
    const when = at();
    const first = judge.judge([leaf.der, intA.der], { at: when });
    const t0 = process.hrtime.bigint();
    let last: Verdict | undefined;
    for (let i = 0; i < 200; i++) last = judge.judge([leaf.der, intA.der], { at: when });
    const perCallMs = Number(process.hrtime.bigint() - t0) / 1e6 / 200;
    expect(last).toEqual(first);
    expect(first.revocation.status).toBe('good');
    expect(perCallMs).toBeLessThan(5);
    expect(judge.anchors[0].subject).toBe('O = Anvil Test, CN = Unit Root');
  });
});

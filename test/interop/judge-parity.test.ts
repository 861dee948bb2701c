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
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENSSL_VERIFY_CONTINUES, createJudge, judgeChain, type JudgeOptions, type Verdict } from '../../packages/pki/src/index.ts';
import {
  buildMatrix,
  clientExt,
  curlAsClient,
  MATRIX_CASE_NAMES,
  OpensslPki,
  type Ca,
  type Case,
  type Issued,
} from '../support/judge-pki.ts';
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
  const r = curlAsClient(p.c, p.dir, args);
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

  it.each(MATRIX_CASE_NAMES)('%s', (name) => {
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

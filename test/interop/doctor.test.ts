/**
 * `anvil doctor` against a real nginx and a real HAProxy, each configured right and wrong:
 * every case runs the real CLI binary and asserts that the diagnosis names the real cause. The
 * PKI is made with the openssl CLI (`openssl ca`, so past validity dates and CRLs are real
 * OpenSSL output); a loopback HTTP server publishes the CRL the revoked certificate names.
 *
 * Without nginx, HAProxy or openssl the suite skips loudly; under CI=true it fails instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anvilCli, type CliResult } from '../cli/cli-runner.ts';
import { freePort, NGINX_BIN, waitForPort } from '../support/nginx.ts';
import { haveTool, openssl, tempDir } from '../support/tools.ts';

const HAPROXY_BIN = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';
// haveTool looks on PATH; Debian puts nginx and haproxy in /usr/sbin, often not on it.
const present = (bin: string) => (bin.startsWith('/') ? existsSync(bin) : haveTool(bin));
const HAVE = haveTool('openssl') && present(NGINX_BIN ?? 'nginx') && present(HAPROXY_BIN);
const suite = HAVE ? describe : describe.skip;

// ---- a PKI made with openssl ca ----------------------------------------------------------------

interface Issued {
  cert: string;
  key: string;
  pem: string;
}
interface Ca extends Issued {
  cnf: string;
  name: string;
}

class Pki {
  constructor(readonly dir: string) {}

  private key(name: string): string {
    const path = join(this.dir, `${name}.key`);
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path);
    return path;
  }

  private asCa(name: string, c: Issued): Ca {
    const dir = join(this.dir, `ca-${name}`);
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), `1${randomBytes(8).toString('hex')}1\n`);
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    const cnf = join(dir, 'ca.cnf');
    writeFileSync(
      cnf,
      `[ ca ]\ndefault_ca = d\n[ d ]\ndir = ${dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/newcerts\ncertificate = ${c.cert}\nprivate_key = ${c.key}\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\npolicy = p\nunique_subject = no\npreserve = yes\n[ p ]\norganizationName = optional\ncommonName = optional\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n`,
    );
    return { ...c, cnf, name };
  }

  root(name: string, subject: string): Ca {
    const key = this.key(name);
    const cert = join(this.dir, `${name}.pem`);
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-subj',
      subject,
      '-days',
      '3650',
      '-out',
      cert,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    return this.asCa(name, { cert, key, pem: readFileSync(cert, 'utf8') });
  }

  issue(name: string, issuer: Ca, subject: string, ext: string[], dates?: [string, string]): Issued {
    const key = this.key(name);
    const csr = join(this.dir, `${name}.csr`);
    openssl('req', '-new', '-key', key, '-subj', subject, '-out', csr);
    const extPath = join(this.dir, `${name}.ext`);
    writeFileSync(extPath, `${[...ext, 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid'].join('\n')}\n`);
    const cert = join(this.dir, `${name}.pem`);
    const validity = dates ? ['-startdate', dates[0], '-enddate', dates[1]] : ['-days', '365'];
    openssl('ca', '-batch', '-notext', '-config', issuer.cnf, '-in', csr, '-out', cert, '-extfile', extPath, ...validity);
    return { cert, key, pem: readFileSync(cert, 'utf8') };
  }

  intermediate(name: string, issuer: Ca, subject: string): Ca {
    return this.asCa(
      name,
      this.issue(name, issuer, subject, ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign,cRLSign']),
    );
  }

  revoke(ca: Ca, cert: Issued): void {
    openssl('ca', '-config', ca.cnf, '-revoke', cert.cert, '-crl_reason', 'keyCompromise');
  }

  crl(ca: Ca): string {
    const path = join(this.dir, `${ca.name}-${randomBytes(3).toString('hex')}.crl.pem`);
    openssl('ca', '-config', ca.cnf, '-gencrl', '-crlexts', 'crl_ext', '-out', path);
    return readFileSync(path, 'utf8');
  }

  file(name: string, ...parts: string[]): string {
    const path = join(this.dir, name);
    writeFileSync(path, parts.join(''));
    return path;
  }
}

const clientExt = (cn: string, eku = 'clientAuth', extra: string[] = []) => [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  `extendedKeyUsage=${eku}`,
  `subjectAltName=DNS:${cn}.example.test`,
  ...extra,
];
const serverExt = (san: string) => [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=serverAuth',
  `subjectAltName=${san}`,
];

// ---- the gateways ------------------------------------------------------------------------------------

interface NginxSite {
  port: number;
  cert: string;
  key: string;
  /** Lines inside the server block (ssl_verify_client ...). */
  mtls: string[];
}

function nginxConf(prefix: string, sites: NginxSite[]): string {
  const servers = sites.map(
    (s) => `  server {
    listen 127.0.0.1:${s.port} ssl;
    ssl_certificate ${s.cert};
    ssl_certificate_key ${s.key};
${s.mtls.map((l) => `    ${l}`).join('\n')}
    location / { return 200 "hello $ssl_client_s_dn\\n"; }
  }`,
  );
  return `daemon off;\nmaster_process off;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/error.log info;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  keepalive_timeout 0;\n  client_body_temp_path ${prefix}/tmp/body;\n  proxy_temp_path ${prefix}/tmp/proxy;\n  fastcgi_temp_path ${prefix}/tmp/fastcgi;\n  uwsgi_temp_path ${prefix}/tmp/uwsgi;\n  scgi_temp_path ${prefix}/tmp/scgi;\n${servers.join('\n')}\n}\n`;
}

interface HaproxySite {
  port: number;
  /** The crt PEM: certificate, chain, key in one file. */
  crt: string;
  bindOptions: string;
  extra?: string[];
}

function haproxyConf(sites: HaproxySite[]): string {
  const frontends = sites.map(
    (s, i) => `frontend f${i}
  bind 127.0.0.1:${s.port} ssl crt ${s.crt} ${s.bindOptions}
${(s.extra ?? []).map((l) => `  ${l}\n`).join('')}  http-request return status 200 content-type text/plain lf-string "hello %[ssl_c_s_dn]\\n"`,
  );
  return `global\n  maxconn 64\n  noreuseport\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n${frontends.join('\n')}\n`;
}

async function startProcess(bin: string, args: string[], ports: number[], logPath: string): Promise<ChildProcess> {
  writeFileSync(logPath, '');
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr!.on('data', (d) => writeFileSync(logPath, d, { flag: 'a' }));
  for (const port of ports) await waitForPort(port, proc, logPath);
  return proc;
}

// ---- the suite -------------------------------------------------------------------------------------------

suite('anvil doctor against real nginx and HAProxy', () => {
  const dir = tempDir('anvil-doctor-');
  const pki = new Pki(dir);
  const procs: ChildProcess[] = [];
  let crlServer: Server;
  let files: Record<string, string> = {};
  const port: Record<string, number> = {};
  let rootPem = '';

  const doctor = (site: string, cert: string, key: string, ...more: string[]): Promise<CliResult> =>
    anvilCli(['doctor', `https://127.0.0.1:${port[site]}/`, '--cert', cert, '--key', key, '--cacert', files.root, ...more]);

  beforeAll(async () => {
    // The CRL server's port goes into the revoked certificate's CDP, so it starts first.
    let crlPem = '';
    crlServer = createServer((_req, res) => res.end(crlPem));
    await new Promise<void>((r) => crlServer.listen(0, '127.0.0.1', r));
    const crlUrl = `http://127.0.0.1:${(crlServer.address() as { port: number }).port}/clients.crl`;

    const root = pki.root('root', '/O=Doctor Test/CN=Doctor Test Root');
    rootPem = root.pem;
    const clients = pki.intermediate('clients', root, '/O=Doctor Test/CN=Doctor Clients CA');
    const servers = pki.intermediate('servers', root, '/O=Doctor Test/CN=Doctor Servers CA');
    const elsewhere = pki.root('elsewhere', '/O=Elsewhere/CN=Elsewhere Root');
    const elsewhereInt = pki.intermediate('elsewhereint', elsewhere, '/O=Elsewhere/CN=Elsewhere Clients CA');

    const server = pki.issue('server', servers, '/CN=127.0.0.1', serverExt('IP:127.0.0.1, DNS:localhost'));
    const wrongSan = pki.issue('wrongsan', servers, '/CN=api.other.test', serverExt('DNS:api.other.test'));
    const good = pki.issue('good', clients, '/O=Partner A/CN=partner-a', clientExt('partner-a'));
    const serverAsClient = pki.issue('srvclient', clients, '/CN=partner-s', clientExt('partner-s', 'serverAuth'));
    const expired = pki.issue('expired', clients, '/CN=partner-old', clientExt('partner-old'), ['20240101000000Z', '20240601000000Z']);
    const revoked = pki.issue(
      'revoked',
      clients,
      '/CN=partner-r',
      clientExt('partner-r', 'clientAuth', [`crlDistributionPoints=URI:${crlUrl}`]),
    );
    const foreign = pki.issue('foreign', elsewhereInt, '/CN=partner-x', clientExt('partner-x'));
    pki.revoke(clients, revoked);
    const clientsCrl = pki.crl(clients);
    crlPem = clientsCrl;
    // nginx and HAProxy check every level (CRL_CHECK_ALL): the root's CRL too.
    const crls = pki.file('crls.pem', pki.crl(root), clientsCrl);

    files = {
      root: root.cert,
      serverFull: pki.file('server-full.pem', server.pem, servers.pem),
      serverKey: server.key,
      wrongSanFull: pki.file('wrongsan-full.pem', wrongSan.pem, servers.pem),
      wrongSanKey: wrongSan.key,
      goodFull: pki.file('good-full.pem', good.pem, clients.pem),
      goodLeaf: good.cert,
      goodKey: good.key,
      srvClientFull: pki.file('srvclient-full.pem', serverAsClient.pem, clients.pem),
      srvClientKey: serverAsClient.key,
      expiredFull: pki.file('expired-full.pem', expired.pem, clients.pem),
      expiredKey: expired.key,
      revokedFull: pki.file('revoked-full.pem', revoked.pem, clients.pem),
      revokedKey: revoked.key,
      foreignFull: pki.file('foreign-full.pem', foreign.pem, elsewhereInt.pem),
      foreignKey: foreign.key,
    };

    for (const name of ['ngGood', 'ngOff', 'ngWrongSan', 'ngCrl', 'haGood', 'haCrl', 'haLeafOnly', 'haDeny', 'ha12'])
      port[name] = await freePort();
    const verify = ['ssl_verify_client on;', `ssl_client_certificate ${root.cert};`, 'ssl_verify_depth 3;'];
    const nginxPrefix = join(dir, 'nginx');
    mkdirSync(join(nginxPrefix, 'tmp'), { recursive: true });
    const nginxConfPath = join(nginxPrefix, 'nginx.conf');
    writeFileSync(
      nginxConfPath,
      nginxConf(nginxPrefix, [
        { port: port.ngGood, cert: files.serverFull, key: server.key, mtls: verify },
        { port: port.ngOff, cert: files.serverFull, key: server.key, mtls: [] },
        { port: port.ngWrongSan, cert: files.wrongSanFull, key: wrongSan.key, mtls: verify },
        { port: port.ngCrl, cert: files.serverFull, key: server.key, mtls: [...verify, `ssl_crl ${crls};`] },
      ]),
    );
    procs.push(
      await startProcess(
        NGINX_BIN!,
        ['-p', nginxPrefix, '-c', nginxConfPath, '-e', join(nginxPrefix, 'error.log')],
        [port.ngGood, port.ngOff, port.ngWrongSan, port.ngCrl],
        join(nginxPrefix, 'stderr.log'),
      ),
    );

    const readKey = (p: string) => readFileSync(p, 'utf8');
    const crtFull = pki.file('ha-server.pem', server.pem, servers.pem, readKey(server.key));
    const crtLeaf = pki.file('ha-server-leaf.pem', server.pem, readKey(server.key));
    const haVerify = `ca-file ${root.cert} verify required`;
    const haCfg = pki.file(
      'haproxy.cfg',
      haproxyConf([
        { port: port.haGood, crt: crtFull, bindOptions: haVerify },
        { port: port.haCrl, crt: crtFull, bindOptions: `${haVerify} crl-file ${crls}` },
        { port: port.haLeafOnly, crt: crtLeaf, bindOptions: haVerify },
        // TLS 1.2 only: the server ends the handshake itself, with an alert, when it dislikes the certificate.
        { port: port.ha12, crt: crtFull, bindOptions: `${haVerify} ssl-max-ver TLSv1.2` },
        {
          port: port.haDeny,
          crt: crtFull,
          bindOptions: haVerify,
          extra: ['http-request deny deny_status 403 unless { ssl_c_s_dn(cn) -m str partner-b }'],
        },
      ]),
    );
    procs.push(
      await startProcess(
        HAPROXY_BIN,
        ['-f', haCfg, '-db'],
        [port.haGood, port.haCrl, port.haLeafOnly, port.haDeny, port.ha12],
        join(dir, 'haproxy.log'),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => crlServer?.close(r));
  });

  const expectProblem = (r: CliResult, ...patterns: RegExp[]) => {
    expect(r.code, r.stdout + r.stderr).toBe(2);
    for (const p of patterns) expect(r.stdout).toMatch(p);
  };

  it('healthy, nginx: all checks pass, exit 0', async () => {
    const r = await doctor('ngGood', files.goodFull, files.goodKey, '--expect-client-id', 'CN=partner-a');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('Diagnosis: OK');
    expect(r.stdout).toMatch(/accepts these CAs: .*Doctor Test Root/);
    expect(r.stdout).not.toContain('[FAIL]');
  });

  it('healthy, HAProxy: all checks pass, --json prints the same as data', async () => {
    const r = await doctor('haGood', files.goodFull, files.goodKey, '--json', '--expect-client-id', 'partner-a');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.acceptableCaNames.join()).toMatch(/Doctor Test Root/);
    expect(report.checks.every((c: { ok: boolean; severity: string }) => c.ok || c.severity !== 'error')).toBe(true);
    expect(report.checks.find((c: { id: string }) => c.id === 'application.client_id').ok).toBe(true);
  });

  it('mTLS off, nginx: no CertificateRequest', async () => {
    const r = await doctor('ngOff', files.goodFull, files.goodKey);
    expectProblem(r, /did not ask for a client certificate \(no CertificateRequest\): mTLS is not enabled/);
    expect(r.stdout.split('Diagnosis:')[1]).toMatch(/mTLS is not enabled/);
  });

  it('wrong client CA, HAProxy: not among the acceptable CA names, and the unknown_ca alert', async () => {
    const r = await doctor('haGood', files.foreignFull, files.foreignKey);
    expectProblem(
      r,
      /not issued by any of the CAs the server accepts: the chain in the file ends at O=Elsewhere, CN=Elsewhere Root/,
      /TLS alert unknown_ca \(48\)/,
    );
  });

  it("wrong client CA, nginx: not among the acceptable CA names, and nginx's 400", async () => {
    const r = await doctor('ngGood', files.foreignFull, files.foreignKey);
    expectProblem(
      r,
      /not issued by any of the CAs the server accepts/,
      /nginx refused the certificate after the handshake: HTTP 400 "The SSL certificate error"/,
    );
  });

  it('leaf-only client, nginx: chain incomplete, and nginx refuses it', async () => {
    const r = await doctor('ngGood', files.goodLeaf, files.goodKey);
    expectProblem(r, /chain incomplete: the file holds only the leaf/, /fullchain\.pem/, /The SSL certificate error/);
  });

  it('server certificate used as a client, HAProxy: EKU without clientAuth', async () => {
    const r = await doctor('haGood', files.srvClientFull, files.srvClientKey);
    expectProblem(r, /wrong purpose: the extended key usage is serverAuth, without clientAuth/, /TLS alert unsupported_certificate \(43\)/);
  });

  it('server certificate used as a client, nginx: EKU without clientAuth', async () => {
    const r = await doctor('ngGood', files.srvClientFull, files.srvClientKey);
    expectProblem(r, /wrong purpose: the extended key usage is serverAuth/, /The SSL certificate error/);
  });

  it('expired client, HAProxy: expired locally and the certificate_expired alert', async () => {
    const r = await doctor('haGood', files.expiredFull, files.expiredKey);
    expectProblem(r, /the certificate expired on 2024-06-01/, /TLS alert certificate_expired \(45\)/);
  });

  it('TLS 1.2 HAProxy that aborts handshakes without a certificate: healthy passes, expired is alert 45 during the handshake', async () => {
    const good = await doctor('ha12', files.goodFull, files.goodKey);
    expect(good.code, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toContain('(TLSv1.2)');
    const r = await doctor('ha12', files.expiredFull, files.expiredKey);
    expectProblem(r, /the certificate expired on 2024-06-01/, /TLS alert certificate_expired \(45\) during the handshake/);
  });

  it('revoked client with a CRL, nginx ssl_crl: revoked in the CRL it names, and nginx refuses it', async () => {
    const r = await doctor('ngCrl', files.revokedFull, files.revokedKey);
    expectProblem(
      r,
      /the certificate is revoked \(CRL http:\/\/127\.0\.0\.1:\d+\/clients\.crl, reason keyCompromise\)/,
      /The SSL certificate error/,
    );
  });

  it('revoked client with a CRL, HAProxy crl-file: the certificate_revoked alert', async () => {
    const r = await doctor('haCrl', files.revokedFull, files.revokedKey);
    expectProblem(r, /the certificate is revoked/, /TLS alert certificate_revoked \(44\)/);
  });

  it('server certificate with a wrong SAN, nginx: host name mismatch', async () => {
    const r = await doctor('ngWrongSan', files.goodFull, files.goodKey);
    expectProblem(r, /host name mismatch: the certificate is for DNS:api\.other\.test, not 127\.0\.0\.1/);
    // The chain itself is fine: only the name is wrong, and the report says only that.
    expect(r.stdout).toContain('[ok  ] verifies against the --cacert file');
  });

  it('server chain incomplete, HAProxy: the server sends its leaf only', async () => {
    const r = await doctor('haLeafOnly', files.goodFull, files.goodKey);
    expectProblem(
      r,
      /server chain incomplete: the server does not send the intermediate CA certificate .*Doctor Servers CA.*\(the server sent 1 certificate\)/,
    );
  });

  it('accepted at TLS, refused by the application (HAProxy 403), and --expect-client-id', async () => {
    const r = await doctor('haDeny', files.goodFull, files.goodKey, '--expect-client-id', 'partner-b');
    expectProblem(r, /TLS accepted/, /accepted at TLS, refused by the application: HTTP 403/, /does not contain "partner-b"/);
    expect(r.stdout).not.toContain('every local check');
  });

  it('a key that does not match the certificate: said locally, no handshake tried', async () => {
    const r = await doctor('ngGood', files.goodFull, files.foreignKey);
    expectProblem(r, /the private key does not match the certificate/);
  });

  it('never prints the private key', async () => {
    const keyBody = readFileSync(files.goodKey, 'utf8')
      .replace(/-----[^-]+-----/g, '')
      .replace(/\s+/g, '');
    for (const args of [[], ['--json']]) {
      const r = await doctor('ngGood', files.goodFull, files.goodKey, ...args);
      const all = r.stdout + r.stderr;
      for (let i = 0; i + 16 <= keyBody.length; i += 8) expect(all).not.toContain(keyBody.slice(i, i + 16));
      expect(all).not.toContain('PRIVATE KEY');
    }
  });

  it('an unreachable host: one readable line, exit 3', async () => {
    const closed = await freePort();
    const r = await anvilCli(['doctor', `https://127.0.0.1:${closed}/`, '--cert', files.goodFull, '--key', files.goodKey]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(`error: cannot reach 127.0.0.1:${closed}: connection refused (nothing listens on that port)`);
    expect(r.stdout).toBe('');
  });

  it('a host that does not resolve, and a port that speaks no TLS: one readable line, exit 3', async () => {
    const plainHttp = (crlServer.address() as { port: number }).port;
    for (const url of ['https://no-such-host.invalid/', `https://127.0.0.1:${plainHttp}/`]) {
      const r = await anvilCli(['doctor', url, '--cert', files.goodFull, '--key', files.goodKey]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^error: (cannot reach no-such-host\.invalid:443: |TLS with 127\.0\.0\.1:\d+ failed before any certificate was seen)/,
      );
      expect(r.stderr).not.toMatch(/\s+at /);
    }
  });

  it('a bad URL: one readable line, exit 1', async () => {
    const r = await anvilCli(['doctor', 'not a url', '--cert', files.goodFull, '--key', files.goodKey]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: not a URL/);
  });

  it('the trust file is used for the server: without it the private CA does not verify', async () => {
    const r = await anvilCli(['doctor', `https://127.0.0.1:${port.ngGood}/`, '--cert', files.goodFull, '--key', files.goodKey]);
    expectProblem(r, /does not verify against the default trust/);
    expect(rootPem).toContain('BEGIN CERTIFICATE');
  });
});

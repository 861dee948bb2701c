/**
 * Gateway configurations (issue 12) with the real binaries: nginx, HAProxy and Caddy each start
 * with the configuration GET /api/v1/issuers/{name}/gateway/{kind} generates, their files
 * downloaded by the generated `download` lines from a listening test Anvil. curl then presents:
 * a client certificate with its full chain (accepted; the backend run here saw the identity
 * headers), a revoked one after the CRLs are re-fetched and the gateway restarted (refused;
 * not for Caddy, which checks no CRL), the leaf alone (refused) and a server-profile
 * certificate (refused). `openssl s_client` shows each gateway, and Anvil's own mTLS
 * listener, naming the root in the CertificateRequest.
 *
 * What the test changes in a generated configuration, and nothing else:
 * - the file directory, through the API's own `?dir=` (a temporary directory);
 * - the listen port 443 and the backend 127.0.0.1:8080, to free loopback ports;
 * - the wrapper each binary needs to run unprivileged in the foreground: nginx's top level
 *   (daemon off, pid, error_log, events, http with temp paths), HAProxy's global/defaults
 *   sections (timeouts), Caddy's global options block (admin off);
 * - the last download line (the reload command): the test restarts the gateway itself.
 *
 * A missing binary skips its suite loudly; under CI=true it fails.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { freePort, waitForPort } from '../support/nginx.ts';
import { haveTool, tempDir } from '../support/tools.ts';

const execFileP = promisify(execFile);
const ISSUER = 'issuing-ca';

/** Debian puts nginx and haproxy in /usr/sbin, often not on a user's PATH. */
function binary(name: string, sbin: string): string | null {
  if (existsSync(sbin)) return sbin;
  return haveTool(name) ? name : null;
}
const NGINX = binary('nginx', '/usr/sbin/nginx');
const HAPROXY = binary('haproxy', '/usr/sbin/haproxy');
const CADDY = binary('caddy', '/usr/bin/caddy');
const HAVE_CLIENT_TOOLS = haveTool('curl') && haveTool('openssl');

interface Issued {
  id: string;
  certificate: string;
  fullchain: string;
  privateKey: string;
}

interface Seen {
  count: number;
  headers: IncomingHttpHeaders | null;
}

let anvil: TestAnvil;
let backend: Server;
let backendPort: number;
const seen: Seen = { count: 0, headers: null };
let gatewayServer: Issued;
const clients: Record<'good' | 'revoked' | 'serverProfile', Issued> = {} as never;
let rootCn: string;

async function issue(body: unknown): Promise<Issued> {
  const res = await anvil.api('POST', '/api/v1/certificates', body);
  expect(res.status).toBe(201);
  return (await res.json()) as Issued;
}

beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true, mtls: true });
  // The backend echoes what it was told about the client.
  backend = createServer((req, res) => {
    seen.count++;
    seen.headers = req.headers;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.headers));
  });
  backendPort = await freePort();
  await new Promise<void>((r) => backend.listen(backendPort, '127.0.0.1', r));
  gatewayServer = await issue({ profile: 'server', subject: { CN: 'localhost' }, sans: { dns: ['localhost'], ip: ['127.0.0.1'] } });
  clients.good = await issue({ profile: 'client', subject: { CN: 'good-client' }, sans: { dns: ['good.client.test'] } });
  clients.revoked = await issue({ profile: 'client', subject: { CN: 'revoked-client' }, sans: { dns: ['revoked.client.test'] } });
  clients.serverProfile = await issue({ profile: 'server', subject: { CN: 'srv.test' }, sans: { dns: ['srv.test'] } });
  const rootPem = await (await anvil.app.request('/pki/issuers/root-ca.pem')).text();
  rootCn = /CN=([^\n]+)/.exec(new X509Certificate(rootPem).subject)![1]!;
}, 60_000);

afterAll(async () => {
  await new Promise((r) => backend?.close(r));
  await anvil?.close();
});

interface Generated {
  config: string;
  download: string;
  files: Array<{ name: string; path: string; url: string | null }>;
  notes: string[];
}

/** The generated configuration for a fresh directory, its files downloaded by its own download lines. */
async function generate(kind: string): Promise<{ dir: string; gen: Generated }> {
  const dir = tempDir(`anvil-gw-${kind}-`);
  const res = await anvil.api('GET', `/api/v1/issuers/${ISSUER}/gateway/${kind}?dir=${dir}`);
  expect(res.status).toBe(200);
  const gen = (await res.json()) as Generated;
  await download(gen);
  // The gateway's own certificate and key: Anvil cannot hand those out, the operator puts them there.
  writeFileSync(join(dir, 'server.pem'), gatewayServer.fullchain);
  writeFileSync(join(dir, 'server.key'), gatewayServer.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, 'server-combined.pem'), gatewayServer.fullchain + gatewayServer.privateKey, { mode: 0o600 });
  for (const name of ['leaf', 'full', 'revoked', 'server-profile']) mkdirSync(join(dir, 'clients', name), { recursive: true });
  return { dir, gen };
}

/** Runs the generated download lines (mkdir, curl) but not the reload command: the test restarts the gateway. */
async function download(gen: Generated): Promise<void> {
  const lines = gen.download.split('\n').filter((l) => /^(mkdir|curl) /.test(l));
  expect(lines.filter((l) => l.startsWith('curl')).length).toBe(gen.files.filter((f) => f.url).length);
  await execFileP('sh', ['-ec', lines.join('\n')]);
}

/** The test's ports instead of 443 and 127.0.0.1:8080: the only edits to the generated text. */
function ports(config: string, listen: string, replacement: string): string {
  expect(config).toContain(listen);
  expect(config).toContain('127.0.0.1:8080');
  return config.replace(listen, replacement).replaceAll('127.0.0.1:8080', `127.0.0.1:${backendPort}`);
}

interface Gateway {
  kind: string;
  dir: string;
  port: number;
  gen: Generated;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function spawnGateway(cmd: string, args: string[], logPath: string, env?: NodeJS.ProcessEnv): ChildProcess {
  writeFileSync(logPath, '');
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  proc.stdout!.on('data', (d) => writeFileSync(logPath, d, { flag: 'a' }));
  proc.stderr!.on('data', (d) => writeFileSync(logPath, d, { flag: 'a' }));
  return proc;
}

async function stopProcess(proc: ChildProcess | null): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

async function makeGateway(kind: 'nginx' | 'haproxy' | 'caddy'): Promise<Gateway> {
  const { dir, gen } = await generate(kind);
  const port = await freePort();
  const logPath = join(dir, `${kind}.log`);
  let proc: ChildProcess | null = null;
  let command: [string, string[], NodeJS.ProcessEnv?];
  if (kind === 'nginx') {
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    const conf = `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${logPath} info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
${ports(gen.config, 'listen 443 ', `listen 127.0.0.1:${port} `)}
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    command = [NGINX!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', logPath]];
  } else if (kind === 'haproxy') {
    const conf = `global
    log stderr local0 info
defaults
    log global
    timeout connect 5s
    timeout client 10s
    timeout server 10s
${ports(gen.config, 'bind :443 ', `bind 127.0.0.1:${port} `)}`;
    writeFileSync(join(dir, 'haproxy.cfg'), conf);
    command = [HAPROXY!, ['-db', '-f', join(dir, 'haproxy.cfg')]];
  } else {
    const conf = `{
	admin off
}
${ports(gen.config, ':443 {', `:${port} {`)}`;
    writeFileSync(join(dir, 'Caddyfile'), conf);
    command = [
      CADDY!,
      ['run', '--adapter', 'caddyfile', '--config', join(dir, 'Caddyfile')],
      { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    ];
  }
  return {
    kind,
    dir,
    port,
    gen,
    start: async () => {
      proc = spawnGateway(command[0], command[1], logPath, command[2]);
      await waitForPort(port, proc, logPath).catch((err) => {
        throw new Error(`${kind} did not start: ${err.message}\n${readFileSync(logPath, 'utf8')}`);
      });
    },
    stop: async () => {
      await stopProcess(proc);
      proc = null;
    },
  };
}

/** curl presenting `cert` (and `key`) to the gateway: the HTTP status (0 when TLS failed) and the body. */
async function present(gw: Gateway, client: Issued | null, chain: 'full' | 'leaf' = 'full'): Promise<{ status: number; body: string }> {
  const args = ['-sS', '-o', '-', '-w', '\n%{http_code}', '--max-time', '10', '--cacert', join(gw.dir, 'trust.pem')];
  if (client) {
    const name = `${client.id}-${chain}`;
    const certPath = join(gw.dir, 'clients', `${name}.pem`);
    const keyPath = join(gw.dir, 'clients', `${name}.key`);
    writeFileSync(certPath, chain === 'full' ? client.fullchain : client.certificate);
    writeFileSync(keyPath, client.privateKey, { mode: 0o600 });
    args.push('--cert', certPath, '--key', keyPath);
  }
  // By name, with SNI, as real clients connect (Caddy answers 421 when Host and SNI differ under client_auth).
  args.push('--resolve', `localhost:${gw.port}:127.0.0.1`, `https://localhost:${gw.port}/`);
  try {
    const { stdout } = await execFileP('curl', args);
    const at = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
  } catch (err) {
    // A refused handshake (HAProxy, Caddy): curl exits non-zero, http_code 000.
    return { status: 0, body: String((err as { stderr?: string }).stderr ?? err) };
  }
}

/** The CA names a TLS server puts in its CertificateRequest, as `openssl s_client` prints them. */
async function acceptableCaNames(port: number): Promise<string> {
  const child = execFileP('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2'], { timeout: 10_000 });
  child.child.stdin!.end();
  const { stdout } = await child.catch((e) => e as { stdout: string });
  const m = /Acceptable client certificate CA names\n([\s\S]*?)\n(?:Requested|Client Certificate Types|---)/.exec(stdout);
  return m ? m[1]! : `(none in: ${stdout.slice(0, 2000)})`;
}

async function expectRefused(gw: Gateway, client: Issued | null, chain: 'full' | 'leaf' = 'full') {
  const before = seen.count;
  const r = await present(gw, client, chain);
  // nginx answers 400 itself; HAProxy and Caddy end the handshake (no HTTP status): the backend saw nothing.
  expect(r.status, r.body).toBe(gw.kind === 'nginx' ? 400 : 0);
  expect(seen.count).toBe(before);
}

function cases(kind: 'nginx' | 'haproxy' | 'caddy', bin: string | null) {
  const suite = bin && HAVE_CLIENT_TOOLS ? describe : describe.skip;
  suite(`${kind} with the generated configuration`, () => {
    let gw: Gateway;
    beforeAll(async () => {
      gw = await makeGateway(kind);
      await gw.start();
    }, 60_000);
    afterAll(async () => {
      await gw?.stop();
    });

    it('sends the root in the CertificateRequest', async () => {
      expect(await acceptableCaNames(gw.port)).toContain(rootCn);
    }, 20_000);

    it('accepts a client with its full chain and passes the identity to the backend', async () => {
      const r = await present(gw, clients.good);
      expect(r.status, r.body).toBe(200);
      const headers = JSON.parse(r.body) as Record<string, string>;
      expect(headers['x-ssl-client-s-dn']).toContain('CN=good-client');
      if (kind === 'nginx') {
        expect(headers['x-ssl-client-verify']).toBe('SUCCESS');
        expect(decodeURIComponent(headers['x-client-cert']!)).toBe(clients.good.certificate);
      }
      if (kind === 'haproxy') {
        expect(headers['x-ssl-client-verify']).toBe('0');
        expect(Buffer.from(headers['x-ssl-client-der']!, 'base64')).toEqual(new X509Certificate(clients.good.certificate).raw);
      }
      if (kind === 'caddy') {
        expect(Buffer.from(headers['x-ssl-client-der']!, 'base64')).toEqual(new X509Certificate(clients.good.certificate).raw);
      }
    }, 20_000);

    it('refuses the leaf alone (no intermediate)', async () => {
      await expectRefused(gw, clients.good, 'leaf');
    }, 20_000);

    it('refuses a server-profile certificate (no clientAuth EKU)', async () => {
      await expectRefused(gw, clients.serverProfile);
    }, 20_000);

    it('refuses a client without a certificate', async () => {
      await expectRefused(gw, null);
    }, 20_000);

    // Caddy 2.6 has no CRL support (the generated notes say so): the revoked case cannot pass there.
    const revocation = kind === 'caddy' ? it.skip : it;
    revocation(
      'refuses a revoked client after the CRLs are re-fetched and the gateway restarted',
      async () => {
        expect((await present(gw, clients.revoked)).status).toBe(200);
        const res = await anvil.api('POST', `/api/v1/certificates/${clients.revoked.id}/revoke`, { reason: 'keyCompromise' });
        expect(res.status).toBe(200);
        await download(gw.gen);
        await gw.stop();
        await gw.start();
        await expectRefused(gw, clients.revoked);
        expect((await present(gw, clients.good)).status).toBe(200);
        // Un-revoke is impossible: issue a fresh one for the next suite.
        clients.revoked = await issue({ profile: 'client', subject: { CN: 'revoked-client' }, sans: { dns: ['revoked.client.test'] } });
      },
      60_000,
    );
  });
}

cases('nginx', NGINX);
cases('haproxy', HAPROXY);
cases('caddy', CADDY);

(HAVE_CLIENT_TOOLS ? describe : describe.skip)("Anvil's own mTLS listener", () => {
  it('sends the names of its roots in the CertificateRequest', async () => {
    expect(await acceptableCaNames(anvil.mtls!.port)).toContain(rootCn);
  }, 20_000);
});

describe('caddy notes', () => {
  it('say that Caddy 2.6 checks no CRL', async () => {
    const body = (await (await anvil.api('GET', `/api/v1/issuers/${ISSUER}/gateway/caddy`)).json()) as Generated;
    expect(body.notes.join(' ')).toMatch(/no CRL support/);
    expect(body.files.map((f) => f.name)).not.toContain('crls.pem');
  });
});

/**
 * Judge parity with HAProxy: for every case of the nginx parity matrix (test/support/judge-pki.ts)
 * the verdict's `haproxy` field must say what a real HAProxy 2.6 says for the same certificates,
 * trust anchors and CRLs. Each case gets two binds: `verify optional` alone (does the handshake
 * complete?) and `verify optional ca-ignore-err all crt-ignore-err all`, which lets a failed
 * certificate reach `http-request return` so ssl_c_verify, ssl_c_ca_err(_depth) and ssl_c_err
 * can be read from response headers. curl presents each case's client certificate.
 *
 * Without haproxy, openssl or curl the suite skips loudly; under CI=true it fails (haveTool).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeChain, type HaproxyVerdict } from '../../packages/pki/src/index.ts';
import { buildMatrix, curlAsClient, MATRIX_CASE_NAMES, OpensslPki, type Case } from '../support/judge-pki.ts';
import { freePort, waitForPort } from '../support/nginx.ts';
import { haveTool } from '../support/tools.ts';

const HAVE = ['haproxy', 'openssl', 'curl'].map(haveTool).every(Boolean);
const withTools = HAVE ? describe : describe.skip;

interface Prepared {
  c: Case;
  dir: string;
  /** `verify optional` only. */
  strictPort: number;
  /** `verify optional ca-ignore-err all crt-ignore-err all`. */
  lenientPort: number;
}

function haproxyConf(prepared: Prepared[], serverPem: string): string {
  const frontends = prepared.map((p, i) => {
    const tls = `ssl crt ${serverPem} ca-file ${join(p.dir, 'anchors.pem')}${p.c.crls ? ` crl-file ${join(p.dir, 'crls.pem')}` : ''} verify optional`;
    return `
frontend case${i}
  bind 127.0.0.1:${p.strictPort} ${tls}
  bind 127.0.0.1:${p.lenientPort} ${tls} ca-ignore-err all crt-ignore-err all
  http-request return status 200 hdr x-used "%[ssl_c_used]" hdr x-verify "%[ssl_c_verify]" hdr x-ca-err "%[ssl_c_ca_err]" hdr x-ca-err-depth "%[ssl_c_ca_err_depth]" hdr x-err "%[ssl_c_err]"`;
  });
  // noreuseport: a port another process holds fails the start instead of being shared (SO_REUSEPORT would
  // spread the connections of one case over two listeners).
  return `global
  log stderr format raw local0 info
  noreuseport
defaults
  mode http
  log global
  timeout client 10s
  timeout connect 10s
  timeout server 10s
${frontends.join('\n')}
`;
}

/** The response headers HAProxy returned, or null when the handshake (or the request) failed. */
function curlHeaders(p: Prepared, port: number): Record<string, string> | null {
  const args = ['-sk', '--max-time', '10', '-D', '-', '-o', '/dev/null', `https://127.0.0.1:${port}/`];
  const r = curlAsClient(p.c, p.dir, args);
  if (r.status !== 0) return null;
  const headers: Record<string, string> = {};
  for (const line of r.stdout.split(/\r?\n/)) {
    const m = /^([\w-]+):\s*(.*)$/.exec(line);
    if (m) headers[m[1].toLowerCase()] = m[2];
  }
  return headers;
}

/** 54 listeners: freePort can hand out a port twice (each is released before HAProxy binds), so each is checked unused. */
const taken = new Set<number>();
async function distinctPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

withTools('judge parity with HAProxy (ssl_c_verify, ssl_c_ca_err, ssl_c_err)', () => {
  let work: string;
  let haproxy: ChildProcess | undefined;
  let version = '';
  const prepared = new Map<string, Prepared>();
  const rows: Array<Record<string, string>> = [];
  let cases: Case[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'anvil-judge-haproxy-'));
    const pki = new OpensslPki(work);
    cases = buildMatrix(pki);
    const server = pki.root('haproxy-server', '/CN=localhost', 'ec', ['subjectAltName=DNS:localhost,IP:127.0.0.1']);
    const serverPem = join(work, 'haproxy-server.pem');
    writeFileSync(serverPem, server.pem + readFileSync(server.keyPath, 'utf8'));
    for (const [i, c] of cases.entries()) {
      const dir = join(work, `case-${i}`);
      spawnSync('mkdir', ['-p', dir]);
      writeFileSync(join(dir, 'anchors.pem'), c.anchors.map((a) => a.pem).join(''));
      if (c.crls) writeFileSync(join(dir, 'crls.pem'), c.crls.map((x) => x.pem).join(''));
      prepared.set(c.name, { c, dir, strictPort: await distinctPort(), lenientPort: await distinctPort() });
    }
    const cfg = join(work, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConf([...prepared.values()], serverPem));
    const logPath = join(work, 'haproxy.log');
    const log = openSync(logPath, 'w');
    version = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
    haproxy = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', log, log] });
    for (const p of prepared.values()) {
      await waitForPort(p.strictPort, haproxy, logPath);
      await waitForPort(p.lenientPort, haproxy, logPath);
    }
  });

  afterAll(() => {
    if (haproxy && haproxy.exitCode === null) haproxy.kill('SIGTERM');
    if (rows.length) {
      console.log(version);
      console.table(rows);
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs HAProxy 2.6 over the whole nginx matrix', () => {
    expect(version).toMatch(/^HAProxy version 2\.6\./);
    expect(cases.length).toBeGreaterThanOrEqual(27);
  });

  it.each(MATRIX_CASE_NAMES)('%s', (name) => {
    const p = prepared.get(name);
    if (!p) throw new Error(`case "${name}" is not in the matrix`);
    const { c } = p;
    const verdict = judgeChain({
      presented: c.chain.map((x) => x.der),
      anchors: c.anchors.map((a) => a.der),
      crls: c.crls?.map((x) => x.der),
      at: new Date(),
      expectName: c.expectName,
      maxDepth: c.depth ?? 3,
    });
    const strict = curlHeaders(p, p.strictPort);
    const lenient = curlHeaders(p, p.lenientPort);
    const h = verdict.haproxy;
    rows.push({
      case: name,
      'verify optional': strict ? 'accepted' : 'rejected',
      'ignore-err all': lenient
        ? `verify=${lenient['x-verify']} ca_err=${lenient['x-ca-err']}@${lenient['x-ca-err-depth']} err=${lenient['x-err']}`
        : 'rejected',
      judge: `${h.handshake}; verify=${h.ssl_c_verify} ca_err=${h.ssl_c_ca_err}@${h.ssl_c_ca_err_depth} err=${h.ssl_c_err}`,
    });

    expect(h.handshake).toBe(strict ? 'accepted' : 'rejected');
    expect(h.handshakeIgnoringErrors).toBe(lenient ? 'accepted' : 'rejected');
    if (lenient) {
      const fromHaproxy: Omit<HaproxyVerdict, 'handshake' | 'handshakeIgnoringErrors'> = {
        ssl_c_used: lenient['x-used'] === '1',
        ssl_c_verify: Number(lenient['x-verify']),
        ssl_c_ca_err: Number(lenient['x-ca-err']),
        ssl_c_ca_err_depth: Number(lenient['x-ca-err-depth']),
        ssl_c_err: Number(lenient['x-err']),
      };
      const { handshake: _a, handshakeIgnoringErrors: _b, ...fetches } = h;
      expect(fetches).toEqual(fromHaproxy);
    }
    // `verify optional` lets a good certificate through with the same fetches.
    if (strict) expect(Number(strict['x-verify'])).toBe(0);
    expect(verdict.kong).toBe(
      verdict.status === 'verified'
        ? null
        : verdict.status === 'absent'
          ? 'No required TLS certificate was sent'
          : 'TLS certificate failed verification',
    );
  });
});

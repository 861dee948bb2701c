/**
 * The judge behind a real HAProxy 2.6: HAProxy terminates the client's mTLS (`verify optional`,
 * Anvil's trust bundle) and forwards `X-SSL-Client-Der: %[ssl_c_der,base64]` to a listening test
 * Anvil whose ANVIL_TRUSTED_PROXIES is loopback, as the README's "The judge through proxies" shows.
 *
 * Without haproxy, openssl or curl the suite skips loudly; under CI=true it fails (haveTool).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verdict } from '../../packages/pki/src/index.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { freePort, waitForPort } from '../support/nginx.ts';
import { haveTool, openssl, tempDir, writeFiles } from '../support/tools.ts';

const HAVE = ['haproxy', 'openssl', 'curl'].map(haveTool).every(Boolean);
const withTools = HAVE ? describe : describe.skip;

interface Issued {
  id: string;
  certificate: string;
  fullchain: string;
  privateKey: string;
}

withTools('the judge behind HAProxy (X-SSL-Client-Der)', () => {
  let anvil: TestAnvil;
  let haproxy: ChildProcess | undefined;
  let work: string;
  let port: number;
  let files: Record<string, string>;

  const issue = async (cn: string): Promise<Issued> => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: cn },
      sans: { dns: [`${cn}.partner.test`] },
    });
    if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as Issued;
  };

  /**
   * curl through HAProxy, without blocking: the test Anvil answering HAProxy runs in this process.
   * Resolves to the response body, or null when HAProxy refused the handshake.
   */
  const curl = (args: string[]): Promise<string | null> =>
    new Promise((resolve) => {
      execFile('curl', ['-sk', '--max-time', '20', '-H', 'Accept: application/json', ...args], (err, stdout) =>
        resolve(err ? null : stdout),
      );
    });
  const throughHaproxy = async (client?: { cert: string; key: string }): Promise<Verdict | null> => {
    const body = await curl([...(client ? ['--cert', client.cert, '--key', client.key] : []), `https://127.0.0.1:${port}/verify`]);
    return body === null ? null : (JSON.parse(body) as Verdict);
  };

  beforeAll(async () => {
    work = tempDir('anvil-behind-haproxy-');
    anvil = await createTestAnvil({ listen: true, trustedProxies: ['127.0.0.1'] });
    const [good, revoked] = await Promise.all([issue('good'), issue('revoked')]);
    expect((await anvil.api('POST', `/api/v1/certificates/${revoked.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    files = writeFiles(work, {
      'trust.pem': anvil.authority.trustBundlePem(),
      'good.pem': good.fullchain,
      'good.key': good.privateKey,
      'leaf-only.pem': good.certificate,
      'revoked.pem': revoked.fullchain,
      'revoked.key': revoked.privateKey,
    });
    const key = join(work, 'server.key');
    const crt = join(work, 'server.crt');
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '2',
      '-keyout',
      key,
      '-out',
      crt,
    );
    port = await freePort();
    const backend = new URL(anvil.publicUrl);
    const serverPem = writeFiles(work, { 'server.pem': readFileSync(crt, 'utf8') + readFileSync(key, 'utf8') })['server.pem'];
    const cfg = writeFiles(work, {
      'haproxy.cfg': `global
  log stderr format raw local0 info
defaults
  mode http
  log global
  timeout client 10s
  timeout connect 10s
  timeout server 10s
frontend mtls
  bind 127.0.0.1:${port} ssl crt ${serverPem} ca-file ${files['trust.pem']} verify optional
  # A client may send the header itself: only HAProxy's own value reaches Anvil.
  http-request del-header X-SSL-Client-Der
  http-request set-header X-SSL-Client-Der %[ssl_c_der,base64] if { ssl_c_used }
  default_backend anvil
backend anvil
  server anvil ${backend.hostname}:${backend.port}
`,
    })['haproxy.cfg'];
    const logPath = join(work, 'haproxy.log');
    const log = openSync(logPath, 'w');
    haproxy = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', log, log] });
    await waitForPort(port, haproxy, logPath);
  }, 120_000);

  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) haproxy.kill('SIGTERM');
    await anvil?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a good certificate: HAProxy lets it through and Anvil verifies the leaf it forwarded', async () => {
    const v = await throughHaproxy({ cert: files['good.pem'], key: files['good.key'] });
    expect(v).toMatchObject({ status: 'verified', nginx: 'SUCCESS', kong: null });
    expect(v!.checks[0]).toMatchObject({ name: 'proxy_headers', ok: true });
    expect(v!.checks[0].detail).toMatch(/^x-ssl-client-der from trusted proxy 127\.0\.0\.1 carries only the leaf/);
    expect(v!.presented[0].subject).toBe('CN = good');
  });

  it('a revoked certificate: HAProxy without crl-file lets it through, Anvil says revoked', async () => {
    const v = await throughHaproxy({ cert: files['revoked.pem'], key: files['revoked.key'] });
    expect(v).toMatchObject({ status: 'failed', reason: 'revoked', kong: 'TLS certificate failed verification' });
    // The verdict describes a gateway given Anvil's CRLs (crl-file), which would refuse it.
    expect(v!.haproxy).toMatchObject({ handshake: 'rejected', ssl_c_verify: 23, ssl_c_err: 23 });
  });

  it('a leaf sent without its intermediate: HAProxy ends the handshake, as the verdict says it would', async () => {
    expect(await throughHaproxy({ cert: files['leaf-only.pem'], key: files['good.key'] })).toBeNull();
    const pasted = await anvil.api('POST', '/api/v1/judge', { chain: readFileSync(files['leaf-only.pem'], 'utf8') });
    expect(((await pasted.json()) as Verdict).haproxy).toMatchObject({ handshake: 'rejected', ssl_c_verify: 21, ssl_c_err: 20 });
  });

  it('no certificate: absent, and a forged header from the client is dropped by HAProxy', async () => {
    const body = await curl(['-H', 'X-SSL-Client-Der: AAAA', `https://127.0.0.1:${port}/verify`]);
    const v = JSON.parse(body!) as Verdict;
    expect(v).toMatchObject({ status: 'absent', nginx: 'NONE', presented: [] });
    expect(v.haproxy).toMatchObject({ handshake: 'accepted', ssl_c_used: false });
  });
});

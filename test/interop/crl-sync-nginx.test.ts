/**
 * `anvil crl sync` feeding a real nginx (`ssl_verify_client on`, `ssl_crl` = the synced crls.pem):
 * a client is accepted, revoked, still accepted on the old CRL, and refused once the sync has
 * written the new CRL and run `nginx -s reload`. Without nginx or curl the suite skips loudly;
 * under CI=true it fails.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anvilCli } from '../cli/cli-runner.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { freePort, NGINX_BIN, startNginx, type RunningNginx } from '../support/nginx.ts';
import { haveTool, tempDir, writeFiles } from '../support/tools.ts';

const exec = promisify(execFile);

const HAVE_NGINX = (() => {
  if (NGINX_BIN) return true;
  if (process.env.CI === 'true') throw new Error('nginx is required under CI but is not installed (apt-get install nginx-light)');
  console.warn('\n  !!! SKIPPING: nginx is not installed; install nginx-light to run the CRL sync interop suite\n');
  return false;
})();
const HAVE_CURL = haveTool('curl');
const suite = HAVE_NGINX && HAVE_CURL ? describe : describe.skip;

interface Issued {
  id: string;
  fullchain: string;
  privateKey: string;
}

suite('anvil crl sync keeps a real nginx refusing revoked clients', () => {
  let anvil: TestAnvil;
  let nginx: RunningNginx | undefined;
  let port: number;
  let work: string;
  let crlDir: string;
  let client: Issued;
  let reload: string;
  const files: Record<string, string> = {};

  const issue = async (body: Record<string, unknown>): Promise<Issued> => {
    const res = await anvil.api('POST', '/api/v1/certificates', body);
    if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as Issued;
  };
  const sync = (extra: string[] = []) =>
    anvilCli(['crl', 'sync', '--dir', crlDir, '--issuer', 'issuing-ca', '--ca-file', files['trust.pem'], ...extra], {
      ANVIL_URL: anvil.publicUrl,
    });
  /** $ssl_client_verify for the client's full chain (the suite's nginx answers it even for a refused certificate). */
  const verdict = async (): Promise<string> => {
    const { stdout } = await exec(
      'curl',
      [
        '-s',
        '--max-time',
        '20',
        '--cacert',
        files['trust.pem'],
        '--cert',
        files['client.pem'],
        '--key',
        files['client.key'],
        `https://127.0.0.1:${port}/`,
      ],
      { encoding: 'utf8' },
    );
    return stdout;
  };

  beforeAll(async () => {
    work = tempDir('anvil-crl-sync-nginx-');
    crlDir = join(work, 'crl');
    anvil = await createTestAnvil({ listen: true });
    const server = await issue({ profile: 'server', subject: { CN: 'localhost' }, sans: { dns: ['localhost'], ip: ['127.0.0.1'] } });
    client = await issue({ profile: 'client', subject: { CN: 'gateway-partner' }, sans: { dns: ['gw.partner.test'] } });
    Object.assign(
      files,
      writeFiles(work, {
        'trust.pem': await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text(),
        'server.pem': server.fullchain,
        'server.key': server.privateKey,
        'client.pem': client.fullchain,
        'client.key': client.privateKey,
      }),
    );

    const first = await sync();
    expect(first.code, first.stderr).toBe(0);

    port = await freePort();
    const prefix = join(work, 'nginx');
    // Two workers: a master process, so `nginx -s reload` works as on a real gateway.
    nginx = await startNginx(
      prefix,
      [
        {
          port,
          certPath: files['server.pem'],
          keyPath: files['server.key'],
          clientCaPath: files['trust.pem'],
          crlPath: join(crlDir, 'crls.pem'),
          verifyClient: 'on',
          depth: 3,
        },
      ],
      2,
    );
    reload = `${NGINX_BIN} -p ${prefix} -c ${join(prefix, 'nginx.conf')} -e ${join(prefix, 'error.log')} -s reload`;
  }, 180_000);

  afterAll(async () => {
    nginx?.stop();
    await anvil?.close();
  });

  it('accepted, revoked, refused after sync + reload; a second sync leaves nginx alone', async () => {
    expect(await verdict()).toBe('SUCCESS');

    const rev = await anvil.api('POST', `/api/v1/certificates/${client.id}/revoke`, { reason: 'keyCompromise' });
    expect(rev.status).toBe(200);
    // nginx still holds the CRL it loaded: the revocation reaches it only through the sync.
    expect(await verdict()).toBe('SUCCESS');

    const r = await sync(['--reload', reload]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^issuing-ca\s+CRL \d+\s+updated \(was \d+\)/m);
    expect(r.stdout).toContain('reloaded:');

    // The master re-reads its configuration and hands over to new workers: give it a moment.
    let seen = '';
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      seen = await verdict();
      if (seen !== 'SUCCESS') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(seen, readFileSync(join(work, 'nginx', 'error.log'), 'utf8').slice(-2000)).toBe('FAILED:certificate revoked');

    const again = await sync(['--reload', 'exit 9']); // would fail if it ran
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing changed');
    expect(await verdict()).toBe('FAILED:certificate revoked');
  }, 120_000);
});

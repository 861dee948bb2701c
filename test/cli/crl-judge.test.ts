/**
 * `anvil crl` (Anvil's CRLs and one OpenSSL made) and `anvil judge` (against a stand-in TLS
 * listener that records the certificate presented and answers a verdict in the DESIGN.md shape).
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';
import { anvilCli } from './cli-runner.ts';

const HAVE_OPENSSL = haveTool('openssl');

let anvil: TestAnvil;
let env: Record<string, string>;
let work: string;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true });
  env = { ANVIL_URL: anvil.publicUrl, ANVIL_TOKEN: anvil.token };
  work = tempDir('anvil-cli-crl-');
});
afterAll(async () => {
  await anvil?.close();
});

async function issue(body: Record<string, unknown>) {
  const res = await anvil.api('POST', '/api/v1/certificates', body);
  expect(res.status).toBe(201);
  return res.json();
}

describe('anvil crl', () => {
  it("shows the issuer's CRL: number, updates, signature and the revoked serial with its reason", async () => {
    const cert = await issue({ profile: 'client', subject: { CN: 'to-revoke' }, sans: { dns: ['r.test'] } });
    const before = await anvilCli(['crl', 'issuing-ca', '--json'], env);
    expect(before.code, before.stderr).toBe(0);
    const n0 = BigInt(JSON.parse(before.stdout).number);

    expect((await anvil.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const r = await anvilCli(['crl', 'issuing-ca'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^issuer\s+O=Anvil Test, CN=Anvil Issuing CA \(issuing-ca\)$/m);
    const number = BigInt(/^number\s+(\d+)$/m.exec(r.stdout)![1]);
    expect(number > n0).toBe(true);
    expect(r.stdout).toMatch(/^this update\s+\S+Z \((.+ ago|in 0s)\)$/m);
    expect(r.stdout).toMatch(/^next update\s+\S+Z \(in \d+h/m);
    expect(r.stdout).toMatch(/^signature\s+valid/m);
    expect(r.stdout).toMatch(/^entries\s+1$/m);
    expect(r.stdout).toMatch(new RegExp(`^\\s+${cert.serial}\\s+\\S+Z\\s+keyCompromise$`, 'm'));
  });

  it('reads a CRL by URL, without a token', async () => {
    const r = await anvilCli(['crl', `${anvil.publicUrl}/pki/crl/root-ca.crl`, '--json'], {});
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.issuer).toBe('O=Anvil Test, CN=Anvil Root CA (root-ca)');
    expect(info.entries).toEqual([]);
  });

  it.skipIf(!HAVE_OPENSSL)('reads a CRL that openssl ca made (PEM file)', async () => {
    const dir = tempDir('anvil-openssl-ca-');
    const ok = (args: string[]) => {
      const res = run('openssl', args);
      expect(res.status, res.out).toBe(0);
    };
    ok([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.crt'),
      '-subj',
      '/CN=OpenSSL Test CA',
      '-days',
      '2',
    ]);
    writeFileSync(
      join(dir, 'index.txt'),
      'R\t301231235959Z\t240102030405Z,keyCompromise\t0ABCDEF1\tunknown\t/CN=gone\nR\t301231235959Z\t240203040506Z,superseded\t7F\tunknown\t/CN=replaced\nV\t301231235959Z\t\t10\tunknown\t/CN=still-good\n',
    );
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      `[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 7\n`,
    );
    ok([
      'ca',
      '-gencrl',
      '-config',
      join(dir, 'ca.cnf'),
      '-keyfile',
      join(dir, 'ca.key'),
      '-cert',
      join(dir, 'ca.crt'),
      '-out',
      join(dir, 'crl.pem'),
    ]);

    const r = await anvilCli(['crl', join(dir, 'crl.pem'), '--json'], {});
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.issuer).toBe('CN=OpenSSL Test CA');
    expect(info.number).toBe('4096');
    expect(Date.parse(info.nextUpdate) - Date.parse(info.thisUpdate)).toBe(7 * 86_400_000);
    // OpenSSL orders the entries itself; only the set matters.
    expect(info.entries).toHaveLength(2);
    expect(info.entries).toEqual(
      expect.arrayContaining([
        { serial: '0abcdef1', revocationDate: '2024-01-02T03:04:05.000Z', reason: 'keyCompromise' },
        { serial: '7f', revocationDate: '2024-02-03T04:05:06.000Z', reason: 'superseded' },
      ]),
    );
  });

  it('an unknown issuer: the problem from the server', async () => {
    const r = await anvilCli(['crl', 'no-such-ca'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('code: unknown_issuer (HTTP 404)');
  });
});

describe('anvil judge', () => {
  let server: Server;
  let url: string;
  const presented: string[] = [];
  let client: { dir: string; serial: string };
  let good: { dir: string };

  beforeAll(async () => {
    const tls = await issue({ profile: 'server', sans: { dns: ['localhost'], ip: ['127.0.0.1'] } });
    const mk = async (cn: string) => {
      const c = await issue({ profile: 'client', subject: { CN: cn }, sans: { dns: [`${cn}.test`] } });
      const dir = tempDir(`anvil-judge-${cn}-`);
      writeFiles(dir, { 'fullchain.pem': c.fullchain, 'key.pem': c.privateKey });
      return { dir, serial: c.serial as string };
    };
    client = await mk('expired-partner');
    good = await mk('good-partner');
    writeFiles(work, { 'trust.pem': anvil.authority.trustBundlePem() });

    // Stands in for the mTLS listener: asks for a certificate, accepts any, answers a verdict.
    server = createServer({ key: tls.privateKey, cert: tls.fullchain, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const has = peer && Object.keys(peer).length > 0;
      presented.push(has ? peer.serialNumber.toLowerCase() : 'none');
      const cn = has ? String(peer.subject?.CN) : '';
      const verdict = !has
        ? {
            status: 'absent',
            reason: null,
            nginx: 'NONE',
            openssl: null,
            presented: [],
            path: null,
            revocation: { checked: false, source: null, status: 'unknown' },
            checks: [],
            hints: ['present a client certificate (curl --cert/--key)'],
          }
        : cn === 'good-partner'
          ? {
              status: 'verified',
              reason: null,
              nginx: 'SUCCESS',
              openssl: null,
              presented: [
                {
                  subject: `CN=${cn}`,
                  issuer: 'CN=Anvil Issuing CA',
                  serial: peer.serialNumber,
                  notBefore: peer.valid_from,
                  notAfter: peer.valid_to,
                },
              ],
              path: [{ subject: `CN=${cn}` }, { subject: 'CN=Anvil Issuing CA' }, { subject: 'CN=Anvil Root CA' }],
              revocation: { checked: true, source: 'crl', status: 'good' },
              checks: [{ name: 'chain', ok: true, detail: 'leads to a trusted root' }],
              hints: [],
            }
          : {
              status: 'failed',
              reason: 'expired',
              nginx: 'FAILED:certificate has expired',
              openssl: { code: 10, name: 'X509_V_ERR_CERT_HAS_EXPIRED', depth: 0 },
              presented: [
                {
                  subject: `CN=${cn}`,
                  issuer: 'CN=Anvil Issuing CA',
                  serial: peer.serialNumber,
                  notBefore: peer.valid_from,
                  notAfter: peer.valid_to,
                },
              ],
              path: null,
              revocation: { checked: false, source: null, status: 'unknown' },
              checks: [{ name: 'validity', ok: false, detail: 'notAfter is in the past' }],
              hints: ['renew the certificate: anvil issue …'],
            };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(verdict));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
  });

  const strip = (hex: string) => hex.toLowerCase().replace(/^0+/, '');

  it('presents the certificate and prints the verdict readably; exit 2 when not verified', async () => {
    const r = await anvilCli(
      [
        'judge',
        url,
        '--cert',
        join(client.dir, 'fullchain.pem'),
        '--key',
        join(client.dir, 'key.pem'),
        '--cacert',
        join(work, 'trust.pem'),
      ],
      {},
    );
    expect(r.code, r.stderr).toBe(2);
    expect(strip(presented.at(-1)!)).toBe(strip(client.serial));
    expect(r.stdout).toMatch(/^verdict:\s+FAILED: expired$/m);
    expect(r.stdout).toMatch(/^nginx:\s+FAILED:certificate has expired/m);
    expect(r.stdout).toMatch(/^openssl:\s+X509_V_ERR_CERT_HAS_EXPIRED \(10\) at depth 0$/m);
    expect(r.stdout).toMatch(/^\s+\[FAIL\] validity: notAfter is in the past$/m);
    expect(r.stdout).toMatch(/^hints:\n\s+- renew the certificate/m);
  });

  it('exit 0 for a verified certificate, trusting the listener through the trust bundle from ANVIL_URL', async () => {
    const r = await anvilCli(['judge', url, '--cert', join(good.dir, 'fullchain.pem'), '--key', join(good.dir, 'key.pem')], {
      ANVIL_URL: anvil.publicUrl,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verdict:\s+VERIFIED$/m);
    expect(r.stdout).toMatch(/^path:\s+CN=good-partner\s+->\s+CN=Anvil Issuing CA\s+->\s+CN=Anvil Root CA$/m);
    expect(r.stdout).toMatch(/^revocation: checked via crl: good$/m);
  });

  it('without a certificate: absent, and --json gives the raw verdict', async () => {
    const r = await anvilCli(['judge', url, '--cacert', join(work, 'trust.pem'), '--json'], {});
    expect(r.code).toBe(2);
    expect(presented.at(-1)).toBe('none');
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'absent', nginx: 'NONE' });
  });

  it.skipIf(!HAVE_OPENSSL)('refuses a listener it cannot trust, and says how to fix it', async () => {
    const other = tempDir('anvil-judge-othertrust-');
    const made = run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(other, 'k.pem'),
      '-out',
      join(other, 'ca.pem'),
      '-subj',
      '/CN=Someone Else',
      '-days',
      '1',
    ]);
    expect(made.status, made.out).toBe(0);
    const r = await anvilCli(['judge', url, '--cacert', join(other, 'ca.pem')], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not trusted/);
    expect(r.stderr).toMatch(/--cacert|--insecure/);
  });

  it('an http:// URL is refused: the judge needs TLS', async () => {
    const r = await anvilCli(['judge', 'http://127.0.0.1:1'], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/use an https:\/\/ URL/);
  });
});

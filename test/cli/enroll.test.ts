/**
 * `anvil invite` and `anvil enroll` (the real binary) against a listening test Anvil with its mTLS
 * listener: an operator invites, the partner enrols with a key made on its side (openssl verifies
 * the result as a TLS client certificate with exactly the invitation's subject and names), a
 * second use is refused with exit 2 and writes nothing, and `anvil renew` keeps the renewed
 * certificate under the invitation's or the partner token's limits and ownership.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Each case runs the real CLI several times (a node start each): generous under a loaded CI. */
const SLOW = 180_000;
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { run, tempDir, writeFiles } from '../support/tools.ts';
import { anvilCli } from './cli-runner.ts';

let anvil: TestAnvil;
let admin: Record<string, string>;
let work: string;
let trustPath: string;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true, mtls: true });
  admin = { ANVIL_URL: anvil.publicUrl, ANVIL_TOKEN: anvil.token };
  work = tempDir('anvil-enroll-');
  trustPath = writeFiles(work, { 'trust.pem': await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text() })['trust.pem'];
});
afterAll(async () => {
  await anvil?.close();
});

const partnerEnv = () => ({ ANVIL_URL: anvil.publicUrl, ANVIL_MTLS_URL: `https://127.0.0.1:${anvil.mtls!.port}` });

function verifiedClient(fullchainPath: string): { ok: boolean; text: string } {
  const pem = readFileSync(fullchainPath, 'utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
  const dir = tempDir('anvil-enroll-verify-');
  const p = writeFiles(dir, { 'leaf.pem': blocks[0], 'chain.pem': blocks.slice(1).join('') });
  const v = run('openssl', [
    'verify',
    '-x509_strict',
    '-purpose',
    'sslclient',
    '-CAfile',
    trustPath,
    '-untrusted',
    p['chain.pem'],
    p['leaf.pem'],
  ]);
  const shown = run('openssl', ['x509', '-in', p['leaf.pem'], '-noout', '-subject', '-ext', 'subjectAltName', '-nameopt', 'RFC2253']);
  return { ok: v.out.includes(': OK'), text: shown.out.replace(/\s+/g, ' ') };
}

async function inviteUrl(args: string[]): Promise<string> {
  const r = await anvilCli(['invite', 'create', ...args, '--quiet'], admin);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain('shown this once');
  return r.stdout.trim();
}

describe('anvil invite and anvil enroll', () => {
  it(
    'invites, enrols with a local key, refuses a second use, and renews under the invitation',
    async () => {
      const url = await inviteUrl([
        '--name',
        'Partner B payments',
        '--profile',
        'client',
        '--subject',
        'O=Partner B',
        '--san',
        'dns:pay.partner-b.test',
        '--san',
        'uri:spiffe://prod.example/partner-b/pay',
        '--ttl',
        '30d',
      ]);
      expect(url).toMatch(/\/enroll\/anvil_inv_[A-Za-z0-9_-]{43}$/);

      const key = join(work, 'b.key.pem');
      const cert = join(work, 'b.fullchain.pem');
      const r = await anvilCli(['enroll', url, '--key', key, '--cert', cert], partnerEnv());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('enrolled as');
      expect(statSync(key).mode & 0o777).toBe(0o600);
      const seen = verifiedClient(cert);
      expect(seen.ok).toBe(true);
      expect(seen.text).toContain('subject=CN=pay.partner-b.test,O=Partner B');
      expect(seen.text).toContain('DNS:pay.partner-b.test, URI:spiffe://prod.example/partner-b/pay');

      const again = await anvilCli(['enroll', url, '--key', join(work, 'b2.key.pem'), '--cert', join(work, 'b2.pem')], partnerEnv());
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('invitation_used');
      expect(existsSync(join(work, 'b2.key.pem'))).toBe(false);
      const overwrite = await anvilCli(['enroll', url, '--key', key, '--cert', cert], partnerEnv());
      expect(overwrite.code).toBe(1); // the files exist: nothing contacted

      const list = await anvilCli(['invite', 'list'], admin);
      expect(list.stdout).toMatch(/Partner B payments\s+client\s+used/);
      const withdraw = await anvilCli(['invite', 'revoke', list.stdout.match(/^([0-9a-f-]{36})\s+Partner B payments/m)![1]], admin);
      expect(withdraw.code).not.toBe(0);
      expect(withdraw.stderr).toContain('invitation_used');

      // Renewal over mTLS: same subject and names, and the certificate stays the invitation's.
      const before = readFileSync(cert, 'utf8');
      const renewed = await anvilCli(['renew', '--cert', cert, '--key', key, '--new-key'], partnerEnv());
      expect(renewed.code, renewed.stderr).toBe(0);
      expect(readFileSync(cert, 'utf8')).not.toBe(before);
      const after = verifiedClient(cert);
      expect(after.ok).toBe(true);
      expect(after.text).toContain('subject=CN=pay.partner-b.test,O=Partner B');
      const id = renewed.stdout.match(/renewed \S+: ([0-9a-f-]{36})/)![1];
      const record = await anvil.authority.certificate(id);
      expect(record.requestedBy).toMatch(/^invitation:[0-9a-f-]{36}$/);
    },
    SLOW,
  );

  it(
    'an invitation taking the CSR’s names needs --san (exit 1), refuses names outside it (exit 2), then enrols',
    async () => {
      const url = await inviteUrl(['--name', 'Partner C', '--profile', 'client', '--san-pattern', '*.partner-c.test']);
      const key = join(work, 'c.key.pem');
      const cert = join(work, 'c.pem');
      const none = await anvilCli(['enroll', url, '--key', key, '--cert', cert], partnerEnv());
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('*.partner-c.test');
      const outside = await anvilCli(['enroll', url, '--key', key, '--cert', cert, '--san', 'dns:api.partner-d.test'], partnerEnv());
      expect(outside.code).toBe(2);
      expect(outside.stderr).toContain('invitation_san_not_allowed');
      expect(existsSync(key)).toBe(false);
      const ok = await anvilCli(['enroll', url, '--key', key, '--cert', cert, '--san', 'dns:api.partner-c.test'], partnerEnv());
      expect(ok.code, ok.stderr).toBe(0);
      expect(verifiedClient(cert).text).toContain('DNS:api.partner-c.test');
    },
    SLOW,
  );

  it(
    'renewal keeps a partner token’s certificate its own, and stops once that token is revoked',
    async () => {
      const created = await anvilCli(
        [
          'token',
          'create',
          '--name',
          'partner-e',
          '--scope',
          'certificates:issue',
          '--scope',
          'certificates:read',
          '--profile',
          'client',
          '--san-pattern',
          '*.partner-e.test',
          '--subject',
          'O=Partner E',
          '--json',
        ],
        admin,
      );
      const token = JSON.parse(created.stdout) as { id: string; token: string };
      const partner = { ...partnerEnv(), ANVIL_TOKEN: token.token };
      const dir = tempDir('anvil-enroll-e-');
      const issued = await anvilCli(
        ['issue', '--profile', 'client', '--cn', 'svc.partner-e.test', '--san', 'dns:svc.partner-e.test', '--out', dir, '--force'],
        partner,
      );
      expect(issued.code, issued.stderr).toBe(0);
      const cert = join(dir, 'fullchain.pem');
      const key = join(dir, 'key.pem');
      const renewed = await anvilCli(['renew', '--cert', cert, '--key', key], partnerEnv());
      expect(renewed.code, renewed.stderr).toBe(0);
      const id = renewed.stdout.match(/renewed \S+: ([0-9a-f-]{36})/)![1];
      // The partner still sees its renewed certificate.
      const own = await fetch(`${anvil.publicUrl}/api/v1/certificates/${id}`, { headers: { authorization: `Bearer ${token.token}` } });
      expect(own.status).toBe(200);
      expect(((await own.json()) as { subject: string }).subject).toContain('O=Partner E');

      await anvilCli(['token', 'revoke', token.id], admin);
      const refused = await anvilCli(['renew', '--cert', cert, '--key', key], partnerEnv());
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('token_revoked');
    },
    SLOW,
  );
});

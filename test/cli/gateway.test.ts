/** `anvil gateway KIND --issuer NAME [--out DIR]` (issue 12) against a listening test Anvil. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { tempDir } from '../support/tools.ts';
import { anvilCli } from './cli-runner.ts';

let anvil: TestAnvil;
let env: Record<string, string>;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true });
  env = { ANVIL_URL: anvil.publicUrl, ANVIL_TOKEN: anvil.token };
});
afterAll(async () => {
  await anvil?.close();
});

describe('anvil gateway', () => {
  it('prints the configuration on standard output and the notes on standard error', async () => {
    const r = await anvilCli(['gateway', 'nginx', '--issuer', 'issuing-ca'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ssl_client_certificate /etc/anvil/issuing-ca/trust.pem;');
    expect(r.stdout).toContain('proxy_set_header X-SSL-Client-S-DN   $ssl_client_s_dn;');
    expect(r.stderr).toMatch(/^note: /m);
  });

  it('--out writes the configuration, downloads the trust and CRL files, and points the paths there', async () => {
    const dir = join(tempDir('anvil-cli-gw-'), 'haproxy');
    const r = await anvilCli(['gateway', 'haproxy', '--issuer', 'issuing-ca', '--out', dir], env);
    expect(r.code, r.stderr).toBe(0);
    const config = readFileSync(join(dir, 'anvil-issuing-ca.cfg'), 'utf8');
    expect(config).toContain(`ca-file ${dir}/trust.pem crl-file ${dir}/crls.pem verify required`);
    const root = await (await anvil.app.request('/pki/issuers/root-ca.pem')).text();
    expect(readFileSync(join(dir, 'trust.pem'), 'utf8')).toBe(root);
    const crls = await (await anvil.app.request('/pki/issuers/issuing-ca/crls.pem')).text();
    expect(readFileSync(join(dir, 'crls.pem'), 'utf8')).toBe(crls);
    expect(readFileSync(join(dir, 'download.sh'), 'utf8')).toContain(`curl -fsS -o ${dir}/crls.pem.new`);
    expect(r.stdout).toContain(`wrote ${dir}/trust.pem`);
    // The gateway's own certificate is the operator's to put there.
    expect(r.stderr).toContain(`${dir}/server-combined.pem`);
    // A second run refuses to replace files without --force.
    const again = await anvilCli(['gateway', 'haproxy', '--issuer', 'issuing-ca', '--out', dir], env);
    expect(again.code).not.toBe(0);
    expect((await anvilCli(['gateway', 'haproxy', '--issuer', 'issuing-ca', '--out', dir, '--force'], env)).code).toBe(0);
  });

  it.each([
    [
      'an unknown kind',
      ['gateway', 'iis', '--issuer', 'issuing-ca'],
      /^error: no gateway kind "iis"; known kinds: nginx, haproxy, envoy, kong, caddy, traefik$/,
    ],
    ['an unknown issuer', ['gateway', 'nginx', '--issuer', 'nope'], /^error: no issuer named "nope"$/],
    [
      'an unsafe --out',
      ['gateway', 'nginx', '--issuer', 'issuing-ca', '--out', '/tmp/a b'],
      /^error: --out \/tmp\/a b: use a directory path/,
    ],
  ])('%s: one readable line and a non-zero exit', async (_label, args, message) => {
    const r = await anvilCli(args, env);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
  });
});

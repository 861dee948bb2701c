/**
 * `anvil issuer import|csr|certificate` against a listening test Anvil: files read by the CLI (a DER
 * certificate sent as base64, an encrypted key with its passphrase from a file), a refusal shown
 * with its problem code, and the CSR round trip through an external `openssl ca`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { createOpensslCa, keyAndCsr } from '../support/openssl-ca.ts';
import { haveTool, tempDir } from '../support/tools.ts';
import { anvilCli } from './cli-runner.ts';

let anvil: TestAnvil;
let env: Record<string, string>;
let dir: string;
beforeAll(async () => {
  haveTool('openssl');
  anvil = await createTestAnvil({ listen: true });
  env = { ANVIL_URL: anvil.publicUrl, ANVIL_TOKEN: anvil.token };
  dir = tempDir('anvil-cli-issuer-');
});
afterAll(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('anvil issuer', () => {
  it('imports a root from a DER certificate and an encrypted key, after refusing a wrong passphrase', async () => {
    const ext = createOpensslCa(join(dir, 'a'), 'CLI Root');
    const der = join(dir, 'root.der');
    openssl('x509', '-in', ext.rootPath, '-outform', 'DER', '-out', der);
    const key = join(dir, 'root-enc.pem');
    openssl('pkcs8', '-topk8', '-in', ext.rootKeyPath, '-v2', 'aes-256-cbc', '-passout', 'pass:cli-secret', '-out', key);
    const args = ['issuer', 'import', '--name', 'cli-root', '--cert', der, '--key', key];

    writeFileSync(join(dir, 'wrong'), 'not-it\n');
    const wrong = await anvilCli([...args, '--passphrase-file', join(dir, 'wrong')], env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('wrong_passphrase');
    expect(wrong.stderr + wrong.stdout).not.toContain('not-it');

    const ok = await anvilCli(args, { ...env, ANVIL_KEY_PASSPHRASE: 'cli-secret' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^imported issuer cli-root: root, .*CLI Root/);
    expect(anvil.authority.issuerByName('cli-root').record.kind).toBe('root');

    const k = keyAndCsr(dir, 'int', '/CN=CLI Issuing/O=External');
    writeFileSync(join(dir, 'int.pem'), ext.sign(k.csrPem));
    const int = await anvilCli(
      ['issuer', 'import', '--name', 'cli-int', '--cert', join(dir, 'int.pem'), '--key', k.keyPath, '--json'],
      env,
    );
    expect(int.code, int.stderr).toBe(0);
    expect(JSON.parse(int.stdout)).toMatchObject({ name: 'cli-int', kind: 'intermediate', parent: 'cli-root' });
  });

  it('writes a CSR, and activates the issuer with what the external root signed', async () => {
    const ext = createOpensslCa(join(dir, 'b'), 'CLI External Root');
    const csrPath = join(dir, 'anvil.csr');
    const csr = await anvilCli(['issuer', 'csr', '--name', 'cli-ext', '--key-algorithm', 'EC-P384', '--out', csrPath], env);
    expect(csr.code, csr.stderr).toBe(0);
    expect(csr.stdout).toContain('issuer cli-ext is pending');
    const certPem = ext.sign(readFileSync(csrPath, 'utf8'));
    writeFileSync(join(dir, 'ext.pem'), certPem);
    const done = await anvilCli(
      ['issuer', 'certificate', '--name', 'cli-ext', '--cert', join(dir, 'ext.pem'), '--chain', ext.rootPath],
      env,
    );
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^activated issuer cli-ext: intermediate/);
    const again = await anvilCli(
      ['issuer', 'certificate', '--name', 'cli-ext', '--cert', join(dir, 'ext.pem'), '--chain', ext.rootPath],
      env,
    );
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('pending_issuer_not_found');
  });
});

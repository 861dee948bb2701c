/**
 * The `anvil` CLI against a listening test Anvil: what it writes, with which modes, whether
 * OpenSSL accepts what it got, and what it says when things go wrong.
 */
import { statSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createTestAnvil, freePort, type TestAnvil } from '../support/harness.ts';
import { haveTool, run, tempDir, writeFiles } from '../support/tools.ts';
import { anvilCli, ANVIL_BIN } from './cli-runner.ts';

const HAVE_OPENSSL = haveTool('openssl');

let anvil: TestAnvil;
let env: Record<string, string>;
let work: string;
let trust: string;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true });
  env = { ANVIL_URL: anvil.publicUrl, ANVIL_TOKEN: anvil.token };
  work = tempDir('anvil-cli-');
  trust = writeFiles(work, { 'trust.pem': anvil.authority.trustBundlePem() })['trust.pem'];
});
afterAll(async () => {
  await anvil?.close();
});

const mode = (path: string) => statSync(path).mode & 0o777;

async function issueTo(dir: string, args: string[]) {
  const r = await anvilCli(['issue', ...args, '--out', dir], env);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe('anvil issue', () => {
  it.each(['EC-P256', 'EC-P384', 'RSA-2048', 'Ed25519'])(
    'generates a %s key locally, sends a CSR and writes key.pem (0600), cert.pem, chain.pem, fullchain.pem',
    async (alg) => {
      const dir = join(work, `issue-${alg}`);
      const r = await issueTo(dir, [
        '--profile',
        'client',
        '--cn',
        'partner-a',
        '--san',
        'dns:a.partner.test',
        '--san',
        'uri:spiffe://prod.example/partner-a',
        '--key-algorithm',
        alg,
        '--ttl',
        '30d',
      ]);
      expect(r.stdout).toMatch(/^issued [0-9a-f-]{36}$/m);
      for (const f of ['key.pem', 'cert.pem', 'chain.pem', 'fullchain.pem']) expect(existsSync(join(dir, f))).toBe(true);
      expect(mode(join(dir, 'key.pem'))).toBe(0o600);
      expect(readFileSync(join(dir, 'fullchain.pem'), 'utf8')).toBe(
        readFileSync(join(dir, 'cert.pem'), 'utf8') + readFileSync(join(dir, 'chain.pem'), 'utf8'),
      );

      // The server never saw the key: the certificate's key is the one on disk.
      const id = /^issued (\S+)$/m.exec(r.stdout)![1];
      const fromApi = await (await anvil.api('GET', `/api/v1/certificates/${id}`)).json();
      expect(fromApi.keyAlgorithm).toBe(alg);
      expect(fromApi.sans.uri).toEqual(['spiffe://prod.example/partner-a']);
      expect(fromApi.subject).toBe('CN=partner-a');
      const lifetime = Date.parse(fromApi.notAfter) - Date.parse(fromApi.notBefore);
      expect(lifetime).toBe(30 * 86_400_000 + 60_000); // 30d plus the one-minute backdate

      if (HAVE_OPENSSL) {
        const verify = run('openssl', [
          'verify',
          '-CAfile',
          trust,
          '-untrusted',
          join(dir, 'chain.pem'),
          '-purpose',
          'sslclient',
          join(dir, 'cert.pem'),
        ]);
        expect(verify.out).toContain(': OK');
        const certPub = run('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-pubkey']).out;
        const keyPub = run('openssl', ['pkey', '-in', join(dir, 'key.pem'), '-pubout']).out;
        expect(keyPub).toBe(certPub);
      }
    },
  );

  it.skipIf(!HAVE_OPENSSL)('sends a CSR made by openssl with --csr, and writes no key', async () => {
    const csrDir = tempDir('anvil-cli-csr-');
    const gen = run('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(csrDir, 'k.pem'),
      '-out',
      join(csrDir, 'req.pem'),
      '-subj',
      '/CN=api.internal.test',
      '-addext',
      'subjectAltName=DNS:api.internal.test',
    ]);
    expect(gen.status, gen.out).toBe(0);
    const dir = join(work, 'issue-csr');
    await issueTo(dir, ['--profile', 'server', '--csr', join(csrDir, 'req.pem')]);
    expect(existsSync(join(dir, 'key.pem'))).toBe(false);
    const verify = run('openssl', [
      'verify',
      '-CAfile',
      trust,
      '-untrusted',
      join(dir, 'chain.pem'),
      '-purpose',
      'sslserver',
      join(dir, 'cert.pem'),
    ]);
    expect(verify.out).toContain(': OK');
  });

  it('refuses to overwrite an existing key.pem unless --force', async () => {
    const dir = join(work, 'issue-twice');
    const args = ['--profile', 'server', '--san', 'dns:twice.test'];
    await issueTo(dir, args);
    const before = readFileSync(join(dir, 'key.pem'), 'utf8');
    const again = await anvilCli(['issue', ...args, '--out', dir], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/key\.pem.*already exist.*--force/);
    expect(readFileSync(join(dir, 'key.pem'), 'utf8')).toBe(before);
    await issueTo(dir, [...args, '--force']);
    expect(readFileSync(join(dir, 'key.pem'), 'utf8')).not.toBe(before);
    expect(mode(join(dir, 'key.pem'))).toBe(0o600);
  });

  it('prints the policy refusal with its code and exits non-zero', async () => {
    const r = await anvilCli(['issue', '--profile', 'client', '--san', 'dns:no-cn.test', '--out', join(work, 'no-cn')], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: a client certificate needs a CN');
    expect(r.stderr).toContain('code: cn_required (HTTP 422)');
    expect(existsSync(join(work, 'no-cn', 'key.pem'))).toBe(false);
  });
});

describe('anvil list, download, revoke', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const r = await issueTo(join(work, `bulk-${i}`), ['--profile', 'client', '--cn', `bulk-${i}`, '--san', `dns:bulk-${i}.test`]);
      ids.push(/^issued (\S+)$/m.exec(r.stdout)![1]);
    }
  });

  it('list prints a table; --all follows the cursors to the end', async () => {
    const table = await anvilCli(['list', '--q', 'bulk-'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+PROFILE\s+STATUS\s+NOT AFTER\s+SUBJECT\s+SERIAL$/);
    for (const id of ids) expect(table.stdout).toContain(id);
    expect(table.stdout).toMatch(/^3 certificates$/m);

    const all = await anvilCli(['list', '--q', 'bulk-', '--all', '--limit', '1', '--json'], env);
    expect(all.code, all.stderr).toBe(0);
    expect(
      JSON.parse(all.stdout)
        .map((c: { id: string }) => c.id)
        .sort(),
    ).toEqual([...ids].sort());

    const page = await anvilCli(['list', '--q', 'bulk-', '--limit', '1'], env);
    expect(page.stdout).toMatch(/^1 certificate$/m);
    expect(page.stderr).toMatch(/--all/);
  });

  it('download writes pem, p7b and k8s (with the local key added, 0600)', async () => {
    const dir = join(work, 'downloads');
    mkdirSync(dir);
    const id = ids[0];
    const pem = await anvilCli(['download', id, '--format', 'fullchain'], env);
    expect(pem.code).toBe(0);
    expect(pem.stdout).toBe(readFileSync(join(work, 'bulk-0', 'fullchain.pem'), 'utf8'));

    const p7b = await anvilCli(['download', id, '--format', 'p7b', '--out', join(dir, 'b.p7b')], env);
    expect(p7b.code, p7b.stderr).toBe(0);
    if (HAVE_OPENSSL) {
      const certs = run('openssl', ['pkcs7', '-inform', 'DER', '-in', join(dir, 'b.p7b'), '-print_certs', '-noout']);
      expect(certs.out).toMatch(/subject=CN = bulk-0/);
    }

    const k8s = await anvilCli(
      [
        'download',
        id,
        '--format',
        'k8s',
        '--key',
        join(work, 'bulk-0', 'key.pem'),
        '--namespace',
        'payments',
        '--out',
        join(dir, 'secret.yaml'),
      ],
      env,
    );
    expect(k8s.code, k8s.stderr).toBe(0);
    expect(mode(join(dir, 'secret.yaml'))).toBe(0o600);
    const secret = parseYaml(readFileSync(join(dir, 'secret.yaml'), 'utf8'));
    expect(secret.metadata.namespace).toBe('payments');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(Buffer.from(secret.data['tls.key'], 'base64').toString()).toBe(readFileSync(join(work, 'bulk-0', 'key.pem'), 'utf8'));

    // A key that is not the certificate's is refused rather than packed.
    const wrong = await anvilCli(['download', id, '--format', 'k8s', '--key', join(work, 'bulk-1', 'key.pem')], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/is not the key of this certificate/);
  });

  it('revoke one, then many from a file with a progress summary and per-id errors', async () => {
    const one = await anvilCli(['revoke', ids[0], '--reason', 'keyCompromise'], env);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^revoked ${ids[0]} .*reason keyCompromise`, 'm'));

    const missing = '00000000-0000-4000-8000-000000000000';
    const file = writeFiles(work, { 'ids.txt': `# to retire\n${ids[1]}\n\n${ids[2]}\n${missing}\n` })['ids.txt'];
    const many = await anvilCli(['revoke', '--file', file, '--reason', 'cessationOfOperation'], env);
    expect(many.code).toBe(1);
    expect(many.stdout).toContain('revoked 2 of 3 certificates');
    expect(many.stderr).toContain(`${missing}: no certificate with id`);
    expect(many.stderr).toContain('certificate_not_found');

    const revoked = JSON.parse((await anvilCli(['list', '--status', 'revoked', '--json', '--q', 'bulk-'], env)).stdout);
    expect(revoked.map((c: { id: string; revocationReason: string }) => [c.id, c.revocationReason]).sort()).toEqual(
      [
        [ids[0], 'keyCompromise'],
        [ids[1], 'cessationOfOperation'],
        [ids[2], 'cessationOfOperation'],
      ].sort(),
    );
  });
});

describe('connection settings and errors', () => {
  it('a bad token: the problem detail and code, exit 1, and never the token', async () => {
    const token = 'anvil_definitely_wrong_token_9f8e7d6c';
    const r = await anvilCli(['list'], { ANVIL_URL: anvil.publicUrl, ANVIL_TOKEN: token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: the API token is unknown or revoked');
    expect(r.stderr).toContain('code: invalid_token (HTTP 401)');
    expect(r.stderr + r.stdout).not.toContain(token);
  });

  it('an unreachable server: names the URL, exit 1', async () => {
    const port = await freePort();
    const r = await anvilCli(['list'], { ANVIL_URL: `http://127.0.0.1:${port}`, ANVIL_TOKEN: anvil.token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: cannot reach Anvil at http://127.0.0.1:${port}: ECONNREFUSED`);
    expect(r.stderr).not.toContain(anvil.token);
  });

  it('no token anywhere: says where to put one', async () => {
    const r = await anvilCli(['list'], { ANVIL_URL: anvil.publicUrl });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no API token: pass --token, set ANVIL_TOKEN/);
  });

  it('reads url and token from the config file; the environment and flags win over it', async () => {
    const home = tempDir('anvil-cli-home-');
    const cfgDir = join(home, '.config', 'anvil');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(join(cfgDir, 'config.json'), JSON.stringify({ url: anvil.publicUrl, token: anvil.token }), { mode: 0o600 });
    const fromFile = await anvilCli(['list', '--limit', '1'], {}, { home });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stderr).toBe('(more: --all to fetch every page, or --limit up to 500)\n');

    const envWins = await anvilCli(['list'], { ANVIL_TOKEN: 'env_token_that_is_wrong_0000' }, { home });
    expect(envWins.stderr).toContain('invalid_token');
    expect(envWins.stderr).toContain('the token from ANVIL_TOKEN was refused');

    const port = await freePort();
    const flagWins = await anvilCli(['list', '--url', `http://127.0.0.1:${port}`], { ANVIL_URL: anvil.publicUrl }, { home });
    expect(flagWins.stderr).toContain(`cannot reach Anvil at http://127.0.0.1:${port}`);

    const other = join(home, 'elsewhere.json');
    writeFileSync(other, JSON.stringify({ url: anvil.publicUrl, token: anvil.token }), { mode: 0o644 });
    const viaEnv = await anvilCli(['list', '--limit', '1'], { ANVIL_CONFIG: other });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stderr).toMatch(/readable by others; chmod 600 it/);
  });

  it('is installed as a workspace bin: node_modules/.bin/anvil --help', async () => {
    const bin = join(ANVIL_BIN, '..', '..', '..', '..', 'node_modules', '.bin', 'anvil');
    expect(existsSync(bin)).toBe(true);
    const r = run(bin, ['--help']);
    expect(r.status).toBe(0);
    for (const cmd of ['issue', 'revoke', 'list', 'download', 'crl', 'judge']) expect(r.out).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'));
  });
});

/** `anvil token create|list|revoke` against a listening test Anvil: a partner token made, used, listed without its secret, revoked. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
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

describe('anvil token', () => {
  it('creates a partner token, which works, lists without its secret, and is refused once revoked', async () => {
    const args = ['token', 'create', '--name', 'partner-c', '--scope', 'certificates:read', '--scope', 'certificates:issue'];
    const limits = ['--san-pattern', '*.c.partner.test', '--subject', 'O=Partner C', '--expires', '2099-01-01'];
    const quiet = await anvilCli([...args, ...limits, '--quiet'], env);
    expect(quiet.code, quiet.stderr).toBe(0);
    const token = quiet.stdout.trim();
    expect(quiet.stdout).toMatch(/^anvil_[A-Za-z0-9_-]{43}\n$/);
    expect(quiet.stderr).toMatch(/warning: the token is shown this once/);

    const json = await anvilCli(['token', 'create', '--name', 'partner-c-json', '--scope', 'certificates:read', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const created = JSON.parse(json.stdout);
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.token).toMatch(/^anvil_/);

    const used = await anvilCli(['list'], { ...env, ANVIL_TOKEN: token });
    expect(used.code, used.stderr).toBe(0);

    const list = await anvilCli(['token', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+SCOPES\s+STATUS\s+EXPIRES\s+LAST USED$/);
    const row = list.stdout.split('\n').find((l) => /\spartner-c\s/.test(l));
    expect(row).toMatch(/certificates:read,certificates:issue\s+active\s+2099-01-01T00:00:00Z\s+\d{4}-/);
    expect(list.stdout + list.stderr).not.toContain(token);
    expect(list.stdout).not.toContain(created.token);

    const listed = JSON.parse((await anvilCli(['token', 'list', '--json'], env)).stdout) as Array<Record<string, unknown>>;
    const mine = listed.find((t) => t.name === 'partner-c')!;
    expect(mine).toMatchObject({ sanPatterns: ['*.c.partner.test'], subject: { O: 'Partner C' }, status: 'active' });
    expect(JSON.stringify(listed)).not.toContain(token);

    const revoked = await anvilCli(['token', 'revoke', mine.id as string], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked token ${mine.id} (partner-c)`);

    // Authentication is cached for 5 s per process: the refusal comes within 6.
    const deadline = Date.now() + 6_000;
    let after = await anvilCli(['list'], { ...env, ANVIL_TOKEN: token });
    while (after.code === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = await anvilCli(['list'], { ...env, ANVIL_TOKEN: token });
    }
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('code: invalid_token (HTTP 401)');
    expect(after.stderr + after.stdout).not.toContain(token);
  }, 30_000);

  it('a bad --san-pattern: exit 1 with the problem code, and nothing printed on stdout', async () => {
    const r = await anvilCli(['token', 'create', '--name', 'bad', '--scope', 'certificates:issue', '--san-pattern', 'a*b.test'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('code: invalid_san_pattern (HTTP 422)');
    expect(r.stdout).toBe('');
  });

  it("--rate-limit is the token's certificates per minute; a bad one is refused", async () => {
    const r = await anvilCli(['token', 'create', '--name', 'rated', '--scope', 'certificates:issue', '--rate-limit', '5', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const { id } = JSON.parse(r.stdout);
    expect((await (await anvil.api('GET', `/api/v1/tokens/${id}`)).json()).rateLimit).toBe(5);
    const zero = await anvilCli(['token', 'create', '--name', 'rated-0', '--scope', 'certificates:issue', '--rate-limit', '0'], env);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain('code: invalid_rate_limit (HTTP 422)');
    const word = await anvilCli(['token', 'create', '--name', 'rated-x', '--scope', 'certificates:issue', '--rate-limit', 'x'], env);
    expect(word.code).toBe(1);
    expect(word.stderr).toContain('--rate-limit "x" is not a whole number');
  });

  it('create without a scope is refused before any request', async () => {
    const r = await anvilCli(['token', 'create', '--name', 'none'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: name at least one --scope');
  });
});

/** `anvil acme eab create|list|revoke` against a listening test Anvil: the HMAC key printed once, never listed, the credential revoked. */
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

describe('anvil acme eab', () => {
  it('creates a credential (key shown once), lists it without the key, and revokes it', async () => {
    const created = await anvilCli(
      ['acme', 'eab', 'create', '--name', 'team-a', '--profile', 'server', '--san-pattern', '*.team-a.test', '--json'],
      env,
    );
    expect(created.code, created.stderr).toBe(0);
    const { keyId, hmacKey } = JSON.parse(created.stdout);
    expect(keyId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(hmacKey, 'base64url')).toHaveLength(32);
    expect(created.stderr).toMatch(/shown this once/);

    const list = await anvilCli(['acme', 'eab', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^KEY ID\s+NAME\s+PROFILES\s+SAN PATTERNS\s+STATUS\s+EXPIRES$/);
    expect(list.stdout).toMatch(new RegExp(`${keyId}\\s+team-a\\s+server\\s+\\*\\.team-a\\.test\\s+unused\\s+never`));
    expect(list.stdout).not.toContain(hmacKey);

    const revoked = await anvilCli(['acme', 'eab', 'revoke', keyId], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked EAB credential ${keyId} (team-a)`);
    expect((await anvilCli(['acme', 'eab', 'list', '--json'], env)).stdout).toContain('"status": "revoked"');
  });

  it('needs a profile, and reports the server refusal of an unknown one', async () => {
    const none = await anvilCli(['acme', 'eab', 'create', '--name', 'x'], env);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/--profile/);
    const unknown = await anvilCli(['acme', 'eab', 'create', '--name', 'x', '--profile', 'nope'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown_profile|no profile/);
  });
});

/**
 * `anvil judge` against Anvil's real mTLS listener (the stand-in in crl-judge.test.ts covers the
 * printing of every verdict shape; this proves the two agree end to end).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { tempDir, writeFiles } from '../support/tools.ts';
import { anvilCli } from './cli-runner.ts';

let anvil: TestAnvil;
let dir: string;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true, mtls: true });
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: 'live-partner' },
    sans: { dns: ['live.partner.test'] },
  });
  expect(res.status).toBe(201);
  const cert = await res.json();
  dir = tempDir('anvil-judge-live-');
  writeFiles(dir, { 'fullchain.pem': cert.fullchain, 'cert.pem': cert.certificate, 'key.pem': cert.privateKey });
});
afterAll(async () => {
  await anvil?.close();
});

describe('anvil judge against the mTLS listener', () => {
  const url = () => `https://127.0.0.1:${anvil.mtls!.port}`;

  it('verifies a full chain: exit 0, nginx SUCCESS', async () => {
    const r = await anvilCli(['judge', url(), '--cert', join(dir, 'fullchain.pem'), '--key', join(dir, 'key.pem')], {
      ANVIL_URL: anvil.publicUrl,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verdict:\s+VERIFIED$/m);
    expect(r.stdout).toMatch(/^nginx:\s+SUCCESS\b/m);
    expect(r.stdout).toMatch(/^revocation: checked via crl\+anvil-db: good$/m);
  });

  it('a leaf alone: exit 2, missing intermediate, and the hint names fullchain.pem', async () => {
    const r = await anvilCli(['judge', url(), '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'), '--json'], {
      ANVIL_URL: anvil.publicUrl,
    });
    expect(r.code, r.stderr).toBe(2);
    const verdict = JSON.parse(r.stdout);
    expect(verdict).toMatchObject({
      status: 'failed',
      reason: 'missing_intermediate',
      nginx: 'FAILED:unable to verify the first certificate',
    });
    expect(verdict.hints.join(' ')).toContain('fullchain.pem');
  });

  it('no certificate: absent, NONE', async () => {
    const r = await anvilCli(['judge', url(), '--json'], { ANVIL_URL: anvil.publicUrl });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'absent', nginx: 'NONE' });
  });
});

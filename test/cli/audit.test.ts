/** `anvil audit verify` (exit codes on an intact and a broken chain) and `anvil audit export` (JSON lines, filters) against a listening test Anvil. */
import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { anvilCli } from './cli-runner.ts';

let anvil: TestAnvil;
let env: Record<string, string>;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true });
  env = { ANVIL_URL: anvil.publicUrl, ANVIL_TOKEN: anvil.token };
  for (const cn of ['cli-audit-a', 'cli-audit-b']) {
    const res = await anvil.api('POST', '/api/v1/certificates', { profile: 'client', subject: { CN: cn }, sans: { dns: [`${cn}.test`] } });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await anvil?.close();
});

async function exec(query: SQL) {
  await anvil.store.database.execute(query);
}

describe('anvil audit', () => {
  it('export writes every row as JSON lines, oldest first; filters narrow it; a bad filter is the API error', async () => {
    const all = await anvilCli(['audit', 'export'], env);
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; action: string; hash: string });
    const n = (await anvil.store.listAudit({ limit: 1000 })).length;
    expect(lines.length).toBe(n);
    expect(lines.map((l) => Number(l.id))).toEqual([...lines.map((l) => Number(l.id))].sort((a, b) => a - b));
    const issues = await anvilCli(['audit', 'export', '--action', 'certificate.issue', '--outcome', 'success'], env);
    expect(issues.code, issues.stderr).toBe(0);
    const issued = issues.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string });
    expect(issued).toHaveLength(2);
    expect(issued.every((l) => l.action === 'certificate.issue')).toBe(true);
    const bad = await anvilCli(['audit', 'export', '--from', 'yesterday'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid_audit_filter \(HTTP 422\)/);
    expect(bad.stdout).toBe('');
  });

  it('verify exits 0 on an intact chain, 3 naming the first bad row once a row is changed', async () => {
    const ok = await anvilCli(['audit', 'verify'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^audit chain intact: \d+ rows, head seq \d+ [0-9a-f]{64}$/m);
    await exec(sql`alter table audit_log disable trigger user`);
    try {
      await exec(sql`update audit_log set actor = 'mallory' where seq = 2`);
    } finally {
      await exec(sql`alter table audit_log enable trigger user`);
    }
    const broken = await anvilCli(['audit', 'verify'], env);
    expect(broken.code).toBe(3);
    expect(broken.stderr).toMatch(/audit chain broken at seq 2 \(id \d+\): altered/);
    const json = await anvilCli(['audit', 'verify', '--json'], env);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstBad: { seq: '2', problem: 'altered' } });
  });

  it('verify without a token fails as usual (exit 1)', async () => {
    const r = await anvilCli(['audit', 'verify'], { ANVIL_URL: anvil.publicUrl });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no API token/);
  });
});

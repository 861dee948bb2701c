/**
 * Group commit of issued certificates (db/src/group-commit.ts), on PGlite and PostgreSQL: every
 * certificate an answer carries is committed with its audit row and Idempotency-Key before the
 * answer; concurrent issuances share transactions; a group that fails fails only its own writes
 * and writes nothing of them; a deadlocked group is retried one write at a time.
 */
import { randomBytes } from 'node:crypto';
import { emptySans } from '@anvil/pki';
import { GroupCommit } from '@anvil/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, TEST_DB, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
beforeAll(async () => {
  anvil = await createTestAnvil();
}, 60_000);
afterAll(() => anvil?.close());

async function rows<T>(query: ReturnType<typeof sql>): Promise<T[]> {
  const result: unknown = await anvil.store.database.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** A certificate row as issuance would write it (the DER is not read by the store). */
function row(serial: string) {
  const issuer = anvil.authority.issuerByName('issuing-ca');
  return {
    issuerId: issuer.record.id,
    serial,
    profile: 'client',
    subject: `CN=group-${serial}`,
    commonName: `group-${serial}`,
    sans: emptySans(),
    keyAlgorithm: 'EC-P256',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    der: new Uint8Array(randomBytes(64)),
    fingerprintSha256: randomBytes(32).toString('hex'),
    requestedBy: 'group-commit-test',
  };
}
const audit = (serial: string) => ({
  actor: 'group-commit-test',
  source: null,
  action: 'certificate.issue',
  outcome: 'success' as const,
  details: { serial },
});
const serial = () => `7${randomBytes(15).toString('hex')}`;

describe('group commit of issued certificates', () => {
  it('48 concurrent API issuances: each answered certificate is committed with its audit row and Idempotency-Key, in shared transactions', async () => {
    const before = anvil.store.issuedGroupStats();
    const keys = Array.from({ length: 48 }, (_, i) => `group-${i}-${randomBytes(4).toString('hex')}`);
    const answers = await Promise.all(
      keys.map(async (key, i) => {
        const res = await anvil.api(
          'POST',
          '/api/v1/certificates',
          { profile: 'client', subject: { CN: `group-${i}` }, sans: { dns: [`group-${i}.example.test`] } },
          { 'idempotency-key': key },
        );
        expect(res.status).toBe(201);
        return (await res.json()) as { id: string };
      }),
    );
    const ids = answers.map((a) => a.id);
    const list = sql.join(
      ids.map((id) => sql`${id}`),
      sql`, `,
    );
    const [certs] = await rows<{ n: number }>(sql`select count(*)::int as n from certificates where id in (${list})`);
    const [audits] = await rows<{ n: number }>(
      sql`select count(*)::int as n from audit_log where target in (${list}) and action = 'certificate.issue' and outcome = 'success'`,
    );
    const [idem] = await rows<{ n: number }>(sql`select count(*)::int as n from idempotency_keys where certificate_id in (${list})`);
    expect([certs.n, audits.n, idem.n]).toEqual([48, 48, 48]);
    const after = anvil.store.issuedGroupStats();
    expect(after.writes - before.writes).toBe(48);
    if (TEST_DB === 'postgres') {
      // Fewer transactions than writes: requests that arrived during a commit shared the next one.
      // (PGlite commits in this process, in less time than one request takes to sign: groups stay small there.)
      expect(after.groups - before.groups).toBeLessThan(48);
      expect(after.largest).toBeGreaterThan(1);
    }
    // The audit chain is still one unbroken chain.
    expect((await anvil.authority.verifyAuditChain()).ok).toBe(true);
  });

  it('a group that fails fails only its own writes, writes nothing of them, and the next group commits', async () => {
    const taken = serial();
    await anvil.store.insertIssuedCertificate(row(taken), audit(taken));
    // The first write runs at once; the three that arrive while it commits form the next group.
    const first = serial();
    const group = [serial(), taken, serial()];
    const results = await Promise.allSettled([
      anvil.store.insertIssuedCertificate(row(first), audit(first)),
      ...group.map((s) => anvil.store.insertIssuedCertificate(row(s), audit(s))),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    const later = serial();
    expect(await anvil.store.insertIssuedCertificate(row(later), audit(later))).not.toBeNull();

    const serials = [first, ...group, later];
    const list = sql.join(
      serials.map((s) => sql`${s}`),
      sql`, `,
    );
    const written = await rows<{ serial: string }>(sql`select serial from certificates where serial in (${list}) order by serial`);
    expect(written.map((r) => r.serial).sort()).toEqual([first, taken, later].sort());
    const audited = await rows<{ serial: string }>(
      sql`select details->>'serial' as serial from audit_log where actor = 'group-commit-test' and details->>'serial' in (${list})`,
    );
    expect(audited.map((r) => r.serial).sort()).toEqual([first, taken, later].sort());
  });
});

describe('GroupCommit', () => {
  it('runs the first write at once, groups those that arrive meanwhile, and answers each in order', async () => {
    const groups: number[][] = [];
    const gc = new GroupCommit<number, number>({
      group: async (xs) => {
        groups.push(xs);
        await new Promise((r) => setTimeout(r, 10));
        return xs.map((x) => x * 2);
      },
      alone: async (x) => {
        groups.push([x]); // a group of one is its statement alone, without a transaction around it
        await new Promise((r) => setTimeout(r, 10));
        return x * 2;
      },
      retryAlone: () => false,
    });
    const answers = await Promise.all([1, 2, 3, 4].map((x) => gc.write(x)));
    expect(answers).toEqual([2, 4, 6, 8]);
    expect(groups).toEqual([[1], [2, 3, 4]]);
  });

  it('a deadlocked group is retried one write at a time; each write gets its own outcome', async () => {
    const alone: number[] = [];
    const gc = new GroupCommit<number, number>({
      group: async (xs) => {
        if (xs.length > 1) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
        return xs;
      },
      alone: async (x) => {
        alone.push(x);
        if (x === 3) throw new Error('three fails alone');
        return x;
      },
      retryAlone: (err) => (err as { code?: string }).code === '40P01',
    });
    const results = await Promise.allSettled([1, 2, 3, 4].map((x) => gc.write(x)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual([1, 2, 'failed', 4]);
    // 1 ran alone as a group of one; 2, 3 and 4 were retried alone after their group's deadlock.
    expect(alone.sort()).toEqual([1, 2, 3, 4]);
  });
});

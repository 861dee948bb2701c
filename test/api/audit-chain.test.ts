/**
 * The audit trail's hash chain: rows from issuance, revocation and profile changes chain up (one
 * chain across processes on PostgreSQL), each kind of tampering is told apart by /audit/verify,
 * and the audit list's filters and JSON-lines export.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { sql, type SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditChainHash, verifyAuditChain } from '@anvil/ca';
import { DrizzleTx, type Db } from '@anvil/db';
import { createTestAnvil, TEST_DB, type TestAnvil } from '../support/harness.ts';
import { tempDir } from '../support/tools.ts';

const opened: TestAnvil[] = [];
async function anvilFor(options: Parameters<typeof createTestAnvil>[0] = {}): Promise<TestAnvil> {
  const a = await createTestAnvil(options);
  opened.push(a);
  return a;
}
afterAll(async () => {
  // Sharing instances first: the owner of a database drops it on close.
  for (const a of opened.reverse()) await a.close();
});

async function rows<T>(anvil: TestAnvil, query: SQL): Promise<T[]> {
  const r = (await anvil.store.database.execute(query)) as unknown as T[] | { rows: T[] };
  return Array.isArray(r) ? r : r.rows;
}

let counter = 0;
async function issue(anvil: TestAnvil, cn = `chain-${++counter}`): Promise<{ id: string }> {
  const res = await anvil.api('POST', '/api/v1/certificates', {
    profile: 'client',
    subject: { CN: cn },
    sans: { dns: [`${cn}.chain.test`] },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

async function verify(anvil: TestAnvil) {
  const res = await anvil.api('GET', '/api/v1/audit/verify');
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json() as Promise<{ ok: boolean; rows: number; firstBad?: { seq: string; id: string; problem: string; missing?: object } }>;
}

async function auditCount(anvil: TestAnvil): Promise<number> {
  const [r] = await rows<{ n: number }>(anvil, sql`select count(*)::int as n from audit_log`);
  return r.n;
}

/** Runs statements with the user triggers (append-only and chain) lifted, as a database superuser could. */
async function tamper(anvil: TestAnvil, statements: SQL[]) {
  await rows(anvil, sql`alter table audit_log disable trigger user`);
  try {
    for (const s of statements) await rows(anvil, s);
  } finally {
    await rows(anvil, sql`alter table audit_log enable trigger user`);
  }
}

/** An Anvil with some history: issued, revoked, a profile created and changed. */
async function busyAnvil(): Promise<TestAnvil> {
  const anvil = await anvilFor();
  const a = await issue(anvil);
  await issue(anvil);
  expect((await anvil.api('POST', `/api/v1/certificates/${a.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
  const client = (await (await anvil.api('GET', '/api/v1/profiles/client')).json()) as { policy: unknown };
  const name = `chain-profile-${++counter}`;
  const created = await anvil.api('POST', '/api/v1/profiles', { name, kind: 'client', policy: client.policy });
  expect(created.status, await created.clone().text()).toBe(201);
  expect((await anvil.api('PUT', `/api/v1/profiles/${name}`, { kind: 'client', policy: client.policy })).status).toBe(200);
  // A refused issuance writes a failure row (appendAudit outside the certificate CTE).
  expect((await anvil.api('POST', '/api/v1/certificates', { profile: 'client', sans: { dns: ['a.*.bad.test'] } })).status).toBe(422);
  await issue(anvil);
  return anvil;
}

describe('the chain', () => {
  let anvil: TestAnvil;
  beforeAll(async () => {
    anvil = await busyAnvil();
  });

  it('issuance, revocation and profile changes form one valid chain, seq 1..n without gaps', async () => {
    const actions = (await rows<{ action: string }>(anvil, sql`select action from audit_log`)).map((r) => r.action);
    for (const a of ['certificate.issue', 'certificate.revoke']) expect(actions).toContain(a);
    expect(actions.some((a) => a.startsWith('profile.'))).toBe(true);
    const report = await verify(anvil);
    expect(report).toMatchObject({ ok: true, rows: await auditCount(anvil) });
    expect(report.firstBad).toBeUndefined();
    const seqs = await rows<{ seq: string; prev_hash: string | null; hash: string }>(
      anvil,
      sql`select seq::text as seq, prev_hash, hash from audit_log order by audit_log.seq`,
    );
    seqs.forEach((r, i) => {
      expect(r.seq).toBe(String(i + 1));
      expect(r.prev_hash).toBe(i === 0 ? null : seqs[i - 1].hash);
      expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  it('the TypeScript encoding matches the trigger on awkward text: multi-byte, line feeds, JSON numbers and key order', async () => {
    await anvil.store.appendAudit({
      actor: 'zoë\n(x)',
      source: null,
      action: 'test.encoding',
      target: 'ü',
      outcome: 'success',
      details: { zz: 1.5, a: [1e21, -0, 'é\u0000x'.replace('\u0000', '')], bb: { y: null, x: true } },
    });
    const [tail] = await anvil.store.auditChainPage(String((await auditCount(anvil)) - 1), 10);
    expect(tail.action).toBe('test.encoding');
    expect(tail.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(auditChainHash(tail)).toBe(tail.hash);
    expect((await verify(anvil)).ok).toBe(true);
  });

  it('an INSERT cannot choose its own seq, prev_hash or hash', async () => {
    await rows(
      anvil,
      sql`insert into audit_log (actor, action, outcome, seq, prev_hash, hash) values ('mallory', 'test.forge', 'success', 1, null, 'x')`,
    );
    const [row] = await rows<{ seq: string; hash: string }>(
      anvil,
      sql`select seq::text as seq, hash from audit_log where actor = 'mallory' order by id desc limit 1`,
    );
    expect(row.seq).toBe(String(await auditCount(anvil)));
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await verify(anvil)).ok).toBe(true);
  });
});

describe('tampering, each told apart', () => {
  it('a changed row (action edited, triggers lifted) is "altered" at its seq', async () => {
    const anvil = await busyAnvil();
    await tamper(anvil, [sql`update audit_log set action = 'certificate.forged' where seq = 3`]);
    const [{ id }] = await rows<{ id: string }>(anvil, sql`select id::text as id from audit_log where seq = 3`);
    const report = await verify(anvil);
    expect(report).toMatchObject({ ok: false, rows: 3, firstBad: { seq: '3', id, problem: 'altered' } });
  });

  it('a deleted row is "deleted", found at the next row, naming the missing seq', async () => {
    const anvil = await busyAnvil();
    await tamper(anvil, [sql`delete from audit_log where seq = 4`]);
    const [{ id }] = await rows<{ id: string }>(anvil, sql`select id::text as id from audit_log where seq = 5`);
    const report = await verify(anvil);
    expect(report).toMatchObject({ ok: false, firstBad: { seq: '5', id, problem: 'deleted', missing: { fromSeq: '4', toSeq: '4' } } });
  });

  it('a forged row claiming a place in the middle is "inserted_out_of_order" (its own hash is right); a duplicate seq is refused', async () => {
    const anvil = await busyAnvil();
    const [middle] = await anvil.store.auditChainPage('2', 1); // seq 3
    const [{ n: max }] = await rows<{ n: number }>(anvil, sql`select max(seq)::int as n from audit_log`);
    const forged = {
      seq: String(max + 1),
      at: middle.at,
      actor: middle.actor,
      source: null,
      action: 'certificate.revoke',
      target: middle.target,
      outcome: 'success',
      details: null,
      prevHash: middle.hash,
    };
    const hash = auditChainHash(forged);
    const insert = (seq: string) => sql`
      insert into audit_log (seq, at, actor, source, action, target, outcome, details, prev_hash, hash)
      values (${seq}::bigint, ${forged.at}::timestamptz, ${forged.actor}, null, ${forged.action}, ${forged.target}, 'success', null,
              ${forged.prevHash}, ${hash}) returning id::text as id`;
    // Straight into the middle: the unique index on seq refuses it even with the triggers lifted.
    await expect(tamper(anvil, [insert('4')])).rejects.toThrow();
    await tamper(anvil, [insert(forged.seq)]);
    const [{ id }] = await rows<{ id: string }>(anvil, sql`select id::text as id from audit_log where seq = ${max + 1}`);
    const report = await verify(anvil);
    expect(report).toMatchObject({ ok: false, rows: max + 1, firstBad: { seq: String(max + 1), id, problem: 'inserted_out_of_order' } });
    // The append-only trigger is back.
    const refused = await rows(anvil, sql`delete from audit_log where seq = 1`).then(
      () => 'deleted',
      (err: { cause?: { message?: string } }) => err.cause?.message ?? String(err),
    );
    expect(refused).toMatch(/append-only/);
  });
});

describe.skipIf(TEST_DB !== 'postgres')('two processes on one PostgreSQL', () => {
  it('issuing concurrently still forms one valid chain', async () => {
    const first = await anvilFor();
    const second = await anvilFor({ shareDatabase: { url: first.database.url!, kek: first.database.kek } });
    const before = await auditCount(first);
    await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => issue(i % 2 ? first : second, `concurrent-${i}`)),
      ...Array.from({ length: 10 }, (_, i) =>
        second.store.appendAudit({ actor: 'test', source: null, action: 'test.parallel', target: String(i), outcome: 'success' }),
      ),
    ]);
    expect(await auditCount(first)).toBe(before + 50);
    const report = await verify(second);
    expect(report).toMatchObject({ ok: true, rows: before + 50 });
    // Ids were drawn before the lock: the chain's order is seq's, and seq has no gap.
    const [{ max }] = await rows<{ max: number }>(first, sql`select max(seq)::int as max from audit_log`);
    expect(max).toBe(before + 50);
  });
});

describe('rows written before the chain existed', () => {
  it('are chained by migration 0006 in id order', async () => {
    const migrations = fileURLToPath(new URL('../../db/migrations', import.meta.url));
    const old = join(tempDir('anvil-mig-'), 'migrations');
    cpSync(migrations, old, { recursive: true });
    const journalPath = join(old, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
    journal.entries = journal.entries.filter((e) => e.tag < '0006_audit_chain'); // the migrations from before 0006
    writeFileSync(journalPath, JSON.stringify(journal));
    const client = new PGlite({ extensions: { pg_trgm } });
    try {
      const db = drizzle(client);
      await migrate(db, { migrationsFolder: old });
      await client.exec(`insert into audit_log (actor, action, outcome, details) values
        ('a', 'old.one', 'success', '{"n": 1.50}'), ('b', 'old.two', 'failure', null), ('c', 'old.three', 'success', 'null')`);
      await migrate(db, { migrationsFolder: migrations });
      const tx = new DrizzleTx(db as unknown as Db);
      const chain = await tx.auditChainPage(null, 10);
      expect(chain.map((r) => [r.seq, r.action])).toEqual([
        ['1', 'old.one'],
        ['2', 'old.two'],
        ['3', 'old.three'],
      ]);
      expect(chain[0].details).toBe('{"n": 1.50}');
      expect(await verifyAuditChain(tx, 2)).toMatchObject({ ok: true, rows: 3 });
      await tx.appendAudit({ actor: 'd', source: null, action: 'new.one', target: null, outcome: 'success' });
      expect(await verifyAuditChain(tx, 2)).toMatchObject({ ok: true, rows: 4, head: { seq: '4' } });
    } finally {
      await client.close();
    }
  });
});

describe('GET /api/v1/audit filters, export', () => {
  let anvil: TestAnvil;
  let issued: string;
  beforeAll(async () => {
    anvil = await busyAnvil();
    issued = (await issue(anvil, 'filter-target')).id;
  });
  type Item = { id: string; seq: string; action: string; actor: string; target: string | null; outcome: string; at: string; hash: string };
  const list = async (query: string) => {
    const res = await anvil.api('GET', `/api/v1/audit?${query}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as { items: Item[]; nextBefore: string | null };
  };

  it('filters by actor, action (exact and prefix), target, outcome and time', async () => {
    expect((await list('action=certificate.issue&limit=500')).items.every((i) => i.action === 'certificate.issue')).toBe(true);
    const prefix = (await list('action=profile.&limit=500')).items;
    expect(prefix.length).toBeGreaterThanOrEqual(2);
    expect(prefix.every((i) => i.action.startsWith('profile.'))).toBe(true);
    expect((await list(`target=${issued}`)).items.map((i) => i.action)).toEqual(['certificate.issue']);
    const failures = (await list('outcome=failure')).items;
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.every((i) => i.outcome === 'failure')).toBe(true);
    expect((await list('actor=ADMIN&limit=500')).items.length).toBeGreaterThan(0);
    expect((await list('actor=nobody-at-all')).items).toEqual([]);
    const all = (await list('limit=500')).items;
    const pivot = new Date(all[Math.floor(all.length / 2)].at);
    const later = (await list(`from=${pivot.toISOString()}&limit=500`)).items;
    const earlier = (await list(`to=${pivot.toISOString()}&limit=500`)).items;
    expect(later.every((i) => new Date(i.at) >= pivot)).toBe(true);
    expect(earlier.every((i) => new Date(i.at) < pivot)).toBe(true);
    expect(later.length + earlier.length).toBe(all.length);
    expect((await list('from=2000-01-01&to=2000-01-02')).items).toEqual([]);
  });

  it('pages by keyset (nextBefore) without loss or repeat', async () => {
    const all = (await list('limit=500')).items.map((i) => i.id);
    const paged: string[] = [];
    let before: string | null = null;
    do {
      const page: { items: Item[]; nextBefore: string | null } = await list(`limit=3${before ? `&before=${before}` : ''}`);
      paged.push(...page.items.map((i) => i.id));
      before = page.nextBefore;
    } while (before);
    expect(paged).toEqual(all);
  });

  it.each([
    ['outcome=maybe', 'outcome'],
    ['from=yesterday', 'from'],
    ['to=2031-13-45T00:00:00Z', 'to'],
    ['from=2031-01-02T00:00:00Z&to=2031-01-01T00:00:00Z', 'from'],
    ['action=Certificate.Issue', 'action'],
    ['limit=0', 'limit'],
    ['before=abc', 'before'],
  ])('refuses %s as 422 problem+json', async (query, field) => {
    for (const path of ['/api/v1/audit', '/api/v1/audit/export']) {
      if (path.endsWith('export') && /limit|before/.test(query)) continue;
      const res = await anvil.api('GET', `${path}?${query}`);
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const body = (await res.json()) as { code: string; errors: Array<{ path: string }> };
      expect(body.code).toBe('invalid_audit_filter');
      expect(body.errors.map((e) => e.path)).toContain(field);
    }
  });

  it('exports every row as JSON lines, oldest first, filters applied', async () => {
    const res = await anvil.api('GET', '/api/v1/audit/export');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const text = await res.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Item);
    expect(lines.length).toBe(await auditCount(anvil));
    const ids = lines.map((l) => BigInt(l.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1])).toBe(true);
    expect(lines.every((l) => /^[0-9a-f]{64}$/.test(l.hash))).toBe(true);
    const filtered = await (await anvil.api('GET', '/api/v1/audit/export?action=certificate.issue&outcome=success')).text();
    const issues = filtered
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Item);
    expect(issues.length).toBeGreaterThan(1);
    expect(issues.every((l) => l.action === 'certificate.issue' && l.outcome === 'success')).toBe(true);
    expect(await (await anvil.api('GET', '/api/v1/audit/export?actor=nobody-at-all')).text()).toBe('');
  });

  it('export pages through more rows than one page holds', async () => {
    const tx = anvil.store;
    for (let i = 0; i < 3; i++)
      await tx.appendAudit({ actor: 'pager', source: null, action: 'test.page', target: null, outcome: 'success' });
    const pages: number[] = [];
    for await (const page of anvil.authority.exportAudit({ actor: 'pager' }, 2)) pages.push(page.length);
    expect(pages).toEqual([2, 1]);
  });

  it('needs the audit scope', async () => {
    for (const path of ['/api/v1/audit/verify', '/api/v1/audit/export', '/api/v1/audit']) {
      expect((await anvil.app.request(path)).status).toBe(401);
    }
  });
});

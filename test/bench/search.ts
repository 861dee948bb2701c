/**
 * The console's certificate search at scale: 1,000,000 certificate rows in PostgreSQL, searched
 * through the store's `listCertificates` exactly as the list page asks (limit 50, keyset cursor).
 *
 *   npm run bench:search
 *   npm run bench:search -- --rows 200000 --runs 9
 *   ANVIL_BENCH_PG_URL=postgres://user@host:5432/postgres npm run bench:search
 *
 * A throwaway database anvil_bench_<random> is created, migrated by opening the store, given a
 * bootstrapped Authority (real issuers), then seeded with one INSERT ... SELECT generate_series
 * (synthetic but realistic partner organisations, CNs, SANs, serials, fingerprints, search_text
 * formatted as db/src/store.ts searchText builds it), analysed, timed (median of several runs)
 * and dropped. Prints the figures, the load average, and EXPLAIN of the searches (the trigram
 * index must answer them). Target: every median in single-digit or low tens of milliseconds.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { Authority, KeyEncryptionKey, SoftwareKeyCustody, type CertificateQuery } from '@anvil/ca';
import { openStore } from '@anvil/db';
import { adminStatement, BENCH_PG_URL, loadAverage } from './support.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '7' },
    'keep-db': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const RUNS = Number(values.runs);
const TARGET_MS = 50;

const dbName = `anvil_bench_${randomBytes(5).toString('hex')}`;
const dbUrl = BENCH_PG_URL.replace(/\/[^/]*$/, `/${dbName}`);

const COMPANIES = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Stark', 'Wayne', 'Tyrell', 'Cyberdyne'];
const TRADES = ['Logistics', 'Freight', 'Bank', 'Health', 'Energy', 'Retail', 'Telecom', 'Insurance'];

/**
 * One statement. Row g: organisation "<Company> <Trade> <n>" (20,000 partners, 50 certificates
 * each), CN svc-<g>.<company>-<n>.partners.example with that and an alt- name as DNS SANs,
 * 16-octet serials (a 00 sign octet when the top bit is set, as issued), a SHA-256 fingerprint,
 * one of three profiles, 5 % revoked, created one second apart, expiring 1..397 days out.
 */
async function seed(sql: postgres.Sql, issuerId: string, rows: number) {
  // The search indexes are built once after the insert (as the migration's definition says), far faster than row by row.
  const indexes = await sql<{ name: string; definition: string }[]>`
    select indexname as name, indexdef as definition from pg_indexes
    where tablename = 'certificates' and indexname in ('certificates_search_trgm', 'certificates_expiry', 'certificates_fingerprint')`;
  for (const i of indexes) await sql.unsafe(`drop index ${i.name}`);
  await sql`
    insert into certificates (issuer_id, serial, profile, subject, common_name, sans, search_text, key_algorithm,
                              not_before, not_after, der, fingerprint_sha256, status, revoked_at, revocation_reason, created_at)
    select ${issuerId}::uuid, serial, profile, subject, cn,
           jsonb_build_object('dns', jsonb_build_array(cn, alt), 'ip', '[]'::jsonb, 'uri', '[]'::jsonb, 'email', '[]'::jsonb),
           lower(cn || ' ' || serial || ' ' || cn || ' ' || alt || ' ' || subject || ' ' || fp),
           'EC-P256', created - interval '1 minute', created + (1 + (g::bigint * 7919) % 397) * interval '1 day', '\\x3000'::bytea, fp,
           case when g % 20 = 0 then 'revoked' else 'active' end,
           case when g % 20 = 0 then date_trunc('second', created + interval '1 day') end,
           case when g % 20 = 0 then 'cessationOfOperation' end,
           created
    from (
      select g, org, cn, 'alt-' || cn as alt, 'O=' || org || ', CN=' || cn as subject, serial, fp, profile, created
      from (
        select g,
               (${COMPANIES}::text[])[1 + (g / 50) % 10] || ' ' || (${TRADES}::text[])[1 + (g / 500) % 8] || ' ' || ((g / 4000) % 250) as org,
               'svc-' || g || '.' || lower((${COMPANIES}::text[])[1 + (g / 50) % 10]) || '-' || ((g / 4000) % 250) || '.partners.example' as cn,
               case when g % 2 = 0 then '4' || substr(md5(g::text), 2) else '00c' || substr(md5(g::text), 2) end as serial,
               encode(sha256(('cert-' || g)::bytea), 'hex') as fp,
               (array['client', 'server', 'peer'])[1 + g % 3] as profile,
               now() - (${rows}::int - g) * interval '1 second' as created
        from generate_series(1, ${rows}::int) g
      ) named
    ) s`;
  await sql`set maintenance_work_mem = '256MB'`;
  for (const i of indexes) await sql.unsafe(i.definition);
  await sql`analyze certificates`;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  console.log(
    `bench:search  rows=${ROWS}  runs=${RUNS}  database=${dbName} (${BENCH_PG_URL.replace(/\/\/[^@]*@/, '//')})  node ${process.version}`,
  );
  console.log(`load average at start: ${loadAverage()}`);
  await adminStatement(`create database ${dbName}`);
  const store = await openStore({ url: dbUrl, poolSize: 2 });
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    const authority = new Authority({
      store,
      custody: new SoftwareKeyCustody(KeyEncryptionKey.random()),
      config: { publicUrl: 'http://anvil.bench', caKeyAlgorithm: 'EC-P256', organization: 'Anvil Bench' },
    });
    await authority.bootstrap({ adminToken: `anvil_bench_${randomBytes(16).toString('hex')}` });
    const issuer = authority.issuerByName('issuing-ca');

    const t0 = performance.now();
    await seed(sql, issuer.record.id, ROWS);
    console.log(
      `seeded ${ROWS} rows (one INSERT ... SELECT generate_series, then ANALYZE) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const [probe] = await sql<{ serial: string; fp: string; org: string }[]>`
      select serial, fingerprint_sha256 as fp, split_part(split_part(subject, ', CN=', 1), 'O=', 2) as org
      from certificates where common_name like ${`svc-${Math.floor(ROWS / 2) + 1}.%`} limit 1`;
    const colons = probe.serial.match(/../g)!.join(':').toUpperCase();
    const cnSubstring = `svc-${Math.floor(ROWS / 3)}.`;

    /** Walks `pages` pages of 50 through the store, as "Next page" does; the time of the last one and of all. */
    async function walk(query: Omit<CertificateQuery, 'limit'>, pages: number) {
      let cursor: string | undefined;
      let last = 0;
      let count = 0;
      const start = performance.now();
      for (let p = 0; p < pages; p++) {
        const t = performance.now();
        const page = await store.listCertificates({ ...query, cursor, limit: 50 });
        last = performance.now() - t;
        count = page.items.length;
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      return { total: performance.now() - start, last, count };
    }

    const cases: Array<{ name: string; query: Omit<CertificateQuery, 'limit'>; pages?: number }> = [
      { name: `organisation "${probe.org}"`, query: { q: probe.org } },
      { name: `organisation, any case, active only "${probe.org.toLowerCase()}"`, query: { q: probe.org.toLowerCase(), status: 'active' } },
      { name: `CN substring "${cnSubstring}"`, query: { q: cnSubstring } },
      { name: 'serial (hex)', query: { q: probe.serial } },
      { name: 'serial (colons)', query: { q: colons } },
      { name: 'SHA-256 fingerprint', query: { q: probe.fp } },
      { name: 'newest first, no filter', query: {} },
      { name: 'tenth page: q "logistics", active, server', query: { q: 'logistics', status: 'active', profile: 'server' }, pages: 10 },
      { name: 'tenth page: q "umbrella health"', query: { q: 'umbrella health' }, pages: 10 },
      { name: 'tenth page: sort by expiry', query: { sort: 'expiry' }, pages: 10 },
      {
        name: 'tenth page: sort by expiry, active, expiring in 30 days',
        query: { sort: 'expiry', status: 'active', expiresBefore: new Date(Date.now() + 30 * 86_400_000) },
        pages: 10,
      },
      { name: 'tenth page: q "acme", sort by expiry', query: { q: 'acme', sort: 'expiry' }, pages: 10 },
    ];

    const rows: Array<Record<string, string | number>> = [];
    let slow = 0;
    for (const c of cases) {
      await walk(c.query, c.pages ?? 1); // warm
      const totals: number[] = [];
      const lasts: number[] = [];
      let count = 0;
      for (let i = 0; i < RUNS; i++) {
        const r = await walk(c.query, c.pages ?? 1);
        totals.push(r.total);
        lasts.push(r.last);
        count = r.count;
      }
      const m = median(c.pages ? lasts : totals);
      if (m > TARGET_MS) slow++;
      rows.push({
        search: c.name,
        ...(c.pages
          ? { 'median ms (page 10)': m.toFixed(1), 'median ms (pages 1-10)': median(totals).toFixed(1) }
          : { 'median ms': m.toFixed(1) }),
        'rows on page': count,
      });
      console.log(
        `${c.name.padEnd(62)} median ${m.toFixed(1).padStart(6)} ms${c.pages ? ` for page 10 (${median(totals).toFixed(1)} ms for all 10)` : ''}, ${count} row(s)`,
      );
    }
    console.table(rows);

    // The plans of the searches, in the shape the store sends them (drizzle's select, limit+1).
    const explain = async (title: string, query: postgres.PendingQuery<postgres.Row[]>) => {
      const plan = await query;
      console.log(`\nEXPLAIN (ANALYZE) ${title}:`);
      for (const line of plan) console.log(`  ${line['QUERY PLAN']}`);
      return plan.map((l) => l['QUERY PLAN']).join('\n');
    };
    const like = (q: string) => `%${q.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    const plans = [
      await explain(
        `organisation "${probe.org}"`,
        sql`explain (analyze, costs off, timing off) select * from certificates where search_text like ${like(probe.org)} order by created_at desc, id desc limit 51`,
      ),
      await explain(
        'serial',
        sql`explain (analyze, costs off, timing off) select * from certificates where search_text like ${like(probe.serial)} order by created_at desc, id desc limit 51`,
      ),
      await explain(
        'SHA-256 fingerprint',
        sql`explain (analyze, costs off, timing off) select * from certificates where search_text like ${like(probe.fp)} order by created_at desc, id desc limit 51`,
      ),
    ];
    const trigram = plans.every((p) => p.includes('certificates_search_trgm'));
    console.log(`\ntrigram index used by the searches: ${trigram ? 'yes' : 'NO'}`);
    console.log(`medians over ${TARGET_MS} ms: ${slow}`);
    console.log(`load average at end: ${loadAverage()}`);
    if (!trigram || slow) process.exitCode = 1;
  } finally {
    await sql.end();
    await store.close();
  }
}

try {
  await main();
} finally {
  if (values['keep-db']) console.log(`kept database ${dbName}`);
  else await adminStatement(`drop database if exists ${dbName} with (force)`);
}

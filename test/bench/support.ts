/** What the benchmarks share: the PostgreSQL they run on, the load line they print, admin statements (create/drop their database) and bulk-inserted revoked rows. */
import { loadavg } from 'node:os';
import postgres from 'postgres';

/** The maintenance database the benchmarks create their own databases from. */
export const BENCH_PG_URL =
  process.env.ANVIL_BENCH_PG_URL ?? process.env.ANVIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The 1, 5 and 15 minute load averages, as the figures are printed beside them. */
export const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Runs one statement on BENCH_PG_URL (create database, drop database) on a connection of its own. */
export async function adminStatement(statement: string): Promise<void> {
  const sql = postgres(BENCH_PG_URL, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end();
  }
}

const REASONS = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
];

/**
 * Inserts `n` revoked certificates for `issuerId`, in batches of one statement each. Serials are
 * 16 octets, DER-minimal and unique (from md5 of the row number): half with the top bit set and
 * so a 00 sign octet, as issued serials are. Expiry is 90 days out, so none is dropped as expired.
 */
export async function insertRevoked(sql: postgres.Sql, issuerId: string, n: number, offset: number) {
  const BATCH = 200_000;
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    await sql`
      insert into certificates (issuer_id, serial, profile, subject, common_name, sans, search_text, key_algorithm,
                                not_before, not_after, der, fingerprint_sha256, status, revoked_at, revocation_reason)
      select ${issuerId}::uuid,
             case when g % 2 = 0 then '4' || substr(m, 2) else '00c' || substr(m, 2) end,
             'client', 'CN=bench-' || g, 'bench-' || g, '{"dns":[],"ip":[],"uri":[],"email":[]}'::jsonb, '', 'EC-P256',
             now() - interval '1 day', now() + interval '90 days', '\\x00'::bytea, m, 'revoked',
             date_trunc('second', now() - (g % 86400) * interval '1 second'),
             (${REASONS}::text[])[1 + g % ${REASONS.length}]
      from (select g, md5(g::text) as m from generate_series(${offset + start + 1}::bigint, ${offset + start + count}::bigint) g) s`;
  }
  await sql`analyze certificates`;
}

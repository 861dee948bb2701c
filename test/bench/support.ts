/** What the benchmarks share: the PostgreSQL they run on, the load line they print, and admin statements (create/drop their database). */
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

/** What the benchmarks share: the PostgreSQL they run on, the load line they print, admin statements (create/drop their database), bulk-inserted revoked rows, and the server processes they start and measure. */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

// ---- server processes and their CPU time (from /proc) ---------------------------------------

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of `pids`, in ms, from /proc (0 for processes that are gone). */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    } catch {
      // exited
    }
  }
  return ticks * TICK_MS;
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** `root` and its descendants (the cluster primary and its workers). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const pid of allPids()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  return out;
}

/** PostgreSQL backend processes serving `database` (their title names it). */
export function postgresBackends(database: string): number[] {
  return allPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${database} `);
    } catch {
      return false;
    }
  });
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until the server process answers its trust bundle; throws with its log's tail when it exits first. */
export async function waitForServer(base: string, proc: ChildProcess, logFile: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      const log = spawnSync('tail', ['-n', '30', logFile], { encoding: 'utf8' }).stdout;
      throw new Error(`the server exited (${proc.exitCode}) before it listened:\n${log}`);
    }
    try {
      const res = await fetch(`${base}/pki/trust-bundle.pem`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && (await res.text()).includes('BEGIN CERTIFICATE')) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the server did not answer on ${base} within ${ms / 1000} s (log: ${logFile})`);
}

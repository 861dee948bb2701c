#!/usr/bin/env node
/**
 * Repairs three defects of postgres.js 3.4.9 (the latest release) in node_modules that keep a pool
 * from recovering after PostgreSQL restarts. Run by the root `postinstall` (npm has no
 * patchedDependencies); plain Node and no dependencies, since it runs before anything else is usable.
 *
 * 1. Stuck writes (upstream porsager/postgres#1208, open PRs #1209/#1215; LanternOps/breeze#3225).
 *    Small writes wait in `chunk` behind a setImmediate, and only that immediate running resets
 *    `nextWriteTimer`. `closed()` and `terminate()` clear the immediate but leave the variable set
 *    and the stale bytes in `chunk`. A connection whose socket dies with a write pending — which a
 *    restart under load does to several — never schedules a write again: its next StartupMessage
 *    sits in `chunk`, the server waits for it, and every query given to that pool slot waits 30 s
 *    for CONNECT_TIMEOUT (until enough StartupMessages pile up past 1024 bytes and go out, behind
 *    the stale bytes, as garbage). Repair, upstream's shape: drop both after each clearImmediate.
 *
 * 2. Stranded queries. When the socket errors (ECONNRESET), `error()` rejects the queries sent so
 *    far, but the pool may pipeline more onto the connection before its 'close' arrives, and
 *    `closed(hadError)` settles nothing more. Those stay in `sent`: after the reconnect the
 *    connection waits for their answers (they were written to the dead socket) and its callers
 *    wait forever — and a query pipelined behind them would be handed their results. Repair:
 *    `closed()` rejects whatever is still outstanding, error or not.
 *
 * 3. A stale server error (the "next query fails with the old backend's 57P01" of #1215). A FATAL
 *    ErrorResponse during a query (57P01 on a restart, 57P03 while it shuts down) is kept in
 *    `errorResponse` for the ReadyForQuery that never comes: the server closes the socket instead.
 *    `closed()` leaves it (and `query`) set, so the ReadyForQuery that ends the *next* connection's
 *    start-up rejects the query that was waiting for it with that old error — seconds after the
 *    database is back. Repair: forget both when the socket closes (after they have been settled).
 *
 * Measured by restarting PostgreSQL under a pool of 4 with 8 loops of small queries (the second
 * case of test/failover): unrepaired, 1-5 queries per restart waited 30 s for CONNECT_TIMEOUT or
 * never finished, in every run (9 of 9); with repairs 1 and 3 but not 2, still in 5 of 7; with all
 * three, none in 10, failures ending with the outage (about 1 s).
 * Idempotent; each repair is recognised by its marker. Another postgres version: repairs whose
 * code is not found are skipped, and --check reports only code that is still defective.
 *
 *   node db/scripts/patch-postgres-driver.mjs           apply (exit 1 if 3.4.9 does not look as expected)
 *   node db/scripts/patch-postgres-driver.mjs --check   exit 1 if the installed driver still has a defect
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARK = '// anvil: db/scripts/patch-postgres-driver.mjs';

/** Exact text of 3.4.9 (identical in its three builds) and its repaired form. */
const REPAIRS = [
  {
    name: 'terminate() leaves the write timer set',
    before: '    clearImmediate(nextWriteTimer)\n    if (socket) {\n',
    after: `    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null ${MARK}\n    if (socket) {\n`,
  },
  {
    name: 'closed() leaves the write timer set',
    before: '    incomings = null\n    clearImmediate(nextWriteTimer)\n    socket.removeListener',
    after: `    incomings = null\n    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null ${MARK}\n    socket.removeListener`,
  },
  {
    name: "closed() strands queries sent after a socket error, and keeps the dead backend's error for the next start-up",
    before: [
      '    if (initial)',
      '      return reconnect()',
      '',
      "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))",
      '',
    ].join('\n'),
    after: [
      `    errorResponse = null ${MARK}`,
      '    if (initial)',
      `      return (query = null, reconnect()) ${MARK}`,
      '',
      `    if (query || sent.length) error(Errors.connection('CONNECTION_CLOSED', options, socket)) ${MARK}`,
      `    query = null ${MARK}`,
      '',
    ].join('\n'),
  },
];

/** The builds postgres.js ships: ESM (what Node's `import` loads), CommonJS, Cloudflare. */
const BUILDS = ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js'];

/** The installed postgres package directory, as db/ resolves it; null when it is not installed. */
export function postgresDir() {
  const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
  let dir;
  try {
    dir = dirname(require.resolve('postgres')); // its exports map hides package.json: walk up from the entry
  } catch {
    return null;
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'postgres') return dir;
  }
  return null;
}

/** Per build and repair: 'repaired', 'defective' (3.4.9's text is there) or 'absent' (neither). */
export function inspect(dir = postgresDir()) {
  if (!dir) return { version: null, files: [] };
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  const files = BUILDS.map((rel) => join(dir, rel))
    .filter((file) => existsSync(file))
    .map((file) => {
      const text = readFileSync(file, 'utf8');
      const repairs = REPAIRS.map((r) => ({
        name: r.name,
        state: text.includes(r.after) ? 'repaired' : text.includes(r.before) ? 'defective' : 'absent',
      }));
      return { file, text, repairs };
    });
  return { version, files };
}

/** Applies the missing repairs in place; returns the files it changed. */
export function apply(dir = postgresDir()) {
  const { version, files } = inspect(dir);
  const changed = [];
  for (const f of files) {
    let text = f.text;
    REPAIRS.forEach((r, i) => {
      const state = f.repairs[i].state;
      if (state === 'absent' && version === '3.4.9')
        throw new Error(`postgres 3.4.9: ${f.file} does not contain the code of "${r.name}"; review db/scripts/patch-postgres-driver.mjs`);
      if (state === 'defective') text = text.replace(r.before, r.after);
    });
    if (text !== f.text) {
      writeFileSync(f.file, text);
      changed.push(f.file);
    }
  }
  return { version, changed };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    if (process.argv.includes('--check')) {
      const { version, files } = inspect();
      if (!version) throw new Error('the postgres package is not installed (npm ci)');
      const bad = files.flatMap((f) => f.repairs.filter((r) => r.state === 'defective').map((r) => `${f.file}: ${r.name}`));
      if (bad.length)
        throw new Error(`postgres ${version} still has defects (run node db/scripts/patch-postgres-driver.mjs):\n  ${bad.join('\n  ')}`);
    } else {
      const { version, changed } = apply();
      if (changed.length)
        console.log(`postgres ${version}: repaired reconnect defects in ${changed.length} file(s) (db/scripts/patch-postgres-driver.mjs)`);
    }
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}

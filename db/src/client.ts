/** Opens the store: PGlite in the data directory (locked to one process) or PostgreSQL, migrations applied. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.ts';
import { reconnectBackoff } from './reconnect.ts';
import { preparePrivateDir, tightenTree } from './private-dir.ts';
import { LEASE_MS, listenForRevocations, type NotificationListener } from './notification-listener.ts';
import { DrizzleStore, type Db } from './store.ts';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
const TIGHTEN_EVERY_MS = 60_000;
/**
 * PGlite and its drizzle driver, loaded only when the embedded database is used: a process on
 * PostgreSQL is about 35 MB smaller without them (measured for issue 13's CRL memory target).
 * Migration 0005 creates pg_trgm (the console's search index); PGlite ships it as a contrib module.
 */
async function loadPglite() {
  const [{ PGlite }, { pg_trgm }, { drizzle }, { migrate }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/pg_trgm'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  return { PGlite, extensions: { pg_trgm }, drizzlePglite: drizzle, migratePglite: migrate };
}

export interface DatabaseOptions {
  /** postgres://… for PostgreSQL; unset for the embedded PGlite. */
  url?: string;
  /** PGlite directory; unset (with no url) for an in-memory PGlite, as tests use. */
  dataDir?: string;
  /** PostgreSQL pool size per process. */
  poolSize?: number;
}

/**
 * Opens the database, applies the committed migrations (idempotent: drizzle records what ran,
 * and on PostgreSQL an advisory lock keeps concurrent starts from racing), returns the store.
 */
export async function openStore(options: DatabaseOptions): Promise<DrizzleStore> {
  if (options.url) {
    const url = options.url;
    const sql = postgres(url, { max: options.poolSize ?? 10, onnotice: () => {}, backoff: reconnectBackoff });
    const db = drizzlePostgres(sql, { schema }) as unknown as Db;
    const listeners: NotificationListener[] = [];
    const store = new DrizzleStore(db, {
      kind: 'postgres',
      close: async () => {
        await Promise.all(listeners.map((l) => l.close()));
        await sql.end({ timeout: 5 });
      },
      startupLock: (fn) =>
        sql.begin(async (t) => {
          await t`select pg_advisory_xact_lock(7316420)`;
          return fn();
        }) as Promise<never>,
      listen: async (channel, subscriber) => {
        listeners.push(await listenForRevocations(url, channel, subscriber));
      },
      // One listener per store; without one this store hears nothing, so only the leases can be waited out.
      confirmNotices: () => (listeners[0] ? listeners[0].confirm() : waitOutLeases()),
    });
    await store.withStartupLock(() => migratePostgres(drizzlePostgres(sql), { migrationsFolder: MIGRATIONS }));
    return store;
  }
  const { PGlite, extensions, drizzlePglite, migratePglite } = await loadPglite();
  let client: PGlite;
  let unlock = () => {};
  let tightener: NodeJS.Timeout | undefined;
  if (options.dataDir) {
    const dir = join(options.dataDir, 'pglite');
    preparePrivateDir(dir);
    unlock = lockDataDir(`${dir}.lock`);
    client = new PGlite(dir, { extensions });
    // PGlite creates its files 0666 (see private-dir.ts): bring new ones to 0600 now and then.
    tightener = setInterval(() => tightenTree(dir), TIGHTEN_EVERY_MS).unref();
  } else {
    client = new PGlite({ extensions });
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS });
  if (options.dataDir) tightenTree(join(options.dataDir, 'pglite'));
  // PGlite is one process and one connection: nothing else can race the start-up.
  return new DrizzleStore(db, {
    kind: 'pglite',
    close: async () => {
      clearInterval(tightener);
      await client.close();
      if (options.dataDir) tightenTree(join(options.dataDir, 'pglite'));
      unlock();
    },
    startupLock: (fn) => fn(),
    listen: async (channel, subscriber) => {
      // In-process: the subscription cannot drop.
      await client.listen(channel, (issuerId) => subscriber.revoked(issuerId));
      subscriber.subscription(true);
    },
  });
}

/** No subscription of our own to fence with: after LEASE_MS every other process has heard, or distrusts its caches. */
async function waitOutLeases(): Promise<{ processes: number; confirmed: number }> {
  await new Promise((r) => setTimeout(r, LEASE_MS));
  return { processes: 0, confirmed: 0 };
}

/**
 * PGlite is one process's database: a second process opening the same directory would corrupt
 * it. A lock file holding the owner's pid refuses that with a clear message (a stale lock, whose
 * process is gone, is taken over).
 */
function lockDataDir(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(path, 'utf8'));
      if (owner && owner !== process.pid && isAlive(owner)) {
        throw new Error(
          `another process (pid ${owner}) is using the embedded database in ${path.replace(/\.lock$/, '')}; ` +
            'stop it, give this one its own ANVIL_DATA_DIR, or share PostgreSQL through DATABASE_URL',
        );
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`could not lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.ts';
import { DrizzleStore, type Db } from './store.ts';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

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
    const sql = postgres(options.url, { max: options.poolSize ?? 10, onnotice: () => {} });
    const db = drizzlePostgres(sql, { schema }) as unknown as Db;
    const store = new DrizzleStore(db, {
      kind: 'postgres',
      close: () => sql.end({ timeout: 5 }),
      startupLock: (fn) =>
        sql.begin(async (t) => {
          await t`select pg_advisory_xact_lock(7316420)`;
          return fn();
        }) as Promise<never>,
      listen: async (channel, listener) => {
        await sql.listen(channel, listener);
      },
    });
    await store.withStartupLock(() => migratePostgres(drizzlePostgres(sql), { migrationsFolder: MIGRATIONS }));
    return store;
  }
  let client: PGlite;
  if (options.dataDir) {
    const dir = join(options.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    client = new PGlite(dir);
  } else {
    client = new PGlite();
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS });
  // PGlite is one process and one connection: nothing else can race the start-up.
  return new DrizzleStore(db, {
    kind: 'pglite',
    close: () => client.close(),
    startupLock: (fn) => fn(),
    listen: async (channel, listener) => {
      await client.listen(channel, listener);
    },
  });
}

/**
 * "The database is unreachable" (db/src/errors.ts) as the driver and drizzle really throw it, and
 * the repairs of postgres.js that let a pool recover from a restart (db/scripts/patch-postgres-driver.mjs).
 * No database needed: the real errors come from connecting to a port nothing listens on.
 */
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUnavailableCode, isDatabaseUnavailable } from '../src/errors.ts';
import { reconnectBackoff } from '../src/reconnect.ts';
// @ts-expect-error plain ESM script without types
import { inspect } from '../scripts/patch-postgres-driver.mjs';

const coded = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`boom ${code}`), { code }, extra);

describe('isDatabaseUnavailable', () => {
  it.each([
    // postgres.js's own connection errors
    ['CONNECTION_CLOSED', coded('CONNECTION_CLOSED'), true],
    ['CONNECTION_ENDED', coded('CONNECTION_ENDED'), true],
    ['CONNECTION_DESTROYED', coded('CONNECTION_DESTROYED'), true],
    ['CONNECT_TIMEOUT', coded('CONNECT_TIMEOUT'), true],
    // Node socket errors
    ['ECONNREFUSED', coded('ECONNREFUSED'), true],
    ['ECONNRESET', coded('ECONNRESET'), true],
    ['EPIPE', coded('EPIPE'), true],
    // SQLSTATE: class 08 and the 57P0x shutdowns
    ['08006 connection_failure', coded('08006'), true],
    ['08P01 protocol_violation', coded('08P01'), true],
    ['57P01 admin_shutdown', coded('57P01'), true],
    ['57P02 crash_shutdown', coded('57P02'), true],
    ['57P03 cannot_connect_now', coded('57P03'), true],
    // wrapped, as drizzle and our own code wrap
    ['drizzle-style cause', Object.assign(new Error('Failed query: select 1'), { cause: coded('57P01') }), true],
    ['cause of a cause', new Error('outer', { cause: new Error('middle', { cause: coded('ECONNRESET') }) }), true],
    ['AggregateError of sockets', Object.assign(new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')], 'connect'), {}), true],
    // not an outage: a bug or bad data
    ['unique violation 23505', coded('23505'), false],
    ['syntax error 42601', coded('42601'), false],
    ['57014 query_canceled', coded('57014'), false],
    ['plain error', new Error('connection refused'), false],
    ['non-error', 'ECONNREFUSED', false],
    ['null', null, false],
  ])('%s', (_name, err, expected) => {
    expect(isDatabaseUnavailable(err)).toBe(expected);
  });

  it('does not loop on a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isDatabaseUnavailable(a)).toBe(false);
  });

  describe('errors the driver really throws', () => {
    const client = postgres('postgres://nobody@127.0.0.1:1/none', { max: 1, connect_timeout: 2, onnotice: () => {} });
    afterAll(() => client.end({ timeout: 1 }));

    it('postgres.js: ECONNREFUSED', async () => {
      const err = await client`select 1`.catch((e: unknown) => e);
      expect(databaseUnavailableCode(err)).toBe('ECONNREFUSED');
    });

    it('drizzle wraps a query in DrizzleQueryError with the driver error as cause', async () => {
      const err = await drizzle(client)
        .execute(sql`select ${1}`)
        .catch((e: unknown) => e);
      expect((err as Error).constructor.name).toBe('DrizzleQueryError');
      expect(databaseUnavailableCode(err)).toBe('ECONNREFUSED');
    });

    it("drizzle leaves a transaction's BEGIN unwrapped", async () => {
      const err = await drizzle(client)
        .transaction(async (tx) => tx.execute(sql`select 1`))
        .catch((e: unknown) => e);
      expect(databaseUnavailableCode(err)).toBe('ECONNREFUSED');
    });
  });
});

describe('reconnecting after a restart', () => {
  it('the installed postgres.js has the write-scheduler and stale-error repairs (postinstall)', () => {
    const { version, files } = inspect() as {
      version: string;
      files: Array<{ file: string; repairs: Array<{ name: string; state: string }> }>;
    };
    expect(version).toBeTruthy();
    const defective = files.flatMap((f) => f.repairs.filter((r) => r.state === 'defective').map((r) => `${f.file}: ${r.name}`));
    expect(defective, 'run node db/scripts/patch-postgres-driver.mjs (the root postinstall)').toEqual([]);
  });

  it('backoff stays within a second however many connects have failed', () => {
    for (const retries of [0, 1, 3, 7, 20, 500]) {
      const s = reconnectBackoff(retries);
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThanOrEqual(1);
    }
    expect(reconnectBackoff(0)).toBeLessThanOrEqual(0.05);
  });
});

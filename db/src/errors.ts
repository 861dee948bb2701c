/**
 * "The database is unreachable" as opposed to "the query is wrong": the first is worth a 503 and
 * a retry (PostgreSQL restarting, a failover, a network blip), the second is a bug.
 *
 * What arrives here: postgres.js's own connection errors (`code` CONNECTION_CLOSED, …), Node's
 * socket errors (`code` ECONNREFUSED, …, sometimes inside an AggregateError when a host name has
 * several addresses), and PostgresError with the server's SQLSTATE (`code` 57P01 when a restart
 * terminates the session, 57P03 while it starts up). drizzle wraps a failed query in a
 * DrizzleQueryError holding the driver's error as `cause`; a transaction's BEGIN is not wrapped.
 */

/** postgres.js connection states and Node socket errors that mean "no usable connection". */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * SQLSTATE class 08 (connection exception), 57P01 admin_shutdown, 57P02 crash_shutdown,
 * 57P03 cannot_connect_now (starting up, shutting down, in recovery).
 */
const SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/;

/** The code that makes `err` a "database unavailable" error, looking through causes; else null. */
export function databaseUnavailableCode(err: unknown): string | null {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length && seen.size < 16) {
    const e = queue.shift();
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || SQLSTATE.test(code))) return code;
    queue.push((e as { cause?: unknown }).cause);
    const inner = (e as { errors?: unknown }).errors; // AggregateError
    if (Array.isArray(inner)) queue.push(...inner);
  }
  return null;
}

/** True when `err` (or what it wraps) says the database cannot be reached right now. */
export function isDatabaseUnavailable(err: unknown): boolean {
  return databaseUnavailableCode(err) !== null;
}

/** The SQLSTATE of a PostgreSQL error, looking through drizzle's wrapping (`cause`); else null. */
export function sqlState(err: unknown): string | null {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return null;
}

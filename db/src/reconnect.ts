/**
 * How soon a PostgreSQL pool connection tries again after losing the server (postgres.js
 * `backoff`, in seconds): at most a second apart, jittered so a pool does not reconnect in step.
 *
 * postgres.js's default, `(0.5..1) * min(3 ** retries / 100, 20)`, counts retries once for the
 * whole pool and resets the count only when a connection gets through. The refused connects of a
 * restart push it past 7 within a second, so a slot that failed then sleeps 10–20 s, and the
 * request whose query it holds waits that long although PostgreSQL has long been back
 * (test/failover saw 6–20 s). A connect attempt on loopback or a LAN is cheap; a second is plenty.
 */
export function reconnectBackoff(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);
}

/**
 * LISTEN on PostgreSQL that survives its connection, and the confirmation that every process
 * sharing the database has heard a revocation before the revoke call returns.
 *
 * Survival: postgres.js's own `sql.listen` re-listens once after a drop and gives up silently
 * when that attempt fails (the database still restarting): the process would then never hear of
 * another revocation. This keeps one dedicated connection, says when it drops (notices sent
 * meanwhile are lost) and retries with backoff until it listens again.
 *
 * Confirmation (issue 13: "a revocation is visible in the very next answer from every worker"):
 * - Every listening process is a member: once its LISTENs stand, its connection sets
 *   `application_name` to `anvil-notices <member id>`, so pg_stat_activity lists the members
 *   (of this database: notices never cross databases).
 * - `confirm()` (called after a revocation committed) lists the members, sends a fence notice
 *   with a fresh token and waits for every member's acknowledgement. PostgreSQL delivers the
 *   notices of one channel set in commit order, so a member reaches the fence only after the
 *   revocation notice, whose listeners drop their caches synchronously: an acknowledgement
 *   means "dropped".
 * - A member that does not answer (crashed, partitioned, stalled) must not keep answering from
 *   its cache either: each member holds a lease, renewed by a `select 1` on the same connection
 *   every PROBE_MS and valid for LEASE_MS from when that probe was sent. PostgreSQL sends pending
 *   notifications before ReadyForQuery, so a probe that completes has delivered every notice
 *   committed before it was sent. A member missing at the fence therefore stops trusting its
 *   caches within LEASE_MS of the fence, and `confirm()` waits that long at most.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import type { NoticeConfirmation, RevocationSubscriber } from '@anvil/ca';

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;
/** How long a completed probe vouches for the subscription. */
export const LEASE_MS = 2_000;
const PROBE_MS = 500;
const MEMBER_PREFIX = 'anvil-notices ';

export interface NotificationListener {
  /** Every member has processed the notices committed before this call, or its lease ran out. */
  confirm(): Promise<NoticeConfirmation>;
  close(): Promise<void>;
}

/**
 * Listens on `channel`, telling `subscriber` whenever the subscription stands (the first time
 * included) and whenever it drops, and renewing its lease. Resolves after the first attempt,
 * successful or not: a database that is down at start-up is retried like a dropped connection.
 */
export async function listenForRevocations(url: string, channel: string, subscriber: RevocationSubscriber): Promise<NotificationListener> {
  const fenceChannel = `${channel}_fence`;
  /** Notified by migration 0013's triggers when an issuer (or anchor, pending issuer, cross-certificate) changes. */
  const issuersChannel = `${channel}_issuers`;
  const ackChannel = `${channel}_ack`;
  const member = randomUUID();
  /** Fences this process is waiting for: token -> members not heard from yet. */
  const fences = new Map<string, { waiting: Set<string>; done: () => void }>();
  let live = false;
  let retrying = false;
  let closed = false;
  let probing = false;
  const options = {
    max: 1,
    idle_timeout: null,
    max_lifetime: null,
    fetch_types: false,
    onnotice: () => {},
    onnotify: (name: string, payload: string) => {
      if (name === channel) subscriber.revoked(payload);
      else if (name === issuersChannel) subscriber.issuersChanged?.();
      else if (name === fenceChannel) {
        // Every earlier revocation notice was delivered (and its caches dropped) before this one.
        sql`select pg_notify(${ackChannel}, ${`${payload} ${member}`})`.catch(() => {});
      } else if (name === ackChannel) {
        const [token, from] = payload.split(' ');
        const fence = fences.get(token);
        if (fence?.waiting.delete(from) && fence.waiting.size === 0) fence.done();
      }
    },
    onclose: () => {
      if (closed) return;
      if (live) {
        live = false;
        subscriber.subscription(false);
      }
      void relisten();
    },
  };
  // `onnotify` is a postgres.js connection option its type declarations leave out.
  const sql = postgres(url, options as unknown as postgres.Options<Record<string, never>>);
  const listen = async () => {
    const sent = performance.now();
    await sql.unsafe(`listen ${channel}`);
    await sql.unsafe(`listen ${fenceChannel}`);
    await sql.unsafe(`listen ${ackChannel}`);
    await sql.unsafe(`listen ${issuersChannel}`);
    // Last: a member listed in pg_stat_activity already hears fences.
    await sql.unsafe(`set application_name = '${MEMBER_PREFIX}${member}'`);
    return sent;
  };
  const stand = (sent: number) => {
    live = true;
    subscriber.lease?.(sent + LEASE_MS);
    subscriber.subscription(true);
  };

  async function relisten(): Promise<void> {
    if (retrying) return;
    retrying = true;
    try {
      for (let attempt = 0; !closed; attempt++) {
        try {
          const sent = await listen();
          if (!live && !closed) stand(sent);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt)));
        }
      }
    } finally {
      retrying = false;
    }
  }

  const probe = setInterval(() => {
    if (!live || probing || closed) return;
    probing = true;
    const sent = performance.now();
    sql`select 1`
      .then(() => {
        if (live && !closed) subscriber.lease?.(sent + LEASE_MS);
      })
      .catch(() => {}) // the lease runs out; onclose handles the connection
      .finally(() => (probing = false));
  }, PROBE_MS);
  probe.unref();

  async function confirm(): Promise<NoticeConfirmation> {
    // Whatever happens below, after LEASE_MS from now every member has either heard the
    // revocation (committed before this call) or stopped trusting its caches.
    let deadline = performance.now() + LEASE_MS;
    const token = randomUUID();
    let members: string[] = [];
    try {
      const rows = await sql<{ name: string }[]>`
        select application_name as name from pg_stat_activity
        where datname = current_database() and application_name like ${`${MEMBER_PREFIX}%`}`;
      members = rows.map((r) => r.name.slice(MEMBER_PREFIX.length));
      if (members.length === 0) return { processes: 0, confirmed: 0 };
      const waiting = new Set(members);
      const heard = new Promise<void>((done) => fences.set(token, { waiting, done }));
      await sql`select pg_notify(${fenceChannel}, ${token})`;
      deadline = performance.now() + LEASE_MS;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([heard, new Promise((r) => (timer = setTimeout(r, LEASE_MS)))]);
      clearTimeout(timer);
      return { processes: members.length, confirmed: members.length - waiting.size };
    } catch {
      // No fence could be sent (the connection is down): wait the leases out.
      const wait = deadline - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      return { processes: members.length, confirmed: 0 };
    } finally {
      fences.delete(token);
    }
  }

  try {
    stand(await listen());
  } catch {
    void relisten(); // the database is not there yet: keep trying, as after a drop
  }
  return {
    confirm,
    close: async () => {
      closed = true;
      clearInterval(probe);
      await sql.end({ timeout: 1 });
    },
  };
}

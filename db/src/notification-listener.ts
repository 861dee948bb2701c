/**
 * LISTEN on PostgreSQL that survives its connection. postgres.js's own `sql.listen` re-listens
 * once after a drop and gives up silently when that attempt fails (the database still
 * restarting): the process would then never hear of another revocation. This keeps one
 * dedicated connection, says when it drops (notices sent meanwhile are lost) and retries with
 * backoff until it listens again.
 */
import postgres from 'postgres';
import type { RevocationSubscriber } from '@anvil/ca';

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;

export interface NotificationListener {
  close(): Promise<void>;
}

/**
 * Listens on `channel`, telling `subscriber` whenever the subscription stands (the first time
 * included) and whenever it drops. Resolves after the first attempt, successful or not: a
 * database that is down at start-up is retried like a dropped connection.
 */
export async function listenForRevocations(url: string, channel: string, subscriber: RevocationSubscriber): Promise<NotificationListener> {
  let live = false;
  let retrying = false;
  let closed = false;
  const options = {
    max: 1,
    idle_timeout: null,
    max_lifetime: null,
    fetch_types: false,
    onnotice: () => {},
    onnotify: (name: string, payload: string) => {
      if (name === channel) subscriber.revoked(payload);
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
  const listen = () => sql.unsafe(`listen ${channel}`);

  async function relisten(): Promise<void> {
    if (retrying) return;
    retrying = true;
    try {
      for (let attempt = 0; !closed; attempt++) {
        try {
          await listen();
          if (!live && !closed) {
            live = true;
            subscriber.subscription(true);
          }
          return;
        } catch {
          await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt)));
        }
      }
    } finally {
      retrying = false;
    }
  }

  try {
    await listen();
    live = true;
    subscriber.subscription(true);
  } catch {
    void relisten(); // the database is not there yet: keep trying, as after a drop
  }
  return {
    close: async () => {
      closed = true;
      await sql.end({ timeout: 1 });
    },
  };
}

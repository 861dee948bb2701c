/**
 * A client that goes away in the middle of its request body (closes or resets the connection
 * before Content-Length bytes arrived) is the client's fault, not the server's: the body read
 * fails with Node's `Error: aborted` (code ECONNRESET), which must not be logged as an unhandled
 * error, mapped to a 500, or taken for a database outage (ECONNRESET is also a driver code).
 * The access log says "client aborted the request" at info instead, with the request id.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, ErrorHandler } from 'hono';
import { problem } from '../problem.ts';

/**
 * Whether the client of this request closed its connection before the request body was
 * complete. Decided from Node's IncomingMessage (the `incoming` binding of @hono/node-server),
 * not from the error's message; app.request() in tests has none and is never "aborted".
 */
export function clientAborted(c: Context): boolean {
  return incomingAborted((c.env as { incoming?: Partial<IncomingMessage> } | undefined)?.incoming);
}

/** The same, on Node's request itself (the OCSP fast path has no Context). */
export function incomingAborted(incoming: Partial<IncomingMessage> | undefined): boolean {
  if (incoming?.complete !== false) return false;
  return Boolean(incoming.errored) || incoming.destroyed === true;
}

const ABORT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR']);

/**
 * The errors a body read fails with when the client went away: Node's `aborted` (ECONNRESET),
 * a premature close, an AbortError from the request's signal, and @hono/node-server's own
 * "Client connection prematurely closed." and "Body is unusable".
 */
function isAbortError(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && ABORT_CODES.has(e.code)) return true;
  return (
    e.name === 'AbortError' ||
    e.message === 'aborted' ||
    e.message === 'Client connection prematurely closed.' ||
    (err instanceof TypeError && e.message === 'Body is unusable')
  );
}

/**
 * Wraps an app's onError: an error caused by the client going away is answered (to nobody:
 * the socket is gone) with a plain 400, without `onError`'s logging; the access log line
 * reports the abort. Any other error — even one that happens while the client is gone — goes
 * to `onError`, so a real bug is never hidden by a coincidental disconnect.
 */
export function unlessClientAborted(onError: (err: Error, c: Context) => Response | Promise<Response>): ErrorHandler {
  return (err, c) =>
    clientAborted(c) && isAbortError(err)
      ? problem(c, 400, 'client_aborted', 'the client closed the connection before the request body was complete')
      : onError(err, c);
}

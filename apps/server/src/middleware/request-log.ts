/**
 * The request id and the one access line per request, for both listeners: `x-request-id` (the
 * caller's, or a new one) on the context, the logger and the response; then method, path,
 * status and duration — never headers, query strings, bodies or an enrollment link's secret. Paths polled every few seconds
 * (probes, the judge's hot path) log at debug; a client that went away mid-body logs at info.
 */
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { AppEnv } from '../env.ts';
import { clientAborted } from './client-abort.ts';

export function requestLog(options: {
  log: Logger;
  /** Extra bindings of every line of this listener (e.g. `{ listener: 'mtls' }`). */
  bindings?: Record<string, string>;
  /** Paths whose access lines are debug. */
  debugPaths: ReadonlySet<string>;
  /** The peer's address, or null (app.request() in tests has no socket). */
  clientAddress: (c: Context<AppEnv>) => string | null;
}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const requestId = c.req.header('x-request-id')?.slice(0, 64) || randomUUID();
    c.set('requestId', requestId);
    c.set('clientAddress', options.clientAddress(c));
    c.set('log', options.log.child({ requestId, ...options.bindings }));
    c.header('x-request-id', requestId);
    await next();
    const line = {
      method: c.req.method,
      path: loggedPath(c.req.path),
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    };
    const log = c.get('log');
    if (clientAborted(c)) log.info({ ...line, aborted: true }, 'client aborted the request');
    else if (options.debugPaths.has(c.req.path)) log.debug(line, 'request');
    else log.info(line, 'request');
  };
}

/** The path as logged: an enrollment link's secret is its credential, so it is never written. */
export function loggedPath(path: string): string {
  return path.startsWith('/enroll/') ? path.replace(/^\/enroll\/[^/]+/, '/enroll/[secret]') : path;
}

/** Errors as HTTP: the one problem+json builder and the one error-to-status mapping. */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CaError, type CaErrorKind } from '@anvil/ca';
import { databaseUnavailableCode } from '@anvil/db';

/** RFC 9457 problem details with a stable machine `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  [extra: string]: unknown;
}

const STATUS: Record<CaErrorKind, ContentfulStatusCode> = {
  invalid: 422,
  not_found: 404,
  conflict: 409,
  forbidden: 403,
  unauthorized: 401,
  unavailable: 503,
  gone: 410,
  rate_limited: 429,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A problem answer as status, headers and body: the one place a problem+json body is built. */
export interface ProblemAnswer<S extends ContentfulStatusCode = ContentfulStatusCode> {
  status: S;
  headers: Record<string, string>;
  body: string;
}

/**
 * Builds every problem+json answer; `problem()` sends it through a Hono context, code without
 * one (the mTLS listener's /verify fast path) writes it to Node's response itself.
 */
export function problemAnswer<S extends ContentfulStatusCode>(
  status: S,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): ProblemAnswer<S> {
  // Extension members never override the RFC 9457 members (a detail named `type` once replaced the problem type).
  const body: Problem = { ...extra, type: `urn:anvil:problem:${code}`, title: TITLES[status] ?? 'Error', status, code, detail };
  return { status, headers: { 'content-type': 'application/problem+json', ...headers }, body: JSON.stringify(body) };
}

export function problem(c: Context, status: ContentfulStatusCode, code: string, detail: string, extra: Record<string, unknown> = {}) {
  const answer = problemAnswer(status, code, detail, extra);
  return c.body(answer.body, answer.status, answer.headers);
}

/** Seconds a client should wait before retrying while the database is unreachable (a restart takes a few). */
export const DATABASE_RETRY_AFTER_S = 2;

/**
 * The answer while the database is unreachable (PostgreSQL restarting, a failover): 503 with
 * Retry-After, never a 500. Also used by the mTLS listener's /verify fast path, which has no Hono context.
 */
export function databaseUnavailableProblem(): ProblemAnswer<503> {
  return problemAnswer(
    503,
    'database_unavailable',
    'the database is unavailable; retry shortly',
    {},
    {
      'retry-after': String(DATABASE_RETRY_AFTER_S),
      'cache-control': 'no-store',
    },
  );
}

/** The one place domain errors become HTTP. Unknown errors are logged and answered without detail. */
export function mapError(err: Error, c: Context) {
  const dbCode = databaseUnavailableCode(err);
  if (err instanceof CaError) {
    // A server-side failure behind a domain error is worth a log line (with its cause), not a client error.
    // (Its own code stays: crl_publish_failed says the revocation did commit, even when the database went away after.)
    if (err.kind === 'unavailable') {
      if (dbCode) c.get('log')?.warn({ code: dbCode, errorCode: err.code }, err.message);
      else c.get('log')?.error({ err, cause: err.cause }, err.message);
    }
    // A rate-limit refusal says when to come back (its details carry the seconds, rate-limit.ts).
    const headers: Record<string, string> =
      err.kind === 'rate_limited' && typeof err.details?.retryAfter === 'number' ? { 'retry-after': String(err.details.retryAfter) } : {};
    const answer = problemAnswer(STATUS[err.kind], err.code, err.message, err.details ?? {}, headers);
    return c.body(answer.body, answer.status, answer.headers);
  }
  // An outage, not a bug: one warn line with the driver's code. No stack (under load there are
  // thousands) and no message (drizzle's names the query and its parameters).
  if (dbCode) {
    c.get('log')?.warn({ code: dbCode }, 'database unavailable');
    const answer = databaseUnavailableProblem();
    return c.body(answer.body, answer.status, answer.headers);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    if (status === 400 && /JSON/i.test(err.message)) return problem(c, 400, 'malformed_json', 'the request body is not valid JSON');
    if (status === 401) return problem(c, 401, 'unauthorized', err.message || 'a valid bearer token is required');
    if (status === 415) return problem(c, 415, 'unsupported_media_type', 'send the request body as application/json');
    return problem(c, status, `http_${status}`, err.message || TITLES[status] || 'error');
  }
  if ((err as { code?: string }).code === 'invalid_cursor') return problem(c, 400, 'invalid_cursor', err.message);
  c.get('log')?.error({ err }, 'unhandled error');
  return problem(c, 500, 'internal_error', 'an internal error occurred; it has been logged with the request id');
}

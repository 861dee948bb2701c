/** The OCSP responder over HTTP (RFC 6960 POST and GET), and its fast path beside the Hono app. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Authority, OcspAnswer } from '@anvil/ca';
import { isDatabaseUnavailable } from '@anvil/db';
import { ocspErrorResponse } from '@anvil/pki';
import { incomingAborted } from '../../middleware/client-abort.ts';

const OCSP_RESPONSE = 'application/ocsp-response';
const MAX_REQUEST = 16 * 1024;
const MAX_ENCODED = (MAX_REQUEST * 4) / 3;
const BASE64 = /^[A-Za-z0-9+/=_-]+$/;
/** What a GET path may hold before it is decoded (base64, base64url and %-escapes). */
const ENCODED = /^[A-Za-z0-9+/=_%-]+$/;

type OnAnswer = (statuses: string[]) => void;

/** The answer to `der` (null: no usable request), counted; a database outage is tryLater, anything else throws. */
async function answerFor(authority: Authority, der: Uint8Array | null, onAnswer?: OnAnswer): Promise<OcspAnswer> {
  let result: OcspAnswer;
  if (!der) result = { der: ocspErrorResponse('malformedRequest'), statuses: ['malformedRequest'] };
  else {
    try {
      result = await authority.ocsp.respond(der);
    } catch (err) {
      // RFC 6960 2.3: tryLater is the OCSP client's own "retry shortly"; it understands that, not a 503 page.
      if (!isDatabaseUnavailable(err)) throw err;
      result = { der: ocspErrorResponse('tryLater'), statuses: ['tryLater'] };
    }
  }
  onAnswer?.(result.statuses);
  return result;
}

/** The request in a GET path (after /ocsp/), or null; clients URL-encode the base64 and some use base64url. */
function decodeGetPath(encoded: string): Uint8Array | null {
  try {
    const b64 = decodeURIComponent(encoded);
    if (!BASE64.test(b64) || b64.length > MAX_ENCODED) return null;
    const der = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    return der.length ? new Uint8Array(der.buffer, der.byteOffset, der.length) : null;
  } catch {
    return null;
  }
}

/** A tryLater is never cached: the database is back within seconds. */
function cacheControl(result: OcspAnswer, cacheable: boolean): string {
  return cacheable && !result.statuses.includes('tryLater') ? 'public, max-age=60' : 'no-store';
}

/** RFC 6960 over HTTP (appendix A): POST with a DER body, or GET with the base64 request in the path. */
export function ocspRoutes(authority: Authority, onAnswer?: OnAnswer) {
  const app = new Hono();
  const reply = (result: OcspAnswer, cacheable: boolean) =>
    new Response(result.der, { status: 200, headers: { 'content-type': OCSP_RESPONSE, 'cache-control': cacheControl(result, cacheable) } });

  app.post('/', async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    const ok = body.length > 0 && body.length <= MAX_REQUEST;
    return reply(await answerFor(authority, ok ? body : null, onAnswer), false);
  });

  // Some clients put the request after several slashes: take the rest of the path.
  app.get('/*', async (c) => reply(await answerFor(authority, decodeGetPath(c.req.path.replace(/^\/ocsp\/?/, '')), onAnswer), true));
  return app;
}

/**
 * The OCSP fast path, tried by createApp's fetch before the Hono app: POST /ocsp with a declared
 * Content-Length, and GET /ocsp/{base64} whose path is plain base64. Everything else (chunked
 * bodies, query strings, escapes that decode to anything but base64) goes to ocspRoutes through
 * the whole middleware stack, which answers as before.
 *
 * Why: a cached OCSP answer is a map lookup, and the generic stack around it (a request id and
 * a child logger per request, the security headers read back from a materialised Headers object,
 * the text guard, routing, the Request/Response adaptation) cost several times that (bench:ocsp,
 * CPU profile). The answer here is the same one — same bytes, the same headers the middleware
 * would add for an /ocsp path (`x-content-type-options: nosniff`, `x-request-id`), the same
 * metrics counter — and the access line is the same `request` line at info, built only when
 * info is enabled.
 */
export function ocspFastPath(deps: {
  authority: Authority;
  log: Logger;
  onAnswer?: OnAnswer;
}): (req: Request, env: unknown) => Promise<Response> | null {
  const { authority, log, onAnswer } = deps;
  return (req, env) => {
    const incoming = (env as { incoming?: IncomingMessage } | undefined)?.incoming;
    // Behind @hono/node-server the raw path is on Node's request; app.request() in tests has only the URL.
    const path = incoming?.url ?? pathOf(req.url);
    const method = req.method;
    let der: Promise<Uint8Array | null> | Uint8Array | null;
    if (method === 'POST' && (path === '/ocsp' || path === '/ocsp/')) {
      const declared = incoming ? incoming.headers['content-length'] : (req.headers.get('content-length') ?? undefined);
      if (declared === undefined || !/^\d+$/.test(declared)) return null;
      const length = Number(declared);
      // The body is not read when it cannot be a request; @hono/node-server drains what remains.
      der = length === 0 || length > MAX_REQUEST ? null : req.arrayBuffer().then((b) => new Uint8Array(b));
    } else if (method === 'GET' && path.startsWith('/ocsp/') && path.length > 6 && ENCODED.test(path.slice(6))) {
      der = decodeGetPath(path.slice(6));
      if (!der) return null; // e.g. a %00: the text guard answers that, as before
    } else return null;

    const started = performance.now();
    const header = incoming ? incoming.headers['x-request-id'] : req.headers.get('x-request-id');
    const requestId = (typeof header === 'string' && header.slice(0, 64)) || randomUUID();
    const cacheable = method === 'GET';
    const line = (status: number) => ({
      requestId,
      method,
      path,
      status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    });
    const answered = (async () => {
      let result: OcspAnswer;
      try {
        let request: Uint8Array | null;
        try {
          request = await der;
        } catch (err) {
          // The client went away mid-body: its fault, answered to nobody, logged as requestLog does.
          if (!incomingAborted(incoming)) throw err;
          log.info({ ...line(400), aborted: true }, 'client aborted the request');
          return new Response(null, { status: 400 });
        }
        result = await answerFor(authority, request, onAnswer);
      } catch (err) {
        // Not the request's fault and not the database's: RFC 6960's internalError, and the cause in the log.
        log.error({ err, requestId }, 'OCSP answer failed');
        result = { der: ocspErrorResponse('internalError'), statuses: ['internalError'] };
        onAnswer?.(result.statuses);
      }
      if (log.isLevelEnabled('info')) log.info(line(200), 'request');
      return new Response(result.der, {
        status: 200,
        headers: {
          'content-type': OCSP_RESPONSE,
          'content-length': String(result.der.byteLength),
          'cache-control': cacheControl(result, cacheable),
          'x-content-type-options': 'nosniff',
          'x-request-id': requestId,
        },
      });
    })();
    return answered;
  };
}

function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return start === -1 ? '/' : url.slice(start);
}

/**
 * Response headers every answer gets, decided in one place and mounted on both listeners (the
 * HTTP app and the mTLS app), so a new page or route gets them without asking:
 *
 * - `Cache-Control: no-store` on everything under /api/ — answers that carry private keys,
 *   PKCS#12 files, tokens or account data, and their errors (a 401 or 404 is no more worth
 *   caching). Routes elsewhere keep what they set: /pki and /ocsp are public and cacheable.
 * - `X-Content-Type-Options: nosniff` on every response, pages, scripts and stylesheets alike.
 * - On text/html: a Content-Security-Policy without any inline script or style (scripts and
 *   stylesheets are files served by Anvil itself, never a CDN), `frame-ancestors 'none'`
 *   (no clickjacking of the revoke button), and `Referrer-Policy: same-origin`.
 */
import type { MiddlewareHandler } from 'hono';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // swagger-ui.css draws its icons as data: SVG backgrounds.
  "img-src 'self' data:",
  "font-src 'self'",
  // The API reference's "Try it out" calls the API of this origin.
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'referrer-policy': 'same-origin',
};

/**
 * The headers this policy adds to a response of `path` with `contentType`, for code that writes
 * to Node's response itself (the mTLS listener's /verify fast path) instead of through Hono.
 */
export function securityHeadersFor(path: string, contentType: string | null | undefined): Record<string, string> {
  const out: Record<string, string> = { 'x-content-type-options': 'nosniff' };
  if (path === '/api' || path.startsWith('/api/')) out['cache-control'] = 'no-store';
  if (contentType && /^\s*text\/html\b/i.test(contentType)) Object.assign(out, PAGE_HEADERS);
  return out;
}

/**
 * The middleware: mount it first (`app.use('*', securityHeaders())`) so that it also sees the
 * answers of onError and notFound. Headers are set on the response after the handler ran, on
 * its own Headers object: replacing the Response would cost @hono/node-server its direct write.
 */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const headers = securityHeadersFor(c.req.path, c.res.headers.get('content-type'));
    try {
      for (const name in headers) c.res.headers.set(name, headers[name]);
    } catch {
      // Immutable headers (a Response from fetch()): copy it once.
      const res = new Response(c.res.body, c.res);
      for (const name in headers) res.headers.set(name, headers[name]);
      c.res = res;
    }
  };
}

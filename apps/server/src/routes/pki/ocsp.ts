/** The OCSP responder over HTTP (RFC 6960 POST and GET). */
import { Hono } from 'hono';
import type { Authority } from '@anvil/ca';
import { isDatabaseUnavailable } from '@anvil/db';
import { ocspErrorResponse } from '@anvil/pki';

const OCSP_RESPONSE = 'application/ocsp-response';
const MAX_REQUEST = 16 * 1024;

/** RFC 6960 over HTTP (appendix A): POST with a DER body, or GET with the base64 request in the path. */
export function ocspRoutes(authority: Authority, onAnswer?: (statuses: string[]) => void) {
  const app = new Hono();

  const respond = async (der: Uint8Array) => {
    try {
      return await authority.ocsp.respond(der);
    } catch (err) {
      // RFC 6960 2.3: tryLater is the OCSP client's own "retry shortly"; it understands that, not a 503 page.
      if (isDatabaseUnavailable(err)) return { der: ocspErrorResponse('tryLater'), statuses: ['tryLater'] };
      throw err;
    }
  };
  const answer = async (der: Uint8Array | null) => {
    const result = der ? await respond(der) : { der: ocspErrorResponse('malformedRequest'), statuses: ['malformedRequest'] };
    onAnswer?.(result.statuses);
    return result;
  };
  // A tryLater is never cached: the database is back within seconds.
  const reply = (result: { der: Uint8Array; statuses: string[] }, cacheable: boolean) =>
    new Response(new Uint8Array(result.der), {
      status: 200,
      headers: {
        'content-type': OCSP_RESPONSE,
        'cache-control': cacheable && !result.statuses.includes('tryLater') ? 'public, max-age=60' : 'no-store',
      },
    });

  app.post('/', async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    const ok = body.length > 0 && body.length <= MAX_REQUEST;
    return reply(await answer(ok ? body : null), false);
  });

  // Clients URL-encode the base64 and some put it after several slashes: take the rest of the path.
  app.get('/*', async (c) => {
    const encoded = c.req.path.replace(/^\/ocsp\/?/, '');
    let der: Uint8Array | null = null;
    try {
      const b64 = decodeURIComponent(encoded);
      if (/^[A-Za-z0-9+/=_-]+$/.test(b64) && b64.length <= (MAX_REQUEST * 4) / 3) {
        der = new Uint8Array(Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
      }
    } catch {
      der = null;
    }
    return reply(await answer(der?.length ? der : null), true);
  });
  return app;
}

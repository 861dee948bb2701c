/**
 * GET /acme/{profile}/renewal-info/{certID} (RFC 9773): the suggested renewal window of a
 * certificate Anvil issued, with Retry-After. No JWS, no account: the certID names a public
 * certificate, and the answer says nothing the certificate and the CRL do not already tell.
 * The window is decided in packages/ca/src/acme/renewal-info.ts.
 */
import { AcmeProblem, type Authority } from '@anvil/ca';
import { Hono } from 'hono';
import type { AppEnv } from '../../env.ts';

export function renewalInfoRoutes(authority: Authority) {
  const app = new Hono<AppEnv>();

  app.get('/:certId', async (c) => {
    try {
      const w = await authority.renewalInfo(c.req.param('certId'));
      c.header('retry-after', String(w.retryAfterSeconds));
      // RFC 9773 4.2: RFC 3339 times; whole seconds.
      const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
      return c.json({ suggestedWindow: { start: iso(w.start), end: iso(w.end) } }, 200);
    } catch (err) {
      if (!(err instanceof AcmeProblem)) throw err;
      return c.body(JSON.stringify(err.toJSON()), err.status as 400, { 'content-type': 'application/problem+json' });
    }
  });

  return app;
}

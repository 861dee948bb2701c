/** GET /pki/crl/{name}.crl and .pem: the current CRL of an issuer, public and cacheable. */
import { Hono } from 'hono';
import type { Authority } from '@anvil/ca';
import { toPem } from '@anvil/pki';
import { problem } from '../../problem.ts';

/**
 * GET /pki/crl/{name}.crl (DER, application/pkix-crl) and .pem. Revocations re-sign the CRL
 * before the revoke call returns, so a short max-age keeps caches close to the truth.
 */
export function crlRoutes(authority: Authority) {
  const app = new Hono();
  app.get('/:file', async (c) => {
    const m = /^([a-z0-9-]+)\.(crl|pem)$/.exec(c.req.param('file'));
    if (!m) return problem(c, 404, 'not_found', 'ask for /pki/crl/{issuer}.crl (DER) or .pem');
    const issuer = authority.issuerByName(m[1]);
    const crl = await authority.crls.current(issuer);
    const etag = `"${issuer.record.name}-${crl.number}-${m[2]}"`;
    const headers = {
      etag,
      'last-modified': crl.thisUpdate.toUTCString(),
      'cache-control': 'public, max-age=60, must-revalidate',
      expires: crl.nextUpdate.toUTCString(),
    };
    if (matchesEtag(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);
    if (m[2] === 'pem') return c.body(toPem(crl.der, 'X509 CRL'), 200, { ...headers, 'content-type': 'application/x-pem-file' });
    return c.body(new Uint8Array(crl.der), 200, { ...headers, 'content-type': 'application/pkix-crl' });
  });
  return app;
}

/** RFC 9110 13.1.2: a list of tags, weak comparison, or "*". */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

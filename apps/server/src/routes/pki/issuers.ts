/** Public distribution of CA certificates, chains and the trust bundle. */
import { Hono } from 'hono';
import { chainPem, type Authority } from '@anvil/ca';
import { toPem } from '@anvil/pki';
import { pathToRoot } from '../../gateway/index.ts';
import { problem } from '../../problem.ts';

const CACHEABLE = 'public, max-age=3600';

/** Public distribution of CA certificates and chains: no auth, cacheable. */
export function pkiRoutes(authority: Authority) {
  const app = new Hono();

  app.get('/trust-bundle.pem', (c) =>
    c.body(authority.trustBundlePem(), 200, { 'content-type': 'application/x-pem-file', 'cache-control': CACHEABLE }),
  );

  app.get('/issuers/:name/chain.pem', (c) => {
    const issuer = authority.issuerByName(c.req.param('name'));
    // The issuer and its parents up to, not including, the root: what a server sends after its leaf.
    return c.body(chainPem(issuer), 200, { 'content-type': 'application/x-pem-file', 'cache-control': CACHEABLE });
  });

  // Root rollover (issuer-rotation.ts): chain.pem plus the cross-certificates of the issuer's
  // root, for a server whose clients may trust only an older root.
  app.get('/issuers/:name/cross-chain.pem', async (c) => {
    const issuer = authority.issuerByName(c.req.param('name'));
    return c.body(await authority.crossChainPem(issuer), 200, { 'content-type': 'application/x-pem-file', 'cache-control': CACHEABLE });
  });

  // One cross-certificate at a stable URL: the root {name} certified by the older root {signer}.
  app.get('/issuers/:name/cross/:file', async (c) => {
    const m = /^([a-z0-9-]+)\.(crt|pem|der|cer)$/.exec(c.req.param('file'));
    if (!m) return problem(c, 404, 'not_found', 'ask for /pki/issuers/{name}/cross/{signer}.pem or .crt (DER)');
    const subject = authority.issuerByName(c.req.param('name'));
    const cross = (await authority.crossCertificates()).find(
      (x) => x.subject.record.id === subject.record.id && x.signer.record.name === m[1],
    );
    if (!cross) return problem(c, 404, 'unknown_cross_certificate', `"${subject.record.name}" is not cross-certified by "${m[1]}"`);
    if (m[2] === 'pem') return c.body(cross.pem, 200, { 'content-type': 'application/x-pem-file', 'cache-control': CACHEABLE });
    return c.body(new Uint8Array(cross.record.certificateDer), 200, {
      'content-type': 'application/pkix-cert',
      'cache-control': CACHEABLE,
    });
  });

  // nginx ssl_crl, HAProxy crl-file and Envoy crl take ONE file and check every CA on the path:
  // the current CRLs of the issuer and each CA above it, up to and including the root.
  app.get('/issuers/:name/crls.pem', async (c) => {
    const path = pathToRoot(authority, authority.issuerByName(c.req.param('name')));
    const crls = await Promise.all(path.map((i) => authority.crls.current(i)));
    return c.body(crls.map((crl) => toPem(crl.der, 'X509 CRL')).join(''), 200, {
      'content-type': 'application/x-pem-file',
      'cache-control': 'public, max-age=60, must-revalidate',
    });
  });

  app.get('/issuers/:file', (c) => {
    const m = /^([a-z0-9-]+)\.(crt|pem|der|cer)$/.exec(c.req.param('file'));
    if (!m) return problem(c, 404, 'not_found', 'ask for /pki/issuers/{name}.crt (DER) or .pem');
    const issuer = authority.issuerByName(m[1]);
    if (m[2] === 'pem') return c.body(issuer.pem, 200, { 'content-type': 'application/x-pem-file', 'cache-control': CACHEABLE });
    return c.body(new Uint8Array(issuer.record.certificateDer), 200, {
      'content-type': 'application/pkix-cert',
      'cache-control': CACHEABLE,
    });
  });
  return app;
}

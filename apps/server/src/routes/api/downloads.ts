/**
 * Downloads of one certificate (mounted at /api/v1/certificates): GET /{id}/<file>, named as
 * certbot names them (cert.pem, chain.pem, fullchain.pem, cert.der), and the bundles of
 * bundles.ts (bundle.p7b, bundle.p7b.pem, secret.yaml).
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ROUTE_SCOPES, type Authority } from '@anvil/ca';
import { buildPkcs7CertsOnly, pkcs7ToPem } from '@anvil/pki';
import type { AppEnv } from '../../env.ts';
import { requireScope, visibleCertificate } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { chainDer, kubernetesSecretYaml } from './bundles.ts';
import { CertificateIdParam, NamespaceSchema, problemResponses, SecretNameSchema } from './schemas.ts';

const DOWNLOADS = ['cert.pem', 'chain.pem', 'fullchain.pem', 'cert.der'] as const;

export function downloadRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.get('/:id/:file', requireScope(ROUTE_SCOPES['GET /certificates/{id}/{download}']));

  // Downloads named as certbot names them.
  for (const file of DOWNLOADS) {
    app.openapi(
      createRoute({
        method: 'get',
        path: `/{id}/${file}`,
        summary: `Download ${file}`,
        security: [{ bearer: [] }],
        request: { params: CertificateIdParam },
        responses: {
          200: {
            description: file,
            content: { [file.endsWith('.der') ? 'application/pkix-cert' : 'application/x-pem-file']: { schema: z.string() } },
          },
          ...problemResponses,
        },
      }),
      async (c) => {
        const record = await visibleCertificate(c, authority, c.req.valid('param').id);
        const disposition = { 'content-disposition': `attachment; filename="${file}"` };
        if (file === 'cert.der') {
          return c.body(new Uint8Array(record.der), 200, { 'content-type': 'application/pkix-cert', ...disposition });
        }
        const pems = authority.pemsOf(record);
        const text = file === 'cert.pem' ? pems.certificate : file === 'chain.pem' ? pems.chain : pems.fullchain;
        return c.body(text, 200, { 'content-type': 'application/x-pem-file', ...disposition });
      },
    );
  }

  for (const [file, pem] of [
    ['bundle.p7b', false],
    ['bundle.p7b.pem', true],
  ] as const) {
    app.openapi(
      createRoute({
        method: 'get',
        path: `/{id}/${file}`,
        summary: `PKCS#7 certs-only bundle (${pem ? 'PEM' : 'DER'}): the certificate and its intermediates`,
        security: [{ bearer: [] }],
        request: { params: CertificateIdParam },
        responses: {
          200: {
            description: file,
            content: { [pem ? 'application/x-pem-file' : 'application/pkcs7-mime']: { schema: z.string() } },
          },
          ...problemResponses,
        },
      }),
      async (c) => {
        const record = await visibleCertificate(c, authority, c.req.valid('param').id);
        const der = buildPkcs7CertsOnly([record.der, ...chainDer(authority, record)]);
        const disposition = { 'content-disposition': `attachment; filename="${file}"` };
        if (pem) return c.body(pkcs7ToPem(der), 200, { 'content-type': 'application/x-pem-file', ...disposition });
        return c.body(new Uint8Array(der), 200, { 'content-type': 'application/pkcs7-mime; smime-type=certs-only', ...disposition });
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/secret.yaml',
      summary: 'Kubernetes TLS Secret (tls.crt, ca.crt; no tls.key: keys are never stored)',
      security: [{ bearer: [] }],
      request: {
        params: CertificateIdParam,
        query: z.object({ name: SecretNameSchema.optional(), namespace: NamespaceSchema.optional() }),
      },
      responses: {
        200: { description: 'secret.yaml', content: { 'application/yaml': { schema: z.string() } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const record = await visibleCertificate(c, authority, c.req.valid('param').id);
      const yaml = kubernetesSecretYaml(authority, record, c.req.valid('query'));
      return c.body(yaml, 200, { 'content-type': 'application/yaml', 'content-disposition': 'attachment; filename="secret.yaml"' });
    },
  );

  return app;
}

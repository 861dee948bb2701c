/** /api/v1/issuers: list, read and create CAs. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Authority, LoadedIssuer } from '@anvil/ca';
import { ISSUER_NAME, issuerUrls } from '@anvil/ca';
import { KEY_ALGORITHMS } from '@anvil/pki';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from './schemas.ts';

const IssuerSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(['root', 'intermediate']),
    parent: z.string().nullable(),
    subject: z.string(),
    keyAlgorithm: z.string(),
    serial: z.string(),
    notBefore: z.string(),
    notAfter: z.string(),
    certificate: z.string(),
    urls: z.object({ certificate: z.string(), crl: z.string(), chain: z.string() }),
  })
  .openapi('Issuer');

export function issuerView(authority: Authority, i: LoadedIssuer, publicUrl = '') {
  const urls = issuerUrls(publicUrl, i.record.name);
  return {
    id: i.record.id,
    name: i.record.name,
    kind: i.record.kind,
    parent: i.record.parentId ? authority.issuerById(i.record.parentId).record.name : null,
    subject: i.record.subject,
    keyAlgorithm: i.record.keyAlgorithm,
    serial: i.record.serial,
    notBefore: i.record.notBefore.toISOString(),
    notAfter: i.record.notAfter.toISOString(),
    certificate: i.pem,
    urls: { certificate: urls.caIssuersUrl, crl: urls.crlUrl, chain: `${publicUrl}/pki/issuers/${i.record.name}/chain.pem` },
  };
}

/** /issuers (mounted under /api/v1): the CA hierarchy; creating an intermediate takes an admin token. */
export function issuerRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/', async (c, next) => (c.req.method === 'GET' ? next() : requireScope('admin')(c, next)));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List the CA hierarchy',
      security: [{ bearer: [] }],
      responses: {
        200: { description: 'Issuers', content: { 'application/json': { schema: z.object({ items: z.array(IssuerSchema) }) } } },
        ...problemResponses,
      },
    }),
    (c) => c.json({ items: authority.issuers().map((i) => issuerView(authority, i)) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create an issuing intermediate under a root (admin)',
      security: [{ bearer: [] }],
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({
                  name: z.string().regex(ISSUER_NAME),
                  keyAlgorithm: z.enum(KEY_ALGORITHMS).default('EC-P256'),
                  parent: z.string().max(64).optional(),
                  commonName: z.string().min(1).max(64).optional(),
                })
                .strict(),
            },
          },
        },
      },
      responses: { 201: { description: 'Created', content: { 'application/json': { schema: IssuerSchema } } }, ...problemResponses },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const created = await authority.createIssuer({ ...body, kind: 'intermediate' }, c.get('actor'));
      return c.json(issuerView(authority, created), 201);
    },
  );
  return app;
}

/** /api/v1/certificates: issue, list and read certificates. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ROUTE_SCOPES, type Authority } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { validationHook } from '../../validation.ts';
import { CertificateIdParam, CertificatePageSchema, CertificateSchema, IssueRequestSchema, problemResponses } from './schemas.ts';
import { certificateView } from './views.ts';
import { checkBundleOptions, issuanceBundles } from './bundles.ts';
import { observeIssuance, type Metrics } from '../../metrics.ts';
import { requireScope, visibleCertificate } from '../../middleware/scope.ts';

const issue = createRoute({
  method: 'post',
  path: '/',
  summary: 'Issue a certificate from a CSR, or with a key generated for the caller',
  security: [{ bearer: [] }],
  request: {
    headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
    body: { content: { 'application/json': { schema: IssueRequestSchema } }, required: true },
  },
  responses: {
    201: { description: 'Issued', content: { 'application/json': { schema: CertificateSchema } } },
    200: { description: 'Idempotent replay of an earlier issuance', content: { 'application/json': { schema: CertificateSchema } } },
    ...problemResponses,
  },
});

const list = createRoute({
  method: 'get',
  path: '/',
  summary: 'List certificates, newest first',
  security: [{ bearer: [] }],
  request: {
    query: z.object({
      status: z.enum(['active', 'revoked']).optional(),
      profile: z.string().max(64).optional(),
      issuer: z.string().max(64).optional(),
      q: z.string().max(256).optional().openapi({ description: 'Substring of CN, SAN or serial' }),
      cursor: z.string().max(512).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
    }),
  },
  responses: {
    200: {
      description: 'A page of certificates',
      content: { 'application/json': { schema: CertificatePageSchema } },
    },
    ...problemResponses,
  },
});

const get = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'One certificate',
  security: [{ bearer: [] }],
  request: { params: CertificateIdParam },
  responses: {
    200: { description: 'The certificate', content: { 'application/json': { schema: CertificateSchema } } },
    ...problemResponses,
  },
});

/** /certificates (mounted under /api/v1): issue, list and read certificates. Downloads: downloads.ts; revocation: revocation.ts. */
export function certificateRoutes(authority: Authority, metrics?: Metrics) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const issueScope = requireScope(ROUTE_SCOPES['POST /certificates']);
  const readScope = requireScope(ROUTE_SCOPES['GET /certificates']);
  app.use('/', async (c, next) => (c.req.method === 'POST' ? issueScope(c, next) : readScope(c, next)));
  app.get('/:id', requireScope(ROUTE_SCOPES['GET /certificates/{id}']));

  app.openapi(issue, async (c) => {
    // Bundle options shape the response only: they never reach the authority (nor its
    // idempotency hash), and the password is never logged.
    const { pkcs12Password, pkcs12Legacy, kubernetesSecret, ...body } = c.req.valid('json');
    const bundleOptions = { pkcs12Password, pkcs12Legacy, kubernetesSecret };
    checkBundleOptions(body, bundleOptions);
    const { 'idempotency-key': idempotencyKey } = c.req.valid('header');
    const issued = await observeIssuance(
      metrics,
      // The token's limits come from its row, never from the body.
      () =>
        authority.issue({ ...body, idempotencyKey, tokenLimits: c.get('tokenLimits'), rateLimit: c.get('issueRateLimit') }, c.get('actor')),
      (r) => ({ profile: r.record.profile, issuer: r.issuer.record.name }),
    );
    c.get('log').info(
      { certificateId: issued.record.id, serial: issued.record.serial, profile: issued.record.profile, replayed: issued.replayed },
      'certificate issued',
    );
    const view = {
      ...certificateView(authority, issued.record, new Date(), issued.privateKeyPkcs8),
      ...issuanceBundles(authority, issued, bundleOptions),
    };
    if (issued.replayed) return c.json(view, 200, { 'idempotent-replayed': 'true' });
    return c.json(view, 201, { location: `/api/v1/certificates/${issued.record.id}` });
  });

  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const issuerId = q.issuer ? authority.issuerByName(q.issuer).record.id : undefined;
    const page = await authority.listCertificates({
      status: q.status,
      profile: q.profile,
      issuerId,
      q: q.q,
      cursor: q.cursor,
      limit: q.limit,
      requestedBy: c.get('certificateOwner') ?? undefined,
    });
    const now = new Date();
    return c.json({ items: page.items.map((r) => certificateView(authority, r, now)), nextCursor: page.nextCursor }, 200);
  });

  app.openapi(get, async (c) => {
    const record = await visibleCertificate(c, authority, c.req.valid('param').id);
    return c.json(certificateView(authority, record, new Date()), 200);
  });

  return app;
}

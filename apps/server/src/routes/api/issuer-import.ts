/** /api/v1/issuers: importing an existing CA, and an intermediate signed by an external root (CSR out, certificate in). */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Authority, LoadedIssuer, PendingIssuerRecord } from '@anvil/ca';
import { ISSUER_NAME, ROUTE_SCOPES } from '@anvil/ca';
import { KEY_ALGORITHMS } from '@anvil/pki';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from './schemas.ts';

const PEM_MAX = 64 * 1024;
const CHAIN_MAX = 256 * 1024;

const PendingIssuerSchema = z
  .object({
    name: z.string(),
    status: z.literal('pending'),
    subject: z.string(),
    keyAlgorithm: z.string(),
    createdAt: z.string(),
    csr: z.string().openapi({ description: 'PKCS#10 request (PEM) for the external root to sign' }),
    urls: z.object({ csr: z.string(), certificate: z.string() }),
  })
  .openapi('PendingIssuer');

const ImportBody = z
  .object({
    name: z.string().regex(ISSUER_NAME),
    certificate: z.string().min(1).max(PEM_MAX).openapi({ description: 'PEM, or base64 of DER' }),
    privateKey: z
      .string()
      .min(1)
      .max(PEM_MAX)
      .optional()
      .openapi({ description: 'PKCS#8: PEM, encrypted PEM (BEGIN ENCRYPTED PRIVATE KEY) or base64 of DER' }),
    passphrase: z.string().max(1024).optional(),
    chain: z.string().max(CHAIN_MAX).optional().openapi({ description: 'PEM certificates above it, up to a root' }),
    keyRef: z.string().min(1).max(256).optional().openapi({
      description:
        'the key is on the PKCS#11 token: its RFC 7512 URI; without it and without privateKey, the token key matching the certificate is used',
    }),
  })
  .strict();

const CsrBody = z
  .object({
    name: z.string().regex(ISSUER_NAME),
    keyAlgorithm: z.enum(KEY_ALGORITHMS).default('EC-P256'),
    commonName: z.string().min(1).max(64).optional(),
  })
  .strict();

const CertificateBody = z
  .object({
    certificate: z.string().min(1).max(PEM_MAX),
    chain: z.string().max(CHAIN_MAX).optional().openapi({ description: 'the external root, and any CA between (PEM)' }),
  })
  .strict();

/** What the CLI sends (apps/server/src/index.ts exports these types). */
export type ImportIssuerRequest = z.input<typeof ImportBody>;
export type PendingIssuerRequest = z.input<typeof CsrBody>;
export type IssuerCertificateRequest = z.input<typeof CertificateBody>;
export type PendingIssuerView = z.infer<typeof PendingIssuerSchema>;

export function pendingView(authority: Authority, p: PendingIssuerRecord) {
  return {
    name: p.name,
    status: 'pending' as const,
    subject: p.subject,
    keyAlgorithm: p.keyAlgorithm,
    createdAt: p.createdAt.toISOString(),
    csr: authority.pendingCsrPem(p.name),
    urls: { csr: `/api/v1/issuers/${p.name}/csr.pem`, certificate: `/api/v1/issuers/${p.name}/certificate` },
  };
}

const conflictResponse = { 409: problemResponses[422] } as const;

/**
 * Mounted by issuerRoutes on the same prefix. `view` and `schema` are the issuer's (issuers.ts),
 * passed in so that the two modules do not import each other.
 */
export function issuerImportRoutes<S extends z.ZodTypeAny>(
  authority: Authority,
  issuer: { schema: S; view: (i: LoadedIssuer) => z.infer<S> },
) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/import', requireScope(ROUTE_SCOPES['POST /issuers/import']));
  app.use('/csr', requireScope(ROUTE_SCOPES['POST /issuers/csr']));
  app.use('/:name/certificate', requireScope(ROUTE_SCOPES['POST /issuers/{name}/certificate']));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/import',
      summary: 'Import an existing CA with its private key (admin)',
      description:
        'A self-signed CA certificate becomes a root; any other an intermediate under the Anvil issuer that signed it or under the root given in `chain` (kept as a trust anchor). Refusals: key_mismatch, not_a_ca, not_fit_for_issuing, certificate_expired, chain_incomplete, chain_invalid, wrong_passphrase, passphrase_required, malformed_private_key, malformed_certificate, unsupported_key, issuer_exists.',
      security: [{ bearer: [] }],
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: ImportBody,
            },
          },
        },
      },
      responses: {
        201: { description: 'Imported', content: { 'application/json': { schema: issuer.schema } } },
        ...problemResponses,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const imported = await authority.importIssuer(c.req.valid('json'), c.get('actor'));
      return c.json(issuer.view(imported), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/csr',
      summary: 'Create an intermediate for an external root to sign: key held here, CSR returned (admin)',
      description: 'The issuer is `pending` and issues nothing until POST /issuers/{name}/certificate imports its certificate.',
      security: [{ bearer: [] }],
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: CsrBody,
            },
          },
        },
      },
      responses: {
        201: { description: 'Pending', content: { 'application/json': { schema: PendingIssuerSchema } } },
        ...problemResponses,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const pending = await authority.createPendingIssuer(c.req.valid('json'), c.get('actor'));
      return c.json(pendingView(authority, pending), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{name}/csr.pem',
      summary: "A pending intermediate's CSR (PEM)",
      security: [{ bearer: [] }],
      request: { params: z.object({ name: z.string().regex(ISSUER_NAME) }) },
      responses: {
        200: { description: 'PKCS#10 request', content: { 'application/pkcs10': { schema: z.string() } } },
        ...problemResponses,
      },
    }),
    (c) =>
      c.body(authority.pendingCsrPem(c.req.valid('param').name), 200, {
        'content-type': 'application/pkcs10',
        'content-disposition': `attachment; filename="${c.req.valid('param').name}.csr"`,
      }),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{name}/certificate',
      summary: "Import a pending intermediate's certificate signed by an external root, and that root as a trust anchor (admin)",
      description:
        'Refusals: key_mismatch (not the CSR key), not_fit_for_issuing (CA:TRUE, keyCertSign, cRLSign), certificate_expired, chain_invalid, chain_incomplete, pending_issuer_not_found.',
      security: [{ bearer: [] }],
      request: {
        params: z.object({ name: z.string().regex(ISSUER_NAME) }),
        body: {
          required: true,
          content: {
            'application/json': {
              schema: CertificateBody,
            },
          },
        },
      },
      responses: {
        201: { description: 'Active', content: { 'application/json': { schema: issuer.schema } } },
        ...problemResponses,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const done = await authority.completePendingIssuer(c.req.valid('param').name, c.req.valid('json'), c.get('actor'));
      return c.json(issuer.view(done), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/pending',
      summary: 'Intermediates waiting for their certificate from an external root',
      security: [{ bearer: [] }],
      responses: {
        200: {
          description: 'Pending issuers',
          content: { 'application/json': { schema: z.object({ items: z.array(PendingIssuerSchema) }) } },
        },
        ...problemResponses,
      },
    }),
    (c) => c.json({ items: authority.pendingIssuers().map((p) => pendingView(authority, p)) }, 200),
  );
  return app;
}

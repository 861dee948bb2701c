/** /api/v1/issuers: list, read and create CAs; rotate intermediates and cross-certify roots (issuer-rotation.ts). */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Authority, LoadedCrossCertificate, LoadedIssuer } from '@anvil/ca';
import { ISSUER_NAME, issuerUrls, ROUTE_SCOPES } from '@anvil/ca';
import { KEY_ALGORITHMS } from '@anvil/pki';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { issuerImportRoutes } from './issuer-import.ts';
import { problemResponses } from './schemas.ts';

const NameListSchema = z.object({
  dns: z.array(z.string()),
  ip: z.array(z.string()),
  uri: z.array(z.string()),
  email: z.array(z.string()),
});
const NameListInput = z
  .object({
    dns: z.array(z.string().max(253)).max(100).optional(),
    ip: z.array(z.string().max(64)).max(100).optional(),
    uri: z.array(z.string().max(253)).max(100).optional(),
    email: z.array(z.string().max(320)).max(100).optional(),
  })
  .strict();

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
    urls: z.object({ certificate: z.string(), crl: z.string(), chain: z.string(), crossChain: z.string() }),
    status: z.enum(['active', 'retired', 'revoked']),
    retiredAt: z.string().nullable(),
    nameConstraints: z.object({ permitted: NameListSchema, excluded: NameListSchema }).nullable(),
    crossCertificates: z.array(z.object({ signer: z.string(), serial: z.string(), notAfter: z.string(), url: z.string() })),
  })
  .openapi('Issuer');

const NameConstraintsInput = z
  .object({ permitted: NameListInput.optional(), excluded: NameListInput.optional() })
  .strict()
  .openapi('NameConstraints', {
    description:
      'Subtrees written into a critical nameConstraints extension, as OpenSSL reads them: dns "example.com" (it and every name under it) or ".example.com" (only under it); ip a CIDR; uri a host; email a domain, ".domain" or one address.',
  });

const CrossCertificateSchema = z
  .object({
    subject: z.string(),
    signer: z.string(),
    serial: z.string(),
    notBefore: z.string(),
    notAfter: z.string(),
    certificate: z.string(),
    url: z.string(),
  })
  .openapi('CrossCertificate');

function crossView(c: LoadedCrossCertificate, publicUrl = '') {
  return {
    subject: c.subject.record.name,
    signer: c.signer.record.name,
    serial: c.record.serial,
    notBefore: c.record.notBefore.toISOString(),
    notAfter: c.record.notAfter.toISOString(),
    certificate: c.pem,
    url: `${publicUrl}/pki/issuers/${c.subject.record.name}/cross/${c.signer.record.name}.pem`,
  };
}

export function issuerView(authority: Authority, i: LoadedIssuer, publicUrl = '', crosses: LoadedCrossCertificate[] = []) {
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
    urls: {
      certificate: urls.caIssuersUrl,
      crl: urls.crlUrl,
      chain: `${publicUrl}/pki/issuers/${i.record.name}/chain.pem`,
      crossChain: `${publicUrl}/pki/issuers/${i.record.name}/cross-chain.pem`,
    },
    status: i.record.status as 'active' | 'retired' | 'revoked',
    retiredAt: i.record.retiredAt?.toISOString() ?? null,
    nameConstraints: i.record.nameConstraints ?? null,
    crossCertificates: crosses
      .filter((c) => c.subject.record.id === i.record.id)
      .map((c) => ({
        signer: c.signer.record.name,
        serial: c.record.serial,
        notAfter: c.record.notAfter.toISOString(),
        url: crossView(c, publicUrl).url,
      })),
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
    async (c) => {
      const crosses = await authority.crossCertificates();
      return c.json({ items: authority.issuers().map((i) => issuerView(authority, i, '', crosses)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create an issuing intermediate under a root, optionally name-constrained, or a new root (admin)',
      security: [{ bearer: [] }],
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({
                  name: z.string().regex(ISSUER_NAME),
                  kind: z.enum(['intermediate', 'root']).default('intermediate'),
                  keyAlgorithm: z.enum(KEY_ALGORITHMS).default('EC-P256'),
                  parent: z.string().max(64).optional(),
                  commonName: z.string().min(1).max(64).optional(),
                  nameConstraints: NameConstraintsInput.optional(),
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
      const created = await authority.createIssuer(body, c.get('actor'));
      return c.json(issuerView(authority, created), 201);
    },
  );

  app.use('/:name/rotate', requireScope(ROUTE_SCOPES['POST /issuers/{name}/rotate']));
  app.use('/:name/retire', requireScope(ROUTE_SCOPES['POST /issuers/{name}/retire']));
  app.use('/:name/cross-certificates', requireScope(ROUTE_SCOPES['POST /issuers/{name}/cross-certificates']));
  const rotated = z.object({ retired: IssuerSchema, to: IssuerSchema.nullable(), profiles: z.array(z.string()) });
  const nameParam = z.object({ name: z.string().max(64) });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{name}/rotate',
      summary: 'Move profiles to another intermediate and retire this one (admin)',
      description:
        'The retired issuer signs no more certificates (issuer_retired) but keeps publishing CRLs and OCSP answers for those it issued; they can still be revoked. `profiles` defaults to every profile issuing from it; one left behind refuses the rotation (issuer_in_use).',
      security: [{ bearer: [] }],
      request: {
        params: nameParam,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({ to: z.string().max(64), profiles: z.array(z.string().max(64)).max(1000).optional() }).strict(),
            },
          },
        },
      },
      responses: { 200: { description: 'Rotated', content: { 'application/json': { schema: rotated } } }, ...problemResponses },
    }),
    async (c) => {
      const result = await authority.rotateIssuer(c.req.valid('param').name, c.req.valid('json'), c.get('actor'));
      return c.json(
        { retired: issuerView(authority, result.retired), to: issuerView(authority, result.to!), profiles: result.profiles },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{name}/retire',
      summary: 'Retire an intermediate no profile issues from (admin)',
      security: [{ bearer: [] }],
      request: { params: nameParam },
      responses: { 200: { description: 'Retired', content: { 'application/json': { schema: rotated } } }, ...problemResponses },
    }),
    async (c) => {
      const result = await authority.rotateIssuer(c.req.valid('param').name, {}, c.get('actor'));
      return c.json({ retired: issuerView(authority, result.retired), to: null, profiles: result.profiles }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{name}/cross-certificates',
      summary: 'Root rollover: certify this root under an older root (admin)',
      description:
        'A CA certificate whose subject and key are this root and whose issuer is `signer`, published at /pki/issuers/{name}/cross/{signer}.pem and in the cross-chain.pem of every issuer under this root.',
      security: [{ bearer: [] }],
      request: {
        params: nameParam,
        body: { required: true, content: { 'application/json': { schema: z.object({ signer: z.string().max(64) }).strict() } } },
      },
      responses: {
        201: { description: 'Cross-certified', content: { 'application/json': { schema: CrossCertificateSchema } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const cross = await authority.crossCertify(c.req.valid('param').name, c.req.valid('json').signer, c.get('actor'));
      return c.json(crossView(cross), 201);
    },
  );
  // Importing CAs and externally signed intermediates (issuer-import.ts).
  app.route('/', issuerImportRoutes(authority, { schema: IssuerSchema, view: (i) => issuerView(authority, i) }));
  return app;
}

/** Revocation over the API: revoke, release, bulk revoke, and revoking an intermediate. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { REVOCATION_REASONS, REVOKE_REASONS } from '@anvil/pki';
import { CaError, checkReason, ROUTE_SCOPES, type Authority, type CertificateRecord } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope, visibleCertificate } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { CertificateSchema, problemResponses } from './schemas.ts';
import { certificateView } from './views.ts';

const ReasonSchema = z
  .string()
  .max(64)
  .default('unspecified')
  .openapi({ description: `RFC 5280 reason name: ${REVOKE_REASONS.join(', ')}`, example: 'keyCompromise' })
  // Typed from here on; an unknown name is the domain's 422 invalid_reason, not a shape error.
  .transform(checkReason);
/** POST /certificates/{id}/revoke and /issuers/{name}/revoke. */
export const RevokeRequestSchema = z.object({ reason: ReasonSchema }).strict();
export type RevokeRequest = z.input<typeof RevokeRequestSchema>;
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

/**
 * Revocation, in two sub-apps: `certificates` (mounted at /api/v1/certificates: revoke, release,
 * bulk revoke; the revoke scope) and `issuers` (mounted at /api/v1/issuers: revoking an
 * intermediate CA; admin).
 */
export function revocationRoutes(authority: Authority, onRevoked?: (record: CertificateRecord) => void) {
  return { certificates: certificateRevocationRoutes(authority, onRevoked), issuers: issuerRevocationRoutes(authority) };
}

function certificateRevocationRoutes(authority: Authority, onRevoked?: (record: CertificateRecord) => void) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const view = (r: CertificateRecord) => certificateView(authority, r, new Date());
  const counted = (outcomes: Array<{ record: CertificateRecord; changed: boolean }>) => {
    for (const o of outcomes) if (o.changed) onRevoked?.(o.record);
    return outcomes;
  };
  app.use('/:id/revoke', requireScope(ROUTE_SCOPES['POST /certificates/{id}/revoke']));
  app.use('/:id/release', requireScope(ROUTE_SCOPES['POST /certificates/{id}/release']));
  app.use('/revoke', requireScope(ROUTE_SCOPES['POST /certificates/revoke']));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/revoke',
      summary: 'Revoke a certificate (effective in the CRL and OCSP before this returns)',
      security: [{ bearer: [] }],
      request: { params: z.object({ id: z.string().uuid() }), body: json(RevokeRequestSchema) },
      responses: {
        200: {
          description: 'Revoked (or the first revocation, unchanged)',
          content: { 'application/json': { schema: CertificateSchema } },
        },
        ...problemResponses,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleCertificate(c, authority, id); // a partner token revokes only its own; another's is 404
      const [outcome] = counted([await authority.revocations.revoke(id, c.req.valid('json').reason, c.get('actor'))]);
      return c.json(view(outcome.record), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/release',
      summary: 'Release a certificate from certificateHold',
      security: [{ bearer: [] }],
      request: { params: z.object({ id: z.string().uuid() }) },
      responses: { 200: { description: 'Released', content: { 'application/json': { schema: CertificateSchema } } }, ...problemResponses },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleCertificate(c, authority, id);
      return c.json(view(await authority.revocations.release(id, c.get('actor'))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/revoke',
      summary: 'Revoke several certificates in one transaction (by ids), or one by issuer and serial',
      security: [{ bearer: [] }],
      request: {
        body: json(
          z
            .object({
              ids: z.array(z.string().uuid()).min(1).max(10_000).optional(),
              issuer: z.string().max(64).optional(),
              serial: z.string().max(64).optional(),
              reason: ReasonSchema,
            })
            .strict()
            .refine((b) => Boolean(b.ids) !== Boolean(b.issuer && b.serial), { message: 'send either ids, or issuer and serial' }),
        ),
      },
      responses: {
        200: { description: 'Revoked', content: { 'application/json': { schema: z.object({ items: z.array(CertificateSchema) }) } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      if (c.get('certificateOwner')) {
        // A partner token names its certificates by id (each must be its own, else 404 for all);
        // issuer and serial would let it probe serials of others.
        if (!body.ids) {
          throw new CaError('forbidden', 'token_revoke_by_serial_not_allowed', 'a token with limits revokes by certificate ids only', {
            limit: 'ownership',
          });
        }
        for (const id of body.ids) await visibleCertificate(c, authority, id);
      }
      const outcomes = body.ids
        ? await authority.revocations.revokeMany(body.ids, body.reason, c.get('actor'))
        : [await authority.revocations.revokeBySerial(body.issuer!, body.serial!, body.reason, c.get('actor'))];
      return c.json({ items: counted(outcomes).map((o) => view(o.record)) }, 200);
    },
  );
  return app;
}

function issuerRevocationRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/:name/revoke', requireScope('admin'));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{name}/revoke',
      summary: "Revoke an intermediate CA; it appears on its parent's CRL (admin)",
      security: [{ bearer: [] }],
      request: { params: z.object({ name: z.string().max(64) }), body: json(RevokeRequestSchema) },
      responses: {
        200: {
          description: 'Revoked',
          content: {
            'application/json': {
              schema: z.object({
                name: z.string(),
                status: z.string(),
                revokedAt: z.string().nullable(),
                revocationReason: z.enum(REVOCATION_REASONS).nullable(),
              }),
            },
          },
        },
        ...problemResponses,
      },
    }),
    async (c) => {
      const r = await authority.revocations.revokeIssuer(c.req.valid('param').name, c.req.valid('json').reason, c.get('actor'));
      return c.json(
        { name: r.name, status: r.status, revokedAt: r.revokedAt?.toISOString() ?? null, revocationReason: r.revocationReason },
        200,
      );
    },
  );
  return app;
}

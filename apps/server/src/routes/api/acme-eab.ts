/**
 * /api/v1/acme/eab: ACME External Account Binding credentials (admin only; every change audited).
 * A credential carries a scoped token's limits (profiles, SAN patterns, fixed subject); its HMAC
 * key is in the creation answer only. packages/ca/src/acme/eab.ts decides what the values mean.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ROUTE_SCOPES, type Authority, type EabCredentialInfo } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from './schemas.ts';

// Shapes only: names, patterns, profiles and expiry are the authority's 422 with a stable code.
const CreateEabSchema = z
  .object({
    name: z.string().max(200),
    profiles: z.array(z.string().max(64)).min(1).max(100),
    sanPatterns: z.array(z.string().max(512)).max(100).optional(),
    subject: z.record(z.string().max(16), z.string().max(200)).optional(),
    expiresAt: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: 'RFC 3339; in the future. Absent: the credential never expires unused' }),
  })
  .strict();

const EabSchema = z.object({
  keyId: z.string(),
  name: z.string(),
  profiles: z.array(z.string()),
  sanPatterns: z.array(z.string()).nullable(),
  subject: z.record(z.string(), z.string()).nullable(),
  expiresAt: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  boundAt: z.string().nullable(),
  accountId: z.string().nullable(),
  status: z.enum(['unused', 'bound', 'revoked', 'expired']),
});

const CreatedEabSchema = z.object({
  keyId: z.string().openapi({ description: 'the EAB key id (kid), e.g. certbot --eab-kid, lego --kid' }),
  hmacKey: z.string().openapi({ description: 'base64url of the 32-byte HMAC key; shown only in this answer' }),
});

/** The wire shapes, for clients (the CLI imports them through apps/server/src/index.ts). */
export type CreateEabRequest = z.input<typeof CreateEabSchema>;
export type CreatedEab = z.output<typeof CreatedEabSchema>;
export type EabView = z.output<typeof EabSchema>;

const KeyIdParam = z.object({ keyId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) });

export function eabView(c: EabCredentialInfo): EabView {
  return {
    keyId: c.keyId,
    name: c.name,
    profiles: c.limits.profiles ?? [],
    sanPatterns: c.limits.sanPatterns ?? null,
    subject: (c.limits.subject as Record<string, string> | undefined) ?? null,
    expiresAt: c.expiresAt?.toISOString() ?? null,
    createdBy: c.createdBy,
    createdAt: c.createdAt.toISOString(),
    revokedAt: c.revokedAt?.toISOString() ?? null,
    boundAt: c.boundAt?.toISOString() ?? null,
    accountId: c.accountId,
    status: c.status,
  };
}

export function acmeEabRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('*', requireScope(ROUTE_SCOPES['* /acme/eab']));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create an ACME External Account Binding credential; the HMAC key is in this answer only',
      security: [{ bearer: [] }],
      request: { body: { content: { 'application/json': { schema: CreateEabSchema } }, required: true } },
      responses: {
        201: { description: 'Created', content: { 'application/json': { schema: CreatedEabSchema } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const { keyId, hmacKey } = await authority.acmeEab.create(c.req.valid('json'), c.get('actor'));
      c.get('log').info({ eabKeyId: keyId }, 'ACME EAB credential created');
      return c.json({ keyId, hmacKey }, 201, { location: `/api/v1/acme/eab/${keyId}` });
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List ACME EAB credentials (never the HMAC key)',
      security: [{ bearer: [] }],
      responses: {
        200: { description: 'Credentials', content: { 'application/json': { schema: z.object({ items: z.array(EabSchema) }) } } },
        ...problemResponses,
      },
    }),
    async (c) => c.json({ items: (await authority.acmeEab.list()).map(eabView) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{keyId}',
      summary: 'One ACME EAB credential',
      security: [{ bearer: [] }],
      request: { params: KeyIdParam },
      responses: { 200: { description: 'The credential', content: { 'application/json': { schema: EabSchema } } }, ...problemResponses },
    }),
    async (c) => c.json(eabView(await authority.acmeEab.get(c.req.valid('param').keyId)), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{keyId}/revoke',
      summary: 'Revoke an ACME EAB credential: no new account can bind it (an account already bound keeps its limits)',
      security: [{ bearer: [] }],
      request: { params: KeyIdParam },
      responses: { 200: { description: 'Revoked', content: { 'application/json': { schema: EabSchema } } }, ...problemResponses },
    }),
    async (c) => {
      const row = await authority.acmeEab.revoke(c.req.valid('param').keyId, c.get('actor'));
      c.get('log').info({ eabKeyId: row.keyId }, 'ACME EAB credential revoked');
      return c.json(eabView(row), 200);
    },
  );

  return app;
}

/** /api/v1/tokens: creating, listing, reading and revoking scoped API tokens (admin only; every change audited). */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ROUTE_SCOPES, type Authority, type TokenRecord } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from './schemas.ts';

// Shapes only; what the values mean (scope names, patterns, profiles, expiry) is the authority's
// 422 with a stable code (tokens.ts, token-limits.ts).
const CreateTokenSchema = z
  .object({
    name: z.string().max(200),
    scopes: z.array(z.string().max(64)).max(20),
    profiles: z.array(z.string().max(64)).max(100).optional(),
    sanPatterns: z.array(z.string().max(512)).max(100).optional(),
    subject: z.record(z.string().max(16), z.string().max(200)).optional(),
    expiresAt: z.string().max(64).optional().openapi({ description: 'RFC 3339; in the future' }),
    rateLimit: z
      .number()
      .int()
      .optional()
      .openapi({ description: 'certificates per minute, 1 to 100000; absent: the server default (admin tokens: unlimited)' }),
  })
  .strict();

const TokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  profiles: z.array(z.string()).nullable(),
  sanPatterns: z.array(z.string()).nullable(),
  subject: z.record(z.string(), z.string()).nullable(),
  /** Certificates per minute; null: the server default (none for admin tokens). */
  rateLimit: z.number().nullable(),
  expiresAt: z.string().nullable(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  status: z.enum(['active', 'revoked', 'expired']),
});

const CreatedTokenSchema = z.object({ id: z.string(), token: z.string() });

/** The wire shapes, for clients (the CLI imports them through apps/server/src/index.ts). */
export type CreateTokenRequest = z.input<typeof CreateTokenSchema>;
export type CreatedToken = z.output<typeof CreatedTokenSchema>;
export type TokenView = z.output<typeof TokenSchema>;

const IdParam = z.object({ id: z.string().uuid() });

/** What a client sees of a token: never the token, never its hash. */
function tokenView(t: TokenRecord, now: Date): z.infer<typeof TokenSchema> {
  return {
    id: t.id,
    name: t.name,
    scopes: t.scopes,
    profiles: t.limits?.profiles ?? null,
    sanPatterns: t.limits?.sanPatterns ?? null,
    subject: (t.limits?.subject as Record<string, string> | undefined) ?? null,
    rateLimit: t.rateLimit,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    createdAt: t.createdAt.toISOString(),
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    status: t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt <= now ? 'expired' : 'active',
  };
}

export function tokenRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('*', requireScope(ROUTE_SCOPES['* /tokens']));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create a scoped API token; the token is in this answer only',
      security: [{ bearer: [] }],
      request: { body: { content: { 'application/json': { schema: CreateTokenSchema } }, required: true } },
      responses: {
        201: {
          description: 'Created',
          content: { 'application/json': { schema: CreatedTokenSchema } },
        },
        ...problemResponses,
      },
    }),
    async (c) => {
      const created = await authority.createToken(c.req.valid('json'), c.get('actor'));
      c.get('log').info({ tokenId: created.id }, 'API token created');
      return c.json(created, 201, { location: `/api/v1/tokens/${created.id}` });
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List API tokens (never the token or its hash)',
      security: [{ bearer: [] }],
      responses: {
        200: { description: 'Tokens', content: { 'application/json': { schema: z.object({ items: z.array(TokenSchema) }) } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const now = authority.now();
      return c.json({ items: (await authority.listTokens()).map((t) => tokenView(t, now)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'One API token',
      security: [{ bearer: [] }],
      request: { params: IdParam },
      responses: { 200: { description: 'The token', content: { 'application/json': { schema: TokenSchema } } }, ...problemResponses },
    }),
    async (c) => c.json(tokenView(await authority.token(c.req.valid('param').id), authority.now()), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/revoke',
      summary: 'Revoke an API token (refused by every process within 5 s)',
      security: [{ bearer: [] }],
      request: { params: IdParam },
      responses: { 200: { description: 'Revoked', content: { 'application/json': { schema: TokenSchema } } }, ...problemResponses },
    }),
    async (c) => {
      const row = await authority.revokeToken(c.req.valid('param').id, c.get('actor'));
      c.get('log').info({ tokenId: row.id }, 'API token revoked');
      return c.json(tokenView(row, authority.now()), 200);
    },
  );

  return app;
}

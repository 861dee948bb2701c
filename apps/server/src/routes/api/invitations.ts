/** /api/v1/invitations: creating, listing, reading and withdrawing enrollment invitations (admin only; every change audited). */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { invitationStatus, ROUTE_SCOPES, type Authority, type InvitationRecord } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses, SansSchema, SubjectSchema, TtlSchema } from './schemas.ts';

// Shapes only; what the values mean (profile, names, patterns, expiry) is the authority's 422 (invitations.ts).
const CreateInvitationSchema = z
  .object({
    name: z.string().max(200).openapi({ description: 'Who the invitation is for (shown to them)' }),
    profile: z.string().max(64),
    subject: SubjectSchema.optional().openapi({ description: 'Fixed subject attributes of the certificate' }),
    sans: SansSchema.partial().optional().openapi({ description: 'The exact names of the certificate' }),
    sanPatterns: z.array(z.string().max(512)).max(100).optional().openapi({ description: 'Or: patterns the CSR’s names must match' }),
    ttl: TtlSchema.optional(),
    expiresAt: z.string().max(64).optional().openapi({ description: 'RFC 3339; default 7 days from now, at most 30' }),
  })
  .strict();

const InvitationSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    profile: z.string(),
    subject: z.record(z.string(), z.string()).nullable(),
    sans: SansSchema.nullable(),
    sanPatterns: z.array(z.string()),
    ttlSeconds: z.number().int().nullable(),
    expiresAt: z.string(),
    createdAt: z.string(),
    createdBy: z.string(),
    usedAt: z.string().nullable(),
    certificateId: z.string().nullable(),
    revokedAt: z.string().nullable(),
    status: z.enum(['pending', 'used', 'expired', 'revoked']),
  })
  .openapi('Invitation');

const CreatedInvitationSchema = InvitationSchema.extend({
  url: z.string().openapi({ description: 'The enrollment URL with its secret: shown in this answer only' }),
});

/** The wire shapes, for clients (the CLI imports them through apps/server/src/index.ts). */
export type CreateInvitationRequest = z.input<typeof CreateInvitationSchema>;
export type InvitationView = z.output<typeof InvitationSchema>;
export type CreatedInvitation = z.output<typeof CreatedInvitationSchema>;

const IdParam = z.object({ id: z.string().uuid() });

/** What a client sees of an invitation: never its secret. */
function invitationView(inv: InvitationRecord, now: Date): InvitationView {
  return {
    id: inv.id,
    name: inv.name,
    profile: inv.profile,
    subject: (inv.limits.subject as Record<string, string> | undefined) ?? null,
    sans: inv.sans,
    sanPatterns: inv.limits.sanPatterns ?? [],
    ttlSeconds: inv.ttlSeconds,
    expiresAt: inv.expiresAt.toISOString(),
    createdAt: inv.createdAt.toISOString(),
    createdBy: inv.createdBy,
    usedAt: inv.usedAt?.toISOString() ?? null,
    certificateId: inv.certificateId,
    revokedAt: inv.revokedAt?.toISOString() ?? null,
    status: invitationStatus(inv, now),
  };
}

/** The enrollment URL of a secret (the page and the `anvil enroll` command read it). */
export function enrollmentUrl(publicUrl: string, secret: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/enroll/${secret}`;
}

export function invitationRoutes(authority: Authority, publicUrl: string) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('*', requireScope(ROUTE_SCOPES['* /invitations']));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Invite a partner to enrol for one certificate; the URL with its secret is in this answer only',
      security: [{ bearer: [] }],
      request: { body: { content: { 'application/json': { schema: CreateInvitationSchema } }, required: true } },
      responses: {
        201: { description: 'Created', content: { 'application/json': { schema: CreatedInvitationSchema } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const { invitation, secret } = await authority.createInvitation(c.req.valid('json'), c.get('actor'));
      c.get('log').info({ invitationId: invitation.id }, 'invitation created');
      return c.json({ ...invitationView(invitation, authority.now()), url: enrollmentUrl(publicUrl, secret) }, 201, {
        location: `/api/v1/invitations/${invitation.id}`,
      });
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List invitations, newest first (never their secrets)',
      security: [{ bearer: [] }],
      request: {
        query: z.object({ before: z.string().uuid().optional(), limit: z.coerce.number().int().min(1).max(500).default(100) }),
      },
      responses: {
        200: { description: 'Invitations', content: { 'application/json': { schema: z.object({ items: z.array(InvitationSchema) }) } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const now = authority.now();
      const items = await authority.listInvitations(c.req.valid('query'));
      return c.json({ items: items.map((i) => invitationView(i, now)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'One invitation',
      security: [{ bearer: [] }],
      request: { params: IdParam },
      responses: {
        200: { description: 'The invitation', content: { 'application/json': { schema: InvitationSchema } } },
        ...problemResponses,
      },
    }),
    async (c) => c.json(invitationView(await authority.invitation(c.req.valid('param').id), authority.now()), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/revoke',
      summary: 'Withdraw an unused invitation (409 when it was used: revoke its certificate instead)',
      security: [{ bearer: [] }],
      request: { params: IdParam },
      responses: {
        200: { description: 'Withdrawn', content: { 'application/json': { schema: InvitationSchema } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const row = await authority.revokeInvitation(c.req.valid('param').id, c.get('actor'));
      c.get('log').info({ invitationId: row.id }, 'invitation withdrawn');
      return c.json(invitationView(row, authority.now()), 200);
    },
  );

  return app;
}

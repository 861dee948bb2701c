/** GET /api/v1/audit: the audit trail, newest first. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Authority } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from './schemas.ts';

const AuditSchema = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.string(),
    source: z.string().nullable(),
    action: z.string(),
    target: z.string().nullable(),
    outcome: z.enum(['success', 'failure']),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('AuditEntry');

/** /audit (mounted under /api/v1): the audit trail, for tokens with the audit scope. */
export function auditRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/', requireScope('audit'));
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Read the append-only audit trail, newest first',
      security: [{ bearer: [] }],
      request: {
        query: z.object({
          limit: z.coerce.number().int().min(1).max(500).default(100),
          before: z.string().regex(/^\d+$/).optional().openapi({ description: 'Return entries with a smaller id' }),
        }),
      },
      responses: {
        200: { description: 'Audit entries', content: { 'application/json': { schema: z.object({ items: z.array(AuditSchema) }) } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await authority.listAudit({ limit: q.limit, beforeId: q.before });
      return c.json({ items: rows.map((r) => ({ ...r, at: r.at.toISOString() })) }, 200);
    },
  );
  return app;
}

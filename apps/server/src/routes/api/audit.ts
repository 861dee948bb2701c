/** GET /api/v1/audit: the audit trail (filtered, newest first), its JSON-lines export and its hash-chain verification. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AuditQuery, AuditRecord, Authority } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { problem } from '../../problem.ts';
import { problemResponses } from './schemas.ts';

const AuditSchema = z
  .object({
    id: z.string(),
    seq: z.string().openapi({ description: 'Position in the hash chain (the chain is ordered by seq, not id)' }),
    at: z.string(),
    actor: z.string(),
    source: z.string().nullable(),
    action: z.string(),
    target: z.string().nullable(),
    outcome: z.enum(['success', 'failure']),
    details: z.record(z.string(), z.unknown()).optional(),
    prevHash: z.string().nullable(),
    hash: z.string().openapi({ description: 'SHA-256 (hex) of the canonical encoding, chained to prevHash' }),
  })
  .openapi('AuditEntry');

const Instant = z
  .string()
  .max(64)
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/, 'an ISO 8601 date or date-time with a zone')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a real date')
  .transform((s) => new Date(s));

/** The filters of the list and the export (the export takes no page parameters). */
const FilterSchema = z.object({
  actor: z.string().min(1).max(256).optional().openapi({ description: 'Substring of the actor (case-insensitive)' }),
  action: z
    .string()
    .max(128)
    .regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*\.?$/, 'an action such as certificate.issue, or a prefix ending in "." (certificate.)')
    .optional(),
  target: z.string().min(1).max(256).optional(),
  outcome: z.enum(['success', 'failure']).optional(),
  from: Instant.optional().openapi({ type: 'string', description: 'Entries at or after this time' }),
  to: Instant.optional().openapi({ type: 'string', description: 'Entries before this time' }),
});

const ChainReportSchema = z
  .object({
    ok: z.boolean(),
    rows: z.number().int(),
    head: z.object({ seq: z.string(), hash: z.string() }).optional(),
    firstBad: z
      .object({
        seq: z.string(),
        id: z.string(),
        problem: z.enum(['altered', 'deleted', 'inserted_out_of_order']),
        detail: z.string(),
        missing: z.object({ fromSeq: z.string(), toSeq: z.string() }).optional(),
      })
      .optional(),
  })
  .openapi('AuditChainReport');

export type AuditEntryView = z.infer<typeof AuditSchema>;
export type AuditChainReportView = z.infer<typeof ChainReportSchema>;

/** A filter that fails its schema is refused as 422 invalid_audit_filter, naming every field. */
function filterHook(result: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }, c: Context) {
  if (result.success) return;
  const errors = (result.error?.issues ?? []).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  return problem(c, 422, 'invalid_audit_filter', errors.map((e) => `${e.path || 'query'}: ${e.message}`).join('; '), { errors });
}

/** from after to matches nothing: a mistake worth naming. */
const ordered = <T extends z.ZodType<{ from?: Date; to?: Date }>>(schema: T) =>
  schema.refine((q) => !(q.from && q.to && q.from > q.to), { message: 'is after to', path: ['from'] });

function filtersOf(q: z.infer<typeof FilterSchema>): Omit<AuditQuery, 'limit'> {
  return { actor: q.actor, action: q.action, target: q.target, outcome: q.outcome, from: q.from, to: q.to };
}

const view = (r: AuditRecord) => ({ ...r, at: r.at.toISOString() });

/** /audit (mounted under /api/v1): the audit trail, for tokens with the audit scope. */
export function auditRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: filterHook });
  app.use('*', requireScope('audit'));
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Read the append-only audit trail, newest first (keyset pages: pass the last id as before)',
      security: [{ bearer: [] }],
      request: {
        query: ordered(
          FilterSchema.extend({
            limit: z.coerce.number().int().min(1).max(500).default(100),
            before: z
              .string()
              .regex(/^\d{1,19}$/)
              .optional()
              .openapi({ description: 'Return entries with a smaller id' }),
          }),
        ),
      },
      responses: {
        200: {
          description: 'Audit entries',
          content: { 'application/json': { schema: z.object({ items: z.array(AuditSchema), nextBefore: z.string().nullable() }) } },
        },
        ...problemResponses,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await authority.listAudit({ ...filtersOf(q), limit: q.limit, beforeId: q.before });
      const nextBefore = rows.length === q.limit ? rows[rows.length - 1].id : null;
      return c.json({ items: rows.map(view), nextBefore }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/export',
      summary: 'Export the audit entries matching the filters as JSON lines, oldest first (by id), streamed page by page',
      security: [{ bearer: [] }],
      request: { query: ordered(FilterSchema) },
      responses: {
        200: { description: 'One AuditEntry per line', content: { 'application/x-ndjson': { schema: z.string() } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const pages = authority.exportAudit(filtersOf(q))[Symbol.asyncIterator]();
      // The first page is read before answering, so a database failure is still a problem answer.
      const first = await pages.next();
      const encoder = new TextEncoder();
      const lines = (page: AuditRecord[]) => encoder.encode(page.map((r) => `${JSON.stringify(view(r))}\n`).join(''));
      let pending: IteratorResult<AuditRecord[]> | null = first;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = pending ?? (await pages.next());
          pending = null;
          if (next.done) controller.close();
          else controller.enqueue(lines(next.value));
        },
        async cancel() {
          await pages.return?.();
        },
      });
      return c.body(body, 200, { 'content-type': 'application/x-ndjson; charset=utf-8' }) as never;
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/verify',
      summary: "Walk the audit trail's hash chain and report the first row where it breaks",
      security: [{ bearer: [] }],
      responses: {
        200: {
          description: 'The verdict (ok: false names the first bad row)',
          content: { 'application/json': { schema: ChainReportSchema } },
        },
        ...problemResponses,
      },
    }),
    async (c) => c.json(await authority.verifyAuditChain(), 200),
  );
  return app;
}

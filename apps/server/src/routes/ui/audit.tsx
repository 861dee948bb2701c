/** @jsxImportSource hono/jsx */
/** The console's audit log: the trail newest first, filtered by actor, action, target and time, one keyset page at a time. */
import { Hono } from 'hono';
import type { AuditQuery, AuditRecord } from '@anvil/ca';
import type { UiEnv } from '../../middleware/session.ts';
import { AuditTable } from '../../views/audit-table.tsx';
import { binder, Field, FormError, Pager, type FieldErrors } from '../../views/components.tsx';
import type { UiDeps } from './index.ts';
import { page } from './render.tsx';

const PAGE_SIZE = 50;
const FILTER_MAX = 200;

export interface AuditFilters {
  actor: string;
  action: string;
  target: string;
  from: string;
  to: string;
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(?:Z| ?UTC)?$/i;

/**
 * A date or date-and-time in UTC (`2025-03-01`, `2025-03-01T14:30` as a datetime-local input
 * sends it, optionally with seconds). `end` gives the first instant after the named day, minute
 * or second, so a "to" bound includes what it names. Null when it is not a real time.
 */
export function parseUtcTime(text: string, end: boolean): Date | null {
  const m = TIME.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => (v === undefined ? undefined : Number(v)));
  const at = new Date(Date.UTC(y!, mo! - 1, d!, h ?? 0, mi ?? 0, s ?? 0));
  // Date.UTC rolls 2025-02-30 over to March: a time that does not round-trip was not a real one.
  if (at.getUTCFullYear() !== y || at.getUTCMonth() !== mo! - 1 || at.getUTCDate() !== d) return null;
  if (h !== undefined && (h > 23 || mi! > 59 || (s ?? 0) > 59)) return null;
  if (!end) return at;
  const step = h === undefined ? 86_400_000 : s === undefined ? 60_000 : 1_000;
  return new Date(at.getTime() + step);
}

/** The filters as the store's query, or the errors beside each field. */
export function auditQueryOf(filters: AuditFilters, cursor: string): { query: Omit<AuditQuery, 'limit'> } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  for (const key of ['actor', 'action', 'target', 'from', 'to'] as const) {
    if (filters[key].length > FILTER_MAX) errors[key] = `At most ${FILTER_MAX} characters.`;
  }
  const from = filters.from ? parseUtcTime(filters.from, false) : undefined;
  const to = filters.to ? parseUtcTime(filters.to, true) : undefined;
  const format = 'Write a date as 2025-03-01, or a date and time as 2025-03-01T14:30 (UTC).';
  if (from === null) errors.from ??= `“${filters.from.slice(0, 40)}” is not a date. ${format}`;
  if (to === null) errors.to ??= `“${filters.to.slice(0, 40)}” is not a date. ${format}`;
  if (from && to && from >= to) errors.to ??= 'The end of the range must be after its start.';
  if (cursor && !/^\d{1,18}$/.test(cursor))
    errors.cursor = 'The page address is not one this log gave out: start again from the first page.';
  if (Object.values(errors).some(Boolean)) return { errors };
  return {
    query: {
      actor: filters.actor.trim() || undefined,
      action: filters.action.trim() || undefined,
      target: filters.target.trim() || undefined,
      from: from ?? undefined,
      to: to ?? undefined,
      beforeId: cursor || undefined,
    },
  };
}

function AuditPage(props: { filters: AuditFilters; errors?: FieldErrors; rows: AuditRecord[]; next: string | null; first: boolean }) {
  const { filters, errors } = props;
  const bind = binder(filters, errors);
  const failed = errors && Object.values(errors).some(Boolean);
  return (
    <>
      <h1>Audit log</h1>
      <p class="muted">Every change and every sign-in, newest first. Times are UTC.</p>
      <FormError message={failed ? (errors.cursor ?? 'Some filters could not be read: see beside each field.') : undefined} />
      <form method="get" action="/audit" class="panel">
        <div class="filters">
          <Field {...bind('actor')} label="Actor contains" placeholder="user:alice" />
          <Field {...bind('action')} label="Action" placeholder="certificate." help="Exact, or a prefix ending in “.”" />
          <Field {...bind('target')} label="Target (exact)" />
          <Field {...bind('from')} label="From (UTC)" placeholder="2025-03-01" />
          <Field {...bind('to')} label="To (UTC, inclusive)" placeholder="2025-03-31T18:00" />
          <div class="actions">
            <button type="submit">Filter</button>
            <a href="/audit">Clear</a>
          </div>
        </div>
      </form>
      {failed ? null : (
        <>
          <AuditTable rows={props.rows} label="Audit entries" showDetails />
          <Pager base="/audit" params={{ ...filters }} next={props.next} first={props.first} />
        </>
      )}
    </>
  );
}

export function auditPages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();

  app.get('/', async (c) => {
    const q = (name: string) => c.req.query(name) ?? '';
    const filters: AuditFilters = { actor: q('actor'), action: q('action'), target: q('target'), from: q('from'), to: q('to') };
    const cursor = q('cursor');
    const parsed = auditQueryOf(filters, cursor);
    if ('errors' in parsed) {
      return page(c, 'Audit log', <AuditPage filters={filters} errors={parsed.errors} rows={[]} next={null} first />, {
        section: '/audit',
        status: 422,
      });
    }
    // One more row than shown tells whether an older page exists.
    const rows = await authority.listAudit({ ...parsed.query, limit: PAGE_SIZE + 1 });
    const shown = rows.slice(0, PAGE_SIZE);
    const next = rows.length > PAGE_SIZE ? shown[shown.length - 1].id : null;
    return page(c, 'Audit log', <AuditPage filters={filters} rows={shown} next={next} first={!cursor} />, { section: '/audit' });
  });

  return app;
}

/** @jsxImportSource hono/jsx */
/** The audit trail as a table (the audit log page and the dashboard's recent activity): time, actor, action, target, outcome, details. */
import type { AuditRecord } from '@anvil/ca';
import { DataTable, Time } from './components.tsx';

/** Details longer than this fold into a <details> element (no script needed). */
const DETAILS_INLINE = 160;

function Details(props: { details: Record<string, unknown> | undefined }) {
  if (!props.details || Object.keys(props.details).length === 0) return <span class="muted">—</span>;
  // Audit rows hold no secrets (the authority never writes one into them); this shows them as stored.
  const json = JSON.stringify(props.details);
  if (json.length <= DETAILS_INLINE) return <code class="mono">{json}</code>;
  return (
    <details>
      <summary>
        <code class="mono">{`${json.slice(0, 60)}…`}</code>
      </summary>
      <code class="mono">{json}</code>
    </details>
  );
}

export function AuditTable(props: { rows: AuditRecord[]; label: string; showDetails?: boolean }) {
  if (props.rows.length === 0) return <p class="muted">No audit entries.</p>;
  return (
    <DataTable
      label={props.label}
      class="audit"
      columns={['Time', 'Actor', 'Action', 'Target', 'Outcome', props.showDetails ? 'Details' : null]}
    >
      {props.rows.map((r) => (
        <tr>
          <td>
            <Time at={r.at} />
          </td>
          <td class="mono">
            {r.actor}
            {r.source ? <span class="muted"> from {r.source}</span> : null}
          </td>
          <td class="mono">{r.action}</td>
          <td class="mono">{r.target ?? <span class="muted">—</span>}</td>
          <td>
            <span class={`badge ${r.outcome === 'success' ? 'ok' : 'bad'}`}>{r.outcome}</span>
          </td>
          {props.showDetails ? (
            <td>
              <Details details={r.details} />
            </td>
          ) : null}
        </tr>
      ))}
    </DataTable>
  );
}

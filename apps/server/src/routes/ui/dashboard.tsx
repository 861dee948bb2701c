/** @jsxImportSource hono/jsx */
/** The console's pages for the dashboard: issuers and CRL freshness, counts, expiring certificates, recent activity. */
import { Hono } from 'hono';
import type { AuditRecord, CertificateRecord, LoadedIssuer, StoredCrl } from '@anvil/ca';
import type { UiEnv } from '../../middleware/session.ts';
import { AuditTable } from '../../views/audit-table.tsx';
import { relative, sansText, StatusBadge, DataTable, Time } from '../../views/components.tsx';
import type { UiDeps } from './index.ts';
import { page } from './render.tsx';

const DAY_MS = 86_400_000;
const EXPIRING_WINDOW_MS = 30 * DAY_MS;
/** The dashboard is a summary: the full lists are one link away. */
const EXPIRING_SHOWN = 10;
const ACTIVITY_SHOWN = 15;

export type Freshness = { kind: 'ok' | 'warn' | 'bad'; label: string; words: string };

/**
 * How fresh a CRL is, in a badge and words: bad once nextUpdate has passed (relying parties
 * refuse it), warn when less than a quarter of its validity is left (it should have been re-signed
 * at half), ok otherwise.
 */
export function crlFreshness(crl: Pick<StoredCrl, 'thisUpdate' | 'nextUpdate'> | null, now: Date): Freshness {
  if (!crl) return { kind: 'bad', label: 'no CRL', words: 'no CRL has been published yet' };
  const left = crl.nextUpdate.getTime() - now.getTime();
  const validity = crl.nextUpdate.getTime() - crl.thisUpdate.getTime();
  if (left <= 0) return { kind: 'bad', label: 'stale', words: `next update was due ${relative(crl.nextUpdate, now)}` };
  const words = `next update ${relative(crl.nextUpdate, now)}`;
  if (left < validity / 4) return { kind: 'warn', label: 'due soon', words };
  return { kind: 'ok', label: 'fresh', words };
}

function issuerState(issuer: LoadedIssuer, now: Date): { kind: 'ok' | 'warn' | 'bad'; label: string } {
  const r = issuer.record;
  if (r.status === 'revoked') return { kind: 'bad', label: `revoked${r.revocationReason ? ` · ${r.revocationReason}` : ''}` };
  if (r.notAfter <= now) return { kind: 'bad', label: 'expired' };
  if (r.notBefore > now) return { kind: 'warn', label: 'not yet valid' };
  if (r.notAfter.getTime() - now.getTime() < 30 * DAY_MS) return { kind: 'warn', label: 'expires soon' };
  return { kind: 'ok', label: 'valid' };
}

function IssuersTable(props: { rows: Array<{ issuer: LoadedIssuer; crl: Omit<StoredCrl, 'der'> | null }>; now: Date }) {
  const { now } = props;
  return (
    <DataTable label="Issuers and their CRLs" columns={['Issuer', 'Valid', 'CRL number', 'This update', 'Next update']}>
      {props.rows.map(({ issuer, crl }) => {
        const state = issuerState(issuer, now);
        const fresh = crlFreshness(crl, now);
        return (
          <tr>
            <th scope="row">
              <a href={`/issuers/${encodeURIComponent(issuer.record.name)}`}>{issuer.record.name}</a>{' '}
              <span class="muted">({issuer.record.kind === 'root' ? 'root' : 'intermediate'})</span>
            </th>
            <td>
              <span class={`badge ${state.kind}`}>{state.label}</span> <Time at={issuer.record.notBefore} /> to{' '}
              <Time at={issuer.record.notAfter} />
            </td>
            <td class="mono">{crl ? crl.number.toString() : '—'}</td>
            <td>
              <Time at={crl?.thisUpdate} />
            </td>
            <td>
              <Time at={crl?.nextUpdate} /> <span class={`badge ${fresh.kind}`}>{fresh.label}</span>{' '}
              <span class={fresh.kind === 'ok' ? 'muted' : fresh.kind}>{fresh.words}</span>
            </td>
          </tr>
        );
      })}
    </DataTable>
  );
}

function CountsTable(props: { counts: Array<{ status: string; profile: string; count: number }> }) {
  const byProfile = new Map<string, { active: number; revoked: number }>();
  for (const row of props.counts) {
    const entry = byProfile.get(row.profile) ?? { active: 0, revoked: 0 };
    if (row.status === 'active') entry.active += row.count;
    else entry.revoked += row.count;
    byProfile.set(row.profile, entry);
  }
  const total = { active: 0, revoked: 0 };
  for (const e of byProfile.values()) {
    total.active += e.active;
    total.revoked += e.revoked;
  }
  if (byProfile.size === 0) return <p class="muted">No certificates have been issued yet.</p>;
  return (
    <DataTable label="Certificates by profile and status" columns={['Profile', 'Active', 'Revoked', 'All']}>
      {[...byProfile].map(([profile, e]) => (
        <tr>
          <th scope="row">
            <a href={`/certificates?profile=${encodeURIComponent(profile)}`}>{profile}</a>
          </th>
          <td>
            <a href={`/certificates?profile=${encodeURIComponent(profile)}&status=active`}>{e.active}</a>
          </td>
          <td>
            <a href={`/certificates?profile=${encodeURIComponent(profile)}&status=revoked`}>{e.revoked}</a>
          </td>
          <td>{e.active + e.revoked}</td>
        </tr>
      ))}
      <tr>
        <th scope="row">All profiles</th>
        <td>{total.active}</td>
        <td>{total.revoked}</td>
        <td>{total.active + total.revoked}</td>
      </tr>
    </DataTable>
  );
}

function ExpiringTable(props: { items: CertificateRecord[]; now: Date }) {
  if (props.items.length === 0) return <p class="muted">No active certificate expires within 30 days.</p>;
  return (
    <DataTable label="Certificates expiring within 30 days" columns={['Certificate', 'Profile', 'Expires']}>
      {props.items.map((cert) => (
        <tr>
          <td>
            <a href={`/certificates/${encodeURIComponent(cert.id)}`}>{cert.commonName ?? (sansText(cert.sans) || cert.serial)}</a>
          </td>
          <td>{cert.profile}</td>
          <td>
            <Time at={cert.notAfter} /> <span class="muted">({relative(cert.notAfter, props.now)})</span>{' '}
            {cert.notAfter <= props.now ? <StatusBadge status={cert.status} notAfter={cert.notAfter} now={props.now} /> : null}
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

function Dashboard(props: {
  issuers: Array<{ issuer: LoadedIssuer; crl: Omit<StoredCrl, 'der'> | null }>;
  counts: Array<{ status: string; profile: string; count: number }>;
  expiring: { items: CertificateRecord[]; more: boolean };
  expiringLink: string;
  activity: AuditRecord[];
  now: Date;
}) {
  return (
    <>
      <h1>Dashboard</h1>
      <h2>Issuers and CRLs</h2>
      <IssuersTable rows={props.issuers} now={props.now} />
      <div class="grid">
        <section aria-labelledby="counts-h">
          <h2 id="counts-h">Certificates</h2>
          <CountsTable counts={props.counts} />
        </section>
        <section aria-labelledby="expiring-h">
          <h2 id="expiring-h">Expiring within 30 days</h2>
          <ExpiringTable items={props.expiring.items} now={props.now} />
          <p>
            <a href={props.expiringLink}>All expiring certificates</a>
            {props.expiring.more ? <span class="muted"> (the soonest {EXPIRING_SHOWN} are shown)</span> : null}
          </p>
        </section>
      </div>
      <h2>Recent activity</h2>
      <AuditTable rows={props.activity} label="Recent activity" />
      <p>
        <a href="/audit">The whole audit log</a>
      </p>
    </>
  );
}

export function dashboardPages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();

  app.get('/', async (c) => {
    const now = authority.now();
    const expiresBefore = new Date(now.getTime() + EXPIRING_WINDOW_MS);
    const [issuers, counts, expiring, activity] = await Promise.all([
      Promise.all(authority.issuers().map(async (issuer) => ({ issuer, crl: await authority.crlHeader(issuer) }))),
      authority.certificateCounts(),
      authority.listCertificates({ status: 'active', sort: 'expiry', expiresBefore, limit: EXPIRING_SHOWN }),
      authority.listAudit({ limit: ACTIVITY_SHOWN }),
    ]);
    const expiringLink = `/certificates?${new URLSearchParams({ status: 'active', sort: 'expiry', expiresBefore: expiresBefore.toISOString().slice(0, 10) })}`;
    return page(
      c,
      'Dashboard',
      <Dashboard
        issuers={issuers}
        counts={counts}
        expiring={{ items: expiring.items, more: expiring.nextCursor !== null }}
        expiringLink={expiringLink}
        activity={activity}
        now={now}
      />,
      { section: '/' },
    );
  });

  return app;
}

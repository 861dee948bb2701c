/** @jsxImportSource hono/jsx */
/** The revocation flow's pages: the confirmation listing exactly what will be revoked with the reason chooser, and the result with the CRLs. */
import { REVOKE_REASONS, type RevokeReason } from '@anvil/pki';
import type { CertificateRecord } from '@anvil/ca';
import { FormError, Notice, StatusBadge, DataTable, Time, type FieldErrors } from './components.tsx';
import { Csrf } from './layout.tsx';

/** Each reason Anvil accepts, in plain words. */
export const REASON_WORDS: Record<RevokeReason, string> = {
  keyCompromise: 'The private key may be known to someone else (stolen, leaked, lost device). Final.',
  superseded: 'Replaced by a new certificate; the old one is no longer needed. Final.',
  cessationOfOperation: 'The service or partner no longer operates. Final.',
  affiliationChanged: "The holder's organisation or relationship with you changed (e.g. a partner left). Final.",
  privilegeWithdrawn: 'The holder is no longer allowed what the certificate grants. Final.',
  certificateHold: 'Temporarily suspended: the certificate can be released later and becomes valid again.',
  cACompromise: 'The issuing CA key may be compromised (rare; say so only when it is). Final.',
  unspecified: 'None of the above, or you prefer not to say. Final.',
};

/** The order the chooser shows: the common reasons first. */
const REASON_ORDER: RevokeReason[] = [
  'keyCompromise',
  'superseded',
  'cessationOfOperation',
  'affiliationChanged',
  'privilegeWithdrawn',
  'certificateHold',
  'cACompromise',
  'unspecified',
].filter((r): r is RevokeReason => (REVOKE_REASONS as readonly string[]).includes(r));

export interface RevocationItem {
  record: CertificateRecord;
  issuerName: string;
}

function ItemTable(props: { items: RevocationItem[]; label: string; now: Date; withStatus?: boolean; changedIds?: Set<string> }) {
  return (
    <DataTable
      label={props.label}
      columns={[
        'Subject',
        'Serial',
        'Issuer',
        'Expires',
        props.withStatus ? 'Status' : null,
        props.changedIds ? 'This confirmation' : null,
      ]}
    >
      {props.items.map(({ record: r, issuerName }) => (
        <tr>
          <td>
            <a href={`/certificates/${r.id}`}>{r.commonName ?? '(no common name)'}</a>
            <div class="muted mono">{r.subject}</div>
          </td>
          <td class="mono">{r.serial}</td>
          <td>{issuerName}</td>
          <td>
            <Time at={r.notAfter} relative />
          </td>
          {props.withStatus ? (
            <td>
              <StatusBadge status={r.status} reason={r.revocationReason} notAfter={r.notAfter} now={props.now} />
            </td>
          ) : null}
          {props.changedIds ? <td>{props.changedIds.has(r.id) ? 'revoked now' : 'was already revoked: changed nothing'}</td> : null}
        </tr>
      ))}
    </DataTable>
  );
}

export interface ReviewProps {
  csrf: string;
  items: RevocationItem[];
  /** Selected or matched, but not active (already revoked) or unknown: left out of the list. */
  skipped: number;
  /** The search matched more than the cap: only the first `items.length` are here. */
  capped: boolean;
  reason?: string;
  errors?: FieldErrors;
  message?: string;
  now: Date;
}

export function ReviewPage(p: ReviewProps) {
  const n = p.items.length;
  const error = p.errors?.reason;
  return (
    <>
      <h1>
        Revoke {n} certificate{n === 1 ? '' : 's'}?
      </h1>
      <FormError message={p.message} />
      <Notice kind="warn">
        Revocation takes effect at once in the CRL and OCSP. Only a revocation with the reason <em>certificateHold</em> can be undone.
      </Notice>
      {p.capped ? (
        <Notice kind="warn">
          The search matches more than {n} active certificates: this review holds the first {n} only. Confirm these, then review the search
          again for the rest (or narrow it).
        </Notice>
      ) : null}
      {p.skipped ? (
        <p class="muted">
          {p.skipped} selected certificate{p.skipped === 1 ? ' is' : 's are'} not active (already revoked) or unknown, and left out.
        </p>
      ) : null}
      <p>{n === 1 ? 'Exactly this certificate will be revoked:' : `Exactly these ${n} certificates will be revoked:`}</p>
      <ItemTable items={p.items} label="Certificates to revoke" now={p.now} />
      <form method="post" action="/revoke/confirm" class="stack">
        <Csrf token={p.csrf} />
        {p.items.map((i) => (
          <input type="hidden" name="id" value={i.record.id} />
        ))}
        <fieldset class="field reasons" aria-describedby={error ? 'reason-error' : undefined}>
          <legend>Reason (RFC 5280)</legend>
          {error ? (
            <span class="error" id="reason-error">
              {error}
            </span>
          ) : null}
          {REASON_ORDER.map((r) => (
            <label>
              <input type="radio" name="reason" value={r} checked={p.reason === r} /> {r}
              <span class="help">{REASON_WORDS[r]}</span>
            </label>
          ))}
        </fieldset>
        <div class="actions">
          <button type="submit" class="danger">
            Confirm: revoke {n} certificate{n === 1 ? '' : 's'}
          </button>
          <a href="/certificates">Cancel, revoke nothing</a>
        </div>
      </form>
    </>
  );
}

export function NothingSelectedPage(props: { message?: string }) {
  return (
    <>
      <h1>Nothing selected</h1>
      <p>{props.message ?? 'No active certificate was selected, or the search matched none. Nothing was revoked.'}</p>
      <p>
        <a href="/certificates">Back to the certificates</a>
      </p>
    </>
  );
}

export interface CrlLine {
  issuerName: string;
  number: bigint;
  thisUpdate: Date;
  url: string;
}

export function ResultPage(p: { items: RevocationItem[]; changed: Set<string>; crls: CrlLine[]; now: Date }) {
  const now = p.items.filter((i) => p.changed.has(i.record.id));
  const before = p.items.filter((i) => !p.changed.has(i.record.id));
  return (
    <>
      <h1>Revocation result</h1>
      {now.length === 0 ? (
        <Notice kind="warn">
          This confirmation changed nothing: {before.length === 1 ? 'the certificate was' : `all ${before.length} certificates were`}{' '}
          already revoked (by an earlier confirmation, or another operator).
        </Notice>
      ) : (
        <Notice kind="ok">
          Revoked {now.length} certificate{now.length === 1 ? '' : 's'} now.
          {before.length ? ` ${before.length} ${before.length === 1 ? 'was' : 'were'} already revoked: changed nothing.` : ''}
        </Notice>
      )}
      {now.length ? (
        <>
          <h2>Revoked now ({now.length})</h2>
          <ItemTable items={now} label="Revoked by this confirmation" now={p.now} withStatus />
        </>
      ) : null}
      {before.length ? (
        <>
          <h2>Already revoked, changed nothing ({before.length})</h2>
          <ItemTable items={before} label="Already revoked before this confirmation" now={p.now} withStatus />
        </>
      ) : null}
      <h2>Certificate revocation lists</h2>
      <ul>
        {p.crls.map((crl) => (
          <li>
            Issuer {crl.issuerName}: CRL number <strong>{crl.number.toString()}</strong> (signed <Time at={crl.thisUpdate} />) now contains
            them. <a href={crl.url}>Download {crl.issuerName}.crl</a>
          </li>
        ))}
      </ul>
      <p>
        <a href="/certificates">Back to the certificates</a>
      </p>
    </>
  );
}

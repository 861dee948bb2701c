/** @jsxImportSource hono/jsx */
/** The certificate list page: the search and filter form, the table (with selection for revocation when allowed) and the pager. */
import type { CertificateRecord } from '@anvil/ca';
import { binder, DataTable, Field, FormError, Pager, Select, StatusBadge, Time, sansText, type FieldErrors } from './components.tsx';
import { Csrf } from './layout.tsx';

/** The list's filters exactly as the user wrote them (kept when one is wrong). */
export interface CertificateFilterValues {
  q: string;
  status: string;
  profile: string;
  issuer: string;
  expiresBefore: string;
  sort: string;
}

export interface CertificateRow {
  record: CertificateRecord;
  issuerName: string;
}

export interface CertificateListProps {
  csrf: string;
  filters: CertificateFilterValues;
  errors: FieldErrors;
  /** The message at the top of the form when a filter (or the cursor) is wrong. */
  message?: string;
  profiles: string[];
  issuers: string[];
  rows: CertificateRow[] | null;
  nextCursor: string | null;
  firstPage: boolean;
  /** Operator or admin: checkboxes and the review buttons. */
  canRevoke: boolean;
  now: Date;
}

/** The organisation (O=) of a one-line subject, if any. */
export function organisationOf(subject: string): string | null {
  const m = /(?:^|,\s*)O=((?:\\.|[^,\\])+)/.exec(subject);
  return m ? m[1].replace(/\\(.)/g, '$1') : null;
}

/** A hex serial as openssl prints it: upper case, colon separated. */
export function colonHex(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? [hex]).join(':');
}

type Option = { value: string; label: string };

const STATUS_OPTIONS: Option[] = [
  { value: '', label: 'Any status' },
  { value: 'active', label: 'Active' },
  { value: 'revoked', label: 'Revoked' },
];

const SORT_OPTIONS: Option[] = [
  { value: '', label: 'Newest first' },
  { value: 'expiry', label: 'Soonest expiry first' },
];

/** "Any …" first, then each name as itself. */
function anyOf(any: string, names: string[]): Option[] {
  return [{ value: '', label: any }, ...names.map((n) => ({ value: n, label: n }))];
}

/** A filter's select: its options, plus the written value when it is not among them (so a wrong value is shown again). */
function FilterSelect(props: { name: keyof CertificateFilterValues; label: string; options: Option[]; list: CertificateListProps }) {
  const value = props.list.filters[props.name];
  const known = !value || props.options.some((o) => o.value === value);
  const options = known ? props.options : [...props.options, { value, label: `${value} (unknown)` }];
  return <Select name={props.name} label={props.label} value={value} errors={props.list.errors} options={options} />;
}

function Filters(props: CertificateListProps) {
  const bind = binder(props.filters, props.errors);
  return (
    <form method="get" action="/certificates" class="panel" aria-label="Search certificates">
      <FormError message={props.message} />
      <div class="filters">
        <div class="wide">
          <Field
            {...bind('q')}
            label="Search"
            type="search"
            inputmode="search"
            help="Common name, organisation, DNS name or other SAN, serial (with or without colons) or SHA-256 fingerprint."
          />
        </div>
        <FilterSelect list={props} name="status" label="Status" options={STATUS_OPTIONS} />
        <FilterSelect list={props} name="profile" label="Profile" options={anyOf('Any profile', props.profiles)} />
        <FilterSelect list={props} name="issuer" label="Issuer" options={anyOf('Any issuer', props.issuers)} />
        <Field {...bind('expiresBefore')} label="Expires before" type="date" help="YYYY-MM-DD (UTC)" />
        <FilterSelect list={props} name="sort" label="Order" options={SORT_OPTIONS} />
        <div>
          <button type="submit">Search</button>
        </div>
      </div>
    </form>
  );
}

function Table(props: CertificateListProps & { rows: CertificateRow[] }) {
  return (
    <DataTable
      label="Certificates found"
      caption={`Certificates${props.canRevoke ? ', with a checkbox to select each active one for revocation' : ''}`}
      columns={[props.canRevoke ? 'Select' : null, 'Subject', 'Names (SAN)', 'Profile', 'Issuer', 'Serial', 'Status', 'Expires']}
    >
      {props.rows.map(({ record: r, issuerName }) => {
        const cn = r.commonName ?? '(no common name)';
        const o = organisationOf(r.subject);
        return (
          <tr>
            {props.canRevoke ? (
              <td>
                {r.status === 'active' ? (
                  <>
                    <input type="checkbox" name="id" value={r.id} id={`sel-${r.id}`} />
                    <label for={`sel-${r.id}`} class="sr-only">
                      Select {cn} {r.serial}
                    </label>
                  </>
                ) : null}
              </td>
            ) : null}
            <td>
              <a href={`/certificates/${r.id}`}>{cn}</a>
              {o ? <div class="muted">{o}</div> : null}
            </td>
            <td class="mono">{sansText(r.sans) || <span class="muted">none</span>}</td>
            <td>{r.profile}</td>
            <td>{issuerName}</td>
            <td class="mono">{r.serial}</td>
            <td>
              <StatusBadge status={r.status} reason={r.revocationReason} notAfter={r.notAfter} now={props.now} />
            </td>
            <td>
              <Time at={r.notAfter} relative />
            </td>
          </tr>
        );
      })}
    </DataTable>
  );
}

export function CertificateListPage(props: CertificateListProps) {
  const f = props.filters;
  const rows = props.rows;
  const params = { q: f.q, status: f.status, profile: f.profile, issuer: f.issuer, expiresBefore: f.expiresBefore, sort: f.sort };
  return (
    <>
      <h1>Certificates</h1>
      <Filters {...props} />
      {rows === null ? null : rows.length === 0 ? (
        <p>No certificate matches{props.firstPage ? '' : ' on this page'}.</p>
      ) : props.canRevoke ? (
        <form method="post" action="/revoke/review">
          <Csrf token={props.csrf} />
          {/* The search, for "every active certificate of this search" (always active ones only). */}
          <input type="hidden" name="q" value={f.q} />
          <input type="hidden" name="profile" value={f.profile} />
          <input type="hidden" name="issuer" value={f.issuer} />
          <input type="hidden" name="expiresBefore" value={f.expiresBefore} />
          <Table {...props} rows={rows} />
          <div class="actions">
            <button type="submit" class="secondary">
              Review revocation of selected
            </button>
            <button type="submit" class="secondary" name="all" value="1">
              Review revocation of every active certificate of this search
            </button>
          </div>
          <p class="muted">Nothing is revoked yet: the next page lists exactly what will be revoked and asks for the reason.</p>
        </form>
      ) : (
        <Table {...props} rows={rows} />
      )}
      {rows === null ? null : <Pager base="/certificates" params={params} next={props.nextCursor} first={props.firstPage} />}
    </>
  );
}

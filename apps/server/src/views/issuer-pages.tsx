/** @jsxImportSource hono/jsx */
/** The console's issuer pages: the hierarchy with each CRL's state, and one issuer's details, chain, downloads and CRL re-signing. */
import { DataTable, KvRow, KvTable, Notice, Time } from './components.tsx';
import { Csrf } from './layout.tsx';

export interface CrlState {
  number: string;
  thisUpdate: Date;
  nextUpdate: Date;
  /** fresh; stale: past half its validity (due for re-signing); expired: past nextUpdate. */
  freshness: 'fresh' | 'stale' | 'expired';
}

export interface IssuerSummary {
  name: string;
  kind: 'root' | 'intermediate';
  status: string;
  subject: string;
  keyAlgorithm: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  parent: string | null;
  crl: CrlState | null;
}

function CrlBadge(props: { crl: CrlState | null }) {
  const crl = props.crl;
  if (!crl) return <span class="badge warn">no CRL yet</span>;
  if (crl.freshness === 'expired') return <span class="badge bad">expired</span>;
  if (crl.freshness === 'stale') return <span class="badge warn">due for re-signing</span>;
  return <span class="badge ok">fresh</span>;
}

/** An issuer that is not active says so (revoked, retired), after a space. */
function IssuerStatus(props: { status: string }) {
  return props.status === 'active' ? null : (
    <>
      {' '}
      <span class="badge bad">{props.status}</span>
    </>
  );
}

const issuerHref = (name: string) => `/issuers/${encodeURIComponent(name)}`;

/** The files of an issuer, each as a download button. */
const DOWNLOADS = [
  { path: (n: string) => `/pki/issuers/${n}.crt`, label: 'Certificate (DER)' },
  { path: (n: string) => `/pki/issuers/${n}.pem`, label: 'Certificate (PEM)' },
  { path: (n: string) => `/pki/issuers/${n}/chain.pem`, label: 'Chain (PEM)' },
  { path: (n: string) => `/pki/crl/${n}.crl`, label: 'CRL (DER)' },
];

export function IssuerList(props: { issuers: IssuerSummary[] }) {
  return (
    <>
      <h1>Issuers</h1>
      <p class="muted">
        The certificate authorities of this Anvil. Clients trust the roots (<a href="/pki/trust-bundle.pem">trust-bundle.pem</a>).
      </p>
      <DataTable label="Issuers" columns={['Name', 'Kind', 'Subject', 'Key', 'Valid until', 'Parent', 'CRL']}>
        {props.issuers.map((i) => (
          <tr>
            <td>
              <a href={issuerHref(i.name)}>{i.name}</a>
              <IssuerStatus status={i.status} />
            </td>
            <td>{i.kind}</td>
            <td class="mono">{i.subject}</td>
            <td>{i.keyAlgorithm}</td>
            <td>
              <Time at={i.notAfter} relative />
            </td>
            <td>{i.parent ? <a href={issuerHref(i.parent)}>{i.parent}</a> : <span class="muted">—</span>}</td>
            <td>
              {i.crl ? (
                <>
                  number <span class="mono">{i.crl.number}</span>, next update <Time at={i.crl.nextUpdate} relative />{' '}
                </>
              ) : null}
              <CrlBadge crl={i.crl} />
            </td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}

export function IssuerDetail(props: {
  csrf: string;
  issuer: IssuerSummary;
  /** From this issuer up to its root. */
  chain: Array<{ name: string; subject: string; kind: string }>;
  /** The user's role may re-sign the CRL. */
  canResign: boolean;
  /** The CRL number just signed by "Re-sign CRL now". */
  resigned?: string;
}) {
  const i = props.issuer;
  const name = encodeURIComponent(i.name);
  return (
    <>
      <h1>Issuer {i.name}</h1>
      {props.resigned ? <Notice kind="ok">The CRL was re-signed: CRL number {props.resigned}.</Notice> : null}
      <KvTable label="Issuer">
        <KvRow label="Kind">
          {i.kind}
          <IssuerStatus status={i.status} />
        </KvRow>
        <KvRow label="Subject" class="mono">
          {i.subject}
        </KvRow>
        <KvRow label="Key algorithm">{i.keyAlgorithm}</KvRow>
        <KvRow label="Serial" class="mono">
          {i.serial}
        </KvRow>
        <KvRow label="Valid from">
          <Time at={i.notBefore} />
        </KvRow>
        <KvRow label="Valid until">
          <Time at={i.notAfter} relative />
        </KvRow>
        <KvRow label="Parent">{i.parent ? <a href={issuerHref(i.parent)}>{i.parent}</a> : 'none (a root)'}</KvRow>
      </KvTable>

      <h2>Chain</h2>
      <ol class="chain">
        {props.chain.map((link) => (
          <li>
            <a href={issuerHref(link.name)}>{link.name}</a> ({link.kind}) <span class="mono muted">{link.subject}</span>
          </li>
        ))}
      </ol>

      <h2>Downloads</h2>
      <ul class="downloads">
        {DOWNLOADS.map((d) => (
          <li>
            <a class="button secondary" href={d.path(name)}>
              {d.label}
            </a>
          </li>
        ))}
      </ul>

      <h2>Gateway configuration</h2>
      <p>
        <a href={`/issuers/${name}/gateway/nginx`}>Gateway configuration</a> for nginx, HAProxy, Envoy, Kong, Caddy or Traefik: verify this
        issuer's client certificates and pass the identity to the backend.
      </p>

      <h2>Certificate revocation list</h2>
      <KvTable label="CRL">
        <KvRow label="State">
          <CrlBadge crl={i.crl} />
        </KvRow>
        <KvRow label="CRL number" class="mono">
          {i.crl?.number ?? '—'}
        </KvRow>
        <KvRow label="This update">
          <Time at={i.crl?.thisUpdate} relative />
        </KvRow>
        <KvRow label="Next update">
          <Time at={i.crl?.nextUpdate} relative />
        </KvRow>
      </KvTable>
      <p class="muted">Anvil re-signs each CRL once half its validity has passed, and after every revocation.</p>
      {props.canResign ? (
        <form method="post" action={`/issuers/${name}/crl`} class="inline">
          <Csrf token={props.csrf} />
          <button type="submit">Re-sign CRL now</button>
        </form>
      ) : null}
    </>
  );
}

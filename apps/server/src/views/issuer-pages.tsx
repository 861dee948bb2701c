/** @jsxImportSource hono/jsx */
/** The console's issuer pages: the hierarchy with each CRL's state, and one issuer's details, chain, downloads and CRL re-signing. */
import { Notice, Time, TableRegion } from './components.tsx';
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

const issuerHref = (name: string) => `/issuers/${encodeURIComponent(name)}`;

export function IssuerList(props: { issuers: IssuerSummary[] }) {
  return (
    <>
      <h1>Issuers</h1>
      <p class="muted">
        The certificate authorities of this Anvil. Clients trust the roots (<a href="/pki/trust-bundle.pem">trust-bundle.pem</a>).
      </p>
      <TableRegion label="Issuers">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Subject</th>
              <th scope="col">Key</th>
              <th scope="col">Valid until</th>
              <th scope="col">Parent</th>
              <th scope="col">CRL</th>
            </tr>
          </thead>
          <tbody>
            {props.issuers.map((i) => (
              <tr>
                <td>
                  <a href={issuerHref(i.name)}>{i.name}</a>
                  {i.status !== 'active' ? (
                    <>
                      {' '}
                      <span class="badge bad">{i.status}</span>
                    </>
                  ) : null}
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
          </tbody>
        </table>
      </TableRegion>
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
      <TableRegion label="Issuer">
        <table class="kv">
          <tbody>
            <tr>
              <th scope="row">Kind</th>
              <td>
                {i.kind}
                {i.status !== 'active' ? (
                  <>
                    {' '}
                    <span class="badge bad">{i.status}</span>
                  </>
                ) : null}
              </td>
            </tr>
            <tr>
              <th scope="row">Subject</th>
              <td class="mono">{i.subject}</td>
            </tr>
            <tr>
              <th scope="row">Key algorithm</th>
              <td>{i.keyAlgorithm}</td>
            </tr>
            <tr>
              <th scope="row">Serial</th>
              <td class="mono">{i.serial}</td>
            </tr>
            <tr>
              <th scope="row">Valid from</th>
              <td>
                <Time at={i.notBefore} />
              </td>
            </tr>
            <tr>
              <th scope="row">Valid until</th>
              <td>
                <Time at={i.notAfter} relative />
              </td>
            </tr>
            <tr>
              <th scope="row">Parent</th>
              <td>{i.parent ? <a href={issuerHref(i.parent)}>{i.parent}</a> : 'none (a root)'}</td>
            </tr>
          </tbody>
        </table>
      </TableRegion>

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
        <li>
          <a class="button secondary" href={`/pki/issuers/${name}.crt`}>
            Certificate (DER)
          </a>
        </li>
        <li>
          <a class="button secondary" href={`/pki/issuers/${name}.pem`}>
            Certificate (PEM)
          </a>
        </li>
        <li>
          <a class="button secondary" href={`/pki/issuers/${name}/chain.pem`}>
            Chain (PEM)
          </a>
        </li>
        <li>
          <a class="button secondary" href={`/pki/crl/${name}.crl`}>
            CRL (DER)
          </a>
        </li>
      </ul>

      <h2>Certificate revocation list</h2>
      <TableRegion label="CRL">
        <table class="kv">
          <tbody>
            <tr>
              <th scope="row">State</th>
              <td>
                <CrlBadge crl={i.crl} />
              </td>
            </tr>
            <tr>
              <th scope="row">CRL number</th>
              <td class="mono">{i.crl?.number ?? '—'}</td>
            </tr>
            <tr>
              <th scope="row">This update</th>
              <td>
                <Time at={i.crl?.thisUpdate} relative />
              </td>
            </tr>
            <tr>
              <th scope="row">Next update</th>
              <td>
                <Time at={i.crl?.nextUpdate} relative />
              </td>
            </tr>
          </tbody>
        </table>
      </TableRegion>
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

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
  /** Permitted / excluded subtrees of a name-constrained intermediate (lists by type: dns, ip, uri, email). */
  nameConstraints?: { permitted: Record<string, string[]>; excluded: Record<string, string[]> } | null;
  /** When a rotation retired it. */
  retiredAt?: Date | null;
}

/** One side of the name constraints as "dns: a, b; ip: c", or "none". */
function subtreeText(list: Record<string, string[]>): string {
  // In a fixed order: the database's jsonb keeps keys in its own.
  const parts = ['dns', 'ip', 'uri', 'email'].filter((type) => list[type]?.length).map((type) => `${type}: ${list[type].join(', ')}`);
  return parts.length ? parts.join('; ') : 'none';
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
  { path: (n: string) => `/pki/issuers/${n}/cross-chain.pem`, label: 'Chain with cross-certificates (PEM)' },
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
        {i.retiredAt ? (
          <KvRow label="Retired">
            <Time at={i.retiredAt} /> (issues nothing more; still publishes its CRL and OCSP answers)
          </KvRow>
        ) : null}
        {i.nameConstraints ? (
          <>
            <KvRow label="Permitted names" class="mono">
              {subtreeText(i.nameConstraints.permitted)}
            </KvRow>
            <KvRow label="Excluded names" class="mono">
              {subtreeText(i.nameConstraints.excluded)}
            </KvRow>
          </>
        ) : null}
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

/** What the import form keeps on a refusal (never the key or its passphrase: those are typed again). */
export interface ImportDraft {
  name: string;
  certificate: string;
  chain: string;
}

/** The form that imports an existing CA (issue 14 item 2); posts to /issuers/import with the CSRF token. */
export function ImportIssuerForm(props: { csrf: string; draft?: ImportDraft; error?: { code: string; message: string } }) {
  const d = props.draft ?? { name: '', certificate: '', chain: '' };
  return (
    <section aria-labelledby="import-heading">
      <h2 id="import-heading">Import an existing CA</h2>
      <p class="muted">
        A CA certificate and its PKCS#8 private key (PEM, encrypted PEM with its passphrase, or base64 DER). A self-signed one becomes a
        root; any other an intermediate under the issuer that signed it, or under the root pasted as its chain (then trusted as an external
        root). When the key is already on the PKCS#11 token, leave the key empty: the token's key whose public key is the certificate's is
        used, or the one a key reference names.
      </p>
      {props.error ? (
        <Notice kind="bad">
          Nothing was imported: {props.error.message} (<code>{props.error.code}</code>)
        </Notice>
      ) : null}
      <form method="post" action="/issuers/import">
        <Csrf token={props.csrf} />
        <p>
          <label for="import-name">Name</label>
          <input id="import-name" name="name" required value={d.name} pattern="[a-z0-9][a-z0-9\-]{0,62}" autocomplete="off" />
        </p>
        <p>
          <label for="import-certificate">CA certificate (PEM)</label>
          <textarea id="import-certificate" name="certificate" rows={8} required spellcheck={false}>
            {d.certificate}
          </textarea>
        </p>
        <p>
          <label for="import-key">Private key (PKCS#8)</label>
          <textarea id="import-key" name="privateKey" rows={6} spellcheck={false} autocomplete="off" />
        </p>
        <p>
          <label for="import-key-ref">Or: key on the PKCS#11 token (optional pkcs11: URI)</label>
          <input id="import-key-ref" name="keyRef" autocomplete="off" spellcheck={false} placeholder="pkcs11:token=…;object=…;id=%01" />
        </p>
        <p>
          <label for="import-passphrase">Passphrase of an encrypted key</label>
          <input id="import-passphrase" name="passphrase" type="password" autocomplete="off" />
        </p>
        <p>
          <label for="import-chain">Chain up to the root (PEM, optional when Anvil has the issuer)</label>
          <textarea id="import-chain" name="chain" rows={6} spellcheck={false}>
            {d.chain}
          </textarea>
        </p>
        <button type="submit">Import</button>
      </form>
    </section>
  );
}

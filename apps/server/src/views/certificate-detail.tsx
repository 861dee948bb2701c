/** @jsxImportSource hono/jsx */
/** One certificate's page: every decoded field in plain words, the live OCSP status, downloads, revoke/release and its audit history. */
import type { AuditRecord, CertificateRecord } from '@anvil/ca';
import type { CertificateInfo } from '@anvil/pki';
import { Notice, StatusBadge, DataTable, KvRow, KvTable, Time, sansText } from './components.tsx';
import { Csrf } from './layout.tsx';
import { colonHex } from './certificate-list.tsx';

/** What the live OCSP answer said (or why it could not be asked). */
export interface LiveOcspStatus {
  status: 'good' | 'revoked' | 'unknown' | 'error';
  revokedAt?: Date;
  reason?: string;
  thisUpdate?: Date;
  nextUpdate?: Date;
  message?: string;
}

export interface ChainLink {
  name: string;
  kind: string;
  subject: string;
  notAfter: Date;
}

export interface CertificateDetailProps {
  csrf: string;
  record: CertificateRecord;
  issuerName: string;
  info: CertificateInfo;
  fingerprintSha1: string;
  keyAlgorithm: string;
  basicConstraints: string;
  crlUrls: string[];
  ocspUrls: string[];
  caIssuerUrls: string[];
  /** The leaf's issuer first, up to the root. */
  chain: ChainLink[];
  ocsp: LiveOcspStatus;
  audit: AuditRecord[];
  canRevoke: boolean;
  notice?: string;
  now: Date;
}

/** The downloads the console serves (as the API names them). */
export const CERTIFICATE_DOWNLOADS = [
  ['cert.pem', 'The certificate (PEM)'],
  ['chain.pem', 'The intermediates (PEM)'],
  ['fullchain.pem', 'The certificate and its intermediates (PEM), what most servers want'],
  ['cert.der', 'The certificate (DER, binary)'],
  ['bundle.p7b', 'PKCS#7 bundle: the certificate and its intermediates (DER, for Windows and Java)'],
  ['bundle.p7b.pem', 'The same PKCS#7 bundle in PEM'],
  ['secret.yaml', 'Kubernetes TLS Secret (without tls.key: Anvil never keeps private keys)'],
] as const;

const KEY_USAGE_WORDS: Record<string, string> = {
  digitalSignature: 'digital signature',
  nonRepudiation: 'non-repudiation (content commitment)',
  keyEncipherment: 'key encipherment',
  dataEncipherment: 'data encipherment',
  keyAgreement: 'key agreement',
  keyCertSign: 'signing certificates',
  cRLSign: 'signing CRLs',
  encipherOnly: 'encipher only',
  decipherOnly: 'decipher only',
};

const EKU_WORDS: Record<string, string> = {
  serverAuth: 'TLS server authentication',
  clientAuth: 'TLS client authentication',
  codeSigning: 'code signing',
  emailProtection: 'e-mail protection',
  timeStamping: 'time stamping',
  ocspSigning: 'signing OCSP responses',
};

const words = (names: string[], table: Record<string, string>) =>
  names.length ? names.map((n) => (table[n] ? `${table[n]} (${n})` : n)).join(', ') : 'none';

function Urls(props: { urls: string[] }) {
  if (props.urls.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="plain">
      {props.urls.map((u) => (
        <li class="mono">{u}</li>
      ))}
    </ul>
  );
}

function OcspLine(props: { ocsp: LiveOcspStatus }) {
  const o = props.ocsp;
  if (o.status === 'error') return <span class="badge warn">could not be asked: {o.message}</span>;
  return (
    <>
      <span class={`badge ${o.status === 'good' ? 'ok' : o.status === 'revoked' ? 'bad' : 'warn'}`}>{o.status}</span>
      {o.status === 'revoked' ? (
        <>
          {' '}
          since <Time at={o.revokedAt} /> (reason: {o.reason ?? 'unspecified'})
        </>
      ) : null}
      {o.thisUpdate ? (
        <div class="muted">
          Answer produced <Time at={o.thisUpdate} />
          {o.nextUpdate ? (
            <>
              , valid until <Time at={o.nextUpdate} />
            </>
          ) : null}
          .
        </div>
      ) : null}
    </>
  );
}

export function CertificateDetailPage(p: CertificateDetailProps) {
  const r = p.record;
  const title = r.commonName ?? r.serial;
  const held = r.status === 'revoked' && r.revocationReason === 'certificateHold';
  return (
    <>
      <h1>Certificate {title}</h1>
      {p.notice ? <Notice kind="ok">{p.notice}</Notice> : null}
      <p>
        <StatusBadge status={r.status} reason={r.revocationReason} notAfter={r.notAfter} now={p.now} />
        {r.revokedAt ? (
          <>
            {' '}
            Revoked <Time at={r.revokedAt} relative />.
          </>
        ) : null}
      </p>

      <h2>Fields</h2>
      <KvTable label="Certificate fields">
        <KvRow label="Subject" class="mono">
          {p.info.subject || '(empty)'}
        </KvRow>
        <KvRow label="Names (SAN)" class="mono">
          {sansText(p.info.sans) || 'none'}
        </KvRow>
        <KvRow label="Profile">{r.profile}</KvRow>
        <KvRow label="Key usage">{words(p.info.keyUsage, KEY_USAGE_WORDS)}</KvRow>
        <KvRow label="Extended key usage">{words(p.info.extendedKeyUsage, EKU_WORDS)}</KvRow>
        <KvRow label="Basic constraints">{p.basicConstraints}</KvRow>
        <KvRow label="Valid from">
          <Time at={r.notBefore} />
        </KvRow>
        <KvRow label="Valid until">
          <Time at={r.notAfter} relative />
        </KvRow>
        <KvRow label="Serial" class="mono">
          {r.serial}
          <div class="muted">{colonHex(r.serial)}</div>
        </KvRow>
        <KvRow label="SHA-256 fingerprint" class="mono">
          {colonHex(p.info.fingerprintSha256)}
        </KvRow>
        <KvRow label="SHA-1 fingerprint" class="mono">
          {p.fingerprintSha1}
        </KvRow>
        <KvRow label="Key algorithm">{p.keyAlgorithm}</KvRow>
        <KvRow label="Issuer" class="mono">
          {p.info.issuer}
        </KvRow>
        <KvRow label="CRL distribution points">
          <Urls urls={p.crlUrls} />
        </KvRow>
        <KvRow label="OCSP responders">
          <Urls urls={p.ocspUrls} />
        </KvRow>
        <KvRow label="CA issuers (AIA)">
          <Urls urls={p.caIssuerUrls} />
        </KvRow>
        <KvRow label="Requested by">{r.requestedBy ?? <span class="muted">unknown</span>}</KvRow>
        {r.supersededBy ? (
          <KvRow label="Renewed by">
            <a href={`/certificates/${r.supersededBy}`}>the newer certificate</a>
          </KvRow>
        ) : null}
      </KvTable>

      <h2>Live OCSP status</h2>
      <p>
        Asked of Anvil's OCSP responder just now, with a real OCSP request for this serial: <OcspLine ocsp={p.ocsp} />
      </p>

      <h2>Issuer chain</h2>
      <ol>
        {p.chain.map((link) => (
          <li>
            <a href={`/issuers/${link.name}`}>{link.name}</a> ({link.kind}) <span class="mono">{link.subject}</span>, valid until{' '}
            <Time at={link.notAfter} />
          </li>
        ))}
      </ol>

      <h2>Downloads</h2>
      <ul>
        {CERTIFICATE_DOWNLOADS.map(([file, what]) => (
          <li>
            <a href={`/certificates/${r.id}/download/${file}`} download={file}>
              {file}
            </a>{' '}
            <span class="muted">{what}</span>
          </li>
        ))}
      </ul>

      {p.canRevoke && (r.status === 'active' || held) ? (
        <>
          <h2>Revocation</h2>
          <div class="actions">
            {r.status === 'active' ? (
              <form method="post" action="/revoke/review">
                <Csrf token={p.csrf} />
                <input type="hidden" name="id" value={r.id} />
                <button type="submit" class="danger">
                  Review revocation of this certificate
                </button>
              </form>
            ) : null}
            {held ? (
              <form method="post" action={`/certificates/${r.id}/release`}>
                <Csrf token={p.csrf} />
                <button type="submit">Release from hold</button>
              </form>
            ) : null}
          </div>
          {held ? <p class="muted">Released, the certificate is valid again and leaves the CRL.</p> : null}
        </>
      ) : null}

      <h2>History</h2>
      {p.audit.length === 0 ? (
        <p class="muted">No audit entry names this certificate.</p>
      ) : (
        <DataTable label="Audit history of this certificate" columns={['When', 'Who', 'What', 'Outcome', 'Details']}>
          {p.audit.map((a) => (
            <tr>
              <td>
                <Time at={a.at} />
              </td>
              <td>{a.actor}</td>
              <td>{a.action}</td>
              <td>{a.outcome}</td>
              <td class="mono">{a.details ? JSON.stringify(a.details) : ''}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}

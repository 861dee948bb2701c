/** @jsxImportSource hono/jsx */
/**
 * The enrollment pages a partner sees without an account: what the invitation will issue and for
 * whom, the three ways to enrol (the `anvil` command, a pasted or uploaded CSR, a key made here),
 * the result with its downloads, and the refusal of a used, expired or withdrawn invitation.
 */
import { KEY_ALGORITHMS } from '@anvil/pki';
import {
  CodeBlock,
  Field,
  FormError,
  KvRow,
  KvTable,
  Notice,
  PasteOrUpload,
  Select,
  sansText,
  Time,
  type FieldErrors,
} from './components.tsx';
import type { DataDownload } from './issue-pages.tsx';
import { CertificateFacts, dataUrl } from './issue-pages.tsx';

export interface InvitationFacts {
  name: string;
  profile: string;
  /** What kind of certificate, in words ("a TLS client certificate"). */
  kind: string;
  subject: Record<string, string>;
  sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] } | null;
  sanPatterns: string[];
  ttlSeconds: number | null;
  expiresAt: Date;
}

function lifetimeText(seconds: number | null): string {
  if (seconds === null) return 'the profile’s default';
  if (seconds % 86400 === 0) return `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hours`;
  return `${seconds} seconds`;
}

/** The subject line an `openssl req -subj` would carry for this invitation (a CN the partner chooses when none is fixed). */
function subjArg(facts: InvitationFacts): string {
  const cn = facts.subject.CN ?? facts.sans?.dns[0] ?? facts.sans?.uri[0]?.split('/').pop() ?? 'your-service';
  return `/CN=${cn}`;
}

function sanArg(facts: InvitationFacts): string | null {
  const s = facts.sans;
  if (!s) return null;
  const parts = [
    ...s.dns.map((n) => `DNS:${n}`),
    ...s.ip.map((n) => `IP:${n}`),
    ...s.uri.map((n) => `URI:${n}`),
    ...s.email.map((n) => `email:${n}`),
  ];
  return parts.length ? parts.join(',') : null;
}

function InvitationTable(props: { facts: InvitationFacts }) {
  const f = props.facts;
  const subject = Object.entries(f.subject)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return (
    <KvTable label="What will be issued">
      <KvRow label="For">{f.name}</KvRow>
      <KvRow label="Certificate">
        {f.kind} (profile <code>{f.profile}</code>)
      </KvRow>
      <KvRow label="Subject" class="mono">
        {subject || 'the common name of your CSR'}
        {subject && !f.subject.CN ? ', with the common name of your CSR' : ''}
      </KvRow>
      <KvRow label="Names" class="mono">
        {f.sans ? sansText(f.sans) : `the names of your CSR, each matching one of: ${f.sanPatterns.join(', ')}`}
      </KvRow>
      <KvRow label="Valid for">{lifetimeText(f.ttlSeconds)}</KvRow>
      <KvRow label="Invitation expires">
        <Time at={f.expiresAt} relative />
      </KvRow>
    </KvTable>
  );
}

export function EnrollPage(props: {
  facts: InvitationFacts;
  url: string;
  values?: { csr?: string; keyAlgorithm?: string; commonName?: string };
  errors?: FieldErrors;
  message?: string;
}) {
  const f = props.facts;
  const san = sanArg(f);
  const opensslCommand = `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key.pem -out client.csr.pem -subj '${subjArg(f)}'${san ? ` -addext 'subjectAltName=${san}'` : ''}`;
  return (
    <>
      <h1>Certificate for {f.name}</h1>
      <p>
        You were invited to enrol for one certificate. This link works once: after the certificate is issued it shows only that it was used.
      </p>
      <FormError message={props.message} />
      <InvitationTable facts={f} />

      <section class="panel" aria-labelledby="cli-h">
        <h2 id="cli-h">With the anvil command (the key never leaves your machine)</h2>
        <CodeBlock>{`anvil enroll '${props.url}' --key client.key.pem --cert client.fullchain.pem`}</CodeBlock>
        <p class="muted">
          It makes the key, sends only a certificate request, and writes the key (mode 0600) and the full chain. Renew it later with{' '}
          <code>anvil renew --cert client.fullchain.pem --key client.key.pem</code>.
        </p>
      </section>

      <section class="panel" aria-labelledby="csr-h">
        <h2 id="csr-h">With a certificate request (CSR) you made</h2>
        <p>For example with OpenSSL:</p>
        <CodeBlock>{opensslCommand}</CodeBlock>
        <form method="post" enctype="multipart/form-data" class="stack">
          <input type="hidden" name="method" value="csr" />
          <PasteOrUpload
            name="csr"
            label="Certificate request (PEM)"
            value={props.values?.csr}
            rows={8}
            errors={props.errors}
            help="Paste the PEM, or choose the file below."
            upload={{ name: 'csrFile', label: 'Or upload the CSR file', accept: '.csr,.pem,.req,.der' }}
          />
          <div>
            <button type="submit">Request the certificate</button>
          </div>
        </form>
        <p class="muted">
          Without a browser: <code>{`curl --fail -H 'content-type: application/pkcs10' --data-binary @client.csr.pem '${props.url}'`}</code>{' '}
          answers with the full chain.
        </p>
      </section>

      <section class="panel" aria-labelledby="p12-h">
        <h2 id="p12-h">Or have the key made here, as a PKCS#12 file</h2>
        <p class="muted">The key is made for this answer and not kept: download it from the page that follows.</p>
        <form method="post" enctype="multipart/form-data" class="stack">
          <input type="hidden" name="method" value="generate" />
          <Select
            name="keyAlgorithm"
            label="Key algorithm"
            value={props.values?.keyAlgorithm ?? 'EC-P256'}
            options={KEY_ALGORITHMS.map((a) => ({ value: a, label: a }))}
            errors={props.errors}
          />
          {f.subject.CN ? null : (
            <Field
              name="commonName"
              label="Common name (CN)"
              value={props.values?.commonName ?? f.sans?.dns[0] ?? ''}
              errors={props.errors}
              autocomplete="off"
              help="The identity the certificate names; it must fit the names above."
            />
          )}
          <Field
            name="pkcs12Password"
            label="PKCS#12 password"
            type="password"
            autocomplete="new-password"
            errors={props.errors}
            required
            help="At least 8 characters; it protects the key inside the .p12 file."
          />
          <div>
            <button type="submit">Make the key and the certificate</button>
          </div>
        </form>
      </section>
    </>
  );
}

export function EnrollResult(props: {
  certificate: { subject: string; serial: string; sans: InvitationFacts['sans'] & object; notAfter: Date };
  secretDownloads: DataDownload[];
  publicDownloads: DataDownload[];
  fullchainUrl: string;
}) {
  const c = props.certificate;
  return (
    <>
      <h1>Certificate issued</h1>
      {props.secretDownloads.length ? (
        <Notice kind="warn">Download the PKCS#12 file now: this is the only time it is offered. Anvil keeps no copy of the key.</Notice>
      ) : (
        <Notice kind="ok">The certificate was issued for the key of your CSR.</Notice>
      )}
      <CertificateFacts subject={c.subject} sans={c.sans} serial={c.serial}>
        <KvRow label="Valid until">
          <Time at={c.notAfter} relative />
        </KvRow>
      </CertificateFacts>
      <ul class="downloads">
        {[...props.secretDownloads, ...props.publicDownloads].map((d) => (
          <li>
            <a href={dataUrl(d)} download={d.filename} class="button">
              {d.label}
            </a>
          </li>
        ))}
      </ul>
      <p class="muted">
        The full chain stays at <a href={props.fullchainUrl}>{props.fullchainUrl}</a> (no secret in it).
      </p>
    </>
  );
}

const GONE_TITLES: Record<string, string> = {
  invitation_used: 'This invitation was used',
  invitation_expired: 'This invitation has expired',
  invitation_revoked: 'This invitation was withdrawn',
  invitation_not_found: 'Unknown invitation',
};

/** A used, expired, withdrawn or unknown invitation: which one, and what to do. */
export function InvitationRefused(props: { code: string; message: string; fullchainUrl?: string }) {
  return (
    <>
      <h1>{GONE_TITLES[props.code] ?? 'Refused'}</h1>
      <p>{props.message}.</p>
      {props.fullchainUrl ? (
        <p>
          The certificate it issued: <a href={props.fullchainUrl}>fullchain.pem</a>.
        </p>
      ) : null}
      <p class="muted">
        Code <code>{props.code}</code>. Nothing was issued.
      </p>
    </>
  );
}

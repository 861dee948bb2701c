/** @jsxImportSource hono/jsx */
/** The console's issue form and its result page (the generated key, .p12 and Secret offered once, as data: downloads). */
import type { Child } from 'hono/jsx';
import { KEY_ALGORITHMS } from '@anvil/pki';
import {
  binder,
  Field,
  FormError,
  KvRow,
  KvTable,
  Notice,
  PasteOrUpload,
  Select,
  Time,
  sansText,
  type FieldErrors,
} from './components.tsx';
import { Csrf } from './layout.tsx';

/** What the issue form holds, as typed (shown again, kept, when the form is refused). */
export interface IssueFormValues {
  /** One-time token of this form: the Idempotency-Key of the issuance it asks for. */
  nonce: string;
  profile: string;
  keySource: 'generate' | 'csr';
  keyAlgorithm: string;
  csr: string;
  CN: string;
  O: string;
  dns: string;
  ip: string;
  uri: string;
  email: string;
  ttl: string;
  issuer: string;
  secretName: string;
  secretNamespace: string;
}

export function IssueForm(props: {
  csrf: string;
  values: IssueFormValues;
  profiles: Array<{ name: string; kind: string }>;
  issuers: Array<{ name: string; subject: string }>;
  errors?: FieldErrors;
  message?: string;
}) {
  const v = props.values;
  const errors = props.errors;
  const bind = binder(v, errors);
  return (
    <>
      <h1>Issue a certificate</h1>
      <FormError message={props.message} />
      <form method="post" action="/issue" enctype="multipart/form-data" class="stack">
        <Csrf token={props.csrf} />
        <input type="hidden" name="nonce" value={v.nonce} />
        <Select
          {...bind('profile')}
          label="Profile"
          options={props.profiles.map((p) => ({ value: p.name, label: `${p.name} (${p.kind})` }))}
          help="What the certificate is for: its key usages and the names it may carry."
        />

        <fieldset class="field">
          <legend>Key</legend>
          <div class="choices">
            <label>
              <input type="radio" name="keySource" value="generate" checked={v.keySource !== 'csr'} /> Generate a key for me (shown once,
              never stored)
            </label>
            <label>
              <input type="radio" name="keySource" value="csr" checked={v.keySource === 'csr'} /> Use my certificate signing request (the
              key stays with me)
            </label>
          </div>
          {errors?.keySource ? <span class="error">{errors.keySource}</span> : null}
        </fieldset>

        <Select
          name="keyAlgorithm"
          label="Key algorithm (generated key)"
          value={v.keyAlgorithm || 'EC-P256'}
          options={KEY_ALGORITHMS.map((a) => ({ value: a, label: a === 'EC-P256' ? `${a} (default)` : a }))}
          errors={errors}
        />
        <PasteOrUpload
          {...bind('csr')}
          label="Certificate signing request (PEM)"
          help="Paste it here, or upload it below (PEM or DER), e.g. from: openssl req -new -key key.pem -subj /CN=name"
          rows={6}
          upload={{ name: 'csrFile', label: 'or upload the CSR file', accept: '.csr,.pem,.der,.req' }}
        />

        <h2>Names</h2>
        <p class="muted">With a CSR, leave the names empty to take the CSR's. Separate several names with commas or spaces.</p>
        <Field {...bind('CN')} label="Common name (CN)" />
        <Field {...bind('O')} label="Organization (O)" />
        <Field {...bind('dns')} label="DNS names" placeholder="api.example.com, www.example.com" />
        <Field {...bind('ip')} label="IP addresses" placeholder="10.0.0.1" />
        <Field {...bind('uri')} label="URIs" placeholder="spiffe://prod.example/svc" />
        <Field {...bind('email')} label="Email addresses" inputmode="email" />

        <h2>Validity and issuer</h2>
        <Field
          {...bind('ttl')}
          label="Lifetime"
          help="Days (e.g. 90), or a duration such as 90d, 720h, 30m. Empty: the profile's default."
        />
        <Select
          {...bind('issuer')}
          label="Issuer"
          options={[
            { value: '', label: "The profile's (or Anvil's default)" },
            ...props.issuers.map((i) => ({ value: i.name, label: i.name })),
          ]}
        />

        <h2>Bundles (generated key only)</h2>
        <Field
          name="pkcs12Password"
          label="PKCS#12 password (optional)"
          type="password"
          autocomplete="new-password"
          help="Given: a .p12 file (AES-256) with the key, the certificate and its intermediates. Never kept; type it again if the form comes back."
          errors={errors}
        />
        <Field {...bind('secretName')} label="Kubernetes Secret name (optional)" />
        <Field {...bind('secretNamespace')} label="Kubernetes Secret namespace (optional)" />
        <div>
          <button type="submit">Issue</button>
        </div>
      </form>
    </>
  );
}

/** A file offered for download from the page itself (nothing kept on the server to fetch later). */
export interface DataDownload {
  label: string;
  filename: string;
  mediaType: string;
  bytes: Uint8Array | string;
}

export function dataUrl(d: DataDownload): string {
  const bytes = typeof d.bytes === 'string' ? Buffer.from(d.bytes, 'utf8') : Buffer.from(d.bytes);
  return `data:${d.mediaType};base64,${bytes.toString('base64')}`;
}

/** What an issued certificate is, as its answer page shows it first; `children` adds rows. */
export function CertificateFacts(props: {
  subject: string;
  sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] };
  serial: string;
  children?: Child;
}) {
  return (
    <KvTable label="Certificate">
      <KvRow label="Subject" class="mono">
        {props.subject || '—'}
      </KvRow>
      <KvRow label="Names" class="mono">
        {sansText(props.sans) || '—'}
      </KvRow>
      <KvRow label="Serial" class="mono">
        {props.serial}
      </KvRow>
      {props.children}
    </KvTable>
  );
}

export function IssueResult(props: {
  certificate: {
    id: string;
    subject: string;
    serial: string;
    issuer: string;
    profile: string;
    sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] };
    notBefore: Date;
    notAfter: Date;
    certificatePem: string;
  };
  /** Present only in the answer that generated the key. */
  privateKeyPem?: string;
  secretDownloads: DataDownload[];
  publicDownloads: DataDownload[];
  /** A resubmission of an already used form: the earlier certificate, no key. */
  replay?: { generatedKey: boolean };
}) {
  const c = props.certificate;
  return (
    <>
      <h1>{props.replay ? 'Certificate already issued' : 'Certificate issued'}</h1>
      {props.replay ? (
        <Notice kind="warn">
          This form was already submitted, and nothing new was issued: this is the certificate it issued.
          {props.replay.generatedKey ? ' The private key was shown once and is not kept; it cannot be shown again.' : ''}
        </Notice>
      ) : props.privateKeyPem ? (
        <Notice kind="warn">
          Save the private key now: this is the only time it is shown. Anvil keeps no copy, and reloading this page will not show it again.
        </Notice>
      ) : (
        <Notice kind="ok">The certificate was issued for the key of your CSR.</Notice>
      )}
      <CertificateFacts subject={c.subject} sans={c.sans} serial={c.serial}>
        <KvRow label="Profile">{c.profile}</KvRow>
        <KvRow label="Issuer">
          <a href={`/issuers/${encodeURIComponent(c.issuer)}`}>{c.issuer}</a>
        </KvRow>
        <KvRow label="Valid from">
          <Time at={c.notBefore} />
        </KvRow>
        <KvRow label="Valid until">
          <Time at={c.notAfter} relative />
        </KvRow>
      </CertificateFacts>
      <p>
        <a href={`/certificates/${c.id}`}>Open the certificate's page</a> (downloads, revocation) · <a href="/issue">Issue another</a>
      </p>

      {props.secretDownloads.length ? (
        <section aria-labelledby="once">
          <h2 id="once">Private key (shown once)</h2>
          <ul class="downloads">
            {props.secretDownloads.map((d) => (
              <li>
                <a href={dataUrl(d)} download={d.filename} class="button">
                  {d.label}
                </a>
              </li>
            ))}
          </ul>
          {props.privateKeyPem ? (
            <div class="field">
              <label for="private-key">Private key (PKCS#8 PEM)</label>
              <textarea id="private-key" readonly rows={8} spellcheck={false} autocomplete="off">
                {props.privateKeyPem}
              </textarea>
            </div>
          ) : null}
        </section>
      ) : null}

      <h2>Certificate</h2>
      <ul class="downloads">
        {props.publicDownloads.map((d) => (
          <li>
            <a href={dataUrl(d)} download={d.filename} class="button secondary">
              {d.label}
            </a>
          </li>
        ))}
      </ul>
      <div class="field">
        <label for="certificate-pem">Certificate (PEM)</label>
        <textarea id="certificate-pem" readonly rows={10} spellcheck={false}>
          {c.certificatePem}
        </textarea>
      </div>
    </>
  );
}

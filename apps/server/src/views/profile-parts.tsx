/** @jsxImportSource hono/jsx */
/** The console's profile views: a policy in plain words, and the create/edit form (data in, markup out). */
import { PROFILE_KINDS, type Profile } from '@anvil/ca';
import { binder, Field, FieldNotes, FormError, fieldIds, KvRow, Select, TextArea, type FieldErrors } from './components.tsx';
import { Csrf } from './layout.tsx';

/** A profile form as typed: strings and checked boxes, kept as they were when the save is refused. */
export interface ProfileForm {
  name: string;
  kind: string;
  sanTypes: string[];
  dnsSuffixes: string;
  allowWildcards: boolean;
  ipCidrs: string;
  uriPrefixes: string;
  emailDomains: string;
  keyAlgorithms: string[];
  minRsaBits: string;
  defaultTtl: string;
  maxTtl: string;
  issuer: string;
}

export const SAN_TYPES = [
  { value: 'dns', label: 'DNS names' },
  { value: 'ip', label: 'IP addresses' },
  { value: 'uri', label: 'URIs (e.g. SPIFFE IDs)' },
  { value: 'email', label: 'Email addresses' },
];

export const KEY_FAMILIES = [
  { value: 'EC-P256', label: 'EC P-256' },
  { value: 'EC-P384', label: 'EC P-384' },
  { value: 'RSA', label: 'RSA' },
  { value: 'Ed25519', label: 'Ed25519' },
];

export const KINDS = [
  { value: 'server', label: 'server (TLS server)' },
  { value: 'client', label: 'client (TLS client)' },
  { value: 'peer', label: 'peer (TLS server and client)' },
];

const USAGE_WORDS: Record<string, string> = {
  digitalSignature: 'digital signature',
  keyEncipherment: 'key encipherment',
  keyCertSign: 'certificate signing',
  cRLSign: 'CRL signing',
  serverAuth: 'TLS server authentication (serverAuth)',
  clientAuth: 'TLS client authentication (clientAuth)',
  ocspSigning: 'OCSP signing',
};

const SAN_WORDS: Record<string, string> = { dns: 'DNS', ip: 'IP', uri: 'URI', email: 'email' };

/** Seconds as the shortest exact duration a TTL field accepts: 90d, 12h, 30m, 45s. */
export function ttlText(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Seconds in words: "90 days", "12 hours". */
export function ttlWords(seconds: number): string {
  const [n, unit] =
    seconds % 86_400 === 0
      ? [seconds / 86_400, 'day']
      : seconds % 3600 === 0
        ? [seconds / 3600, 'hour']
        : seconds % 60 === 0
          ? [seconds / 60, 'minute']
          : [seconds, 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

export function formOfProfile(p: Profile): ProfileForm {
  const lines = (v: string[] | undefined) => (v ?? []).join('\n');
  return {
    name: p.name,
    kind: p.kind,
    sanTypes: [...p.policy.sanTypes],
    dnsSuffixes: lines(p.policy.dnsSuffixes),
    allowWildcards: p.policy.allowWildcards,
    ipCidrs: lines(p.policy.ipCidrs),
    uriPrefixes: lines(p.policy.uriPrefixes),
    emailDomains: lines(p.policy.emailDomains),
    keyAlgorithms: [...p.policy.keyAlgorithms],
    minRsaBits: String(p.policy.minRsaBits),
    defaultTtl: ttlText(p.policy.defaultTtl),
    maxTtl: ttlText(p.policy.maxTtl),
    issuer: p.policy.issuer ?? '',
  };
}

export const EMPTY_PROFILE_FORM: ProfileForm = {
  name: '',
  kind: 'server',
  sanTypes: ['dns'],
  dnsSuffixes: '',
  allowWildcards: false,
  ipCidrs: '',
  uriPrefixes: '',
  emailDomains: '',
  keyAlgorithms: ['EC-P256', 'EC-P384', 'RSA', 'Ed25519'],
  minRsaBits: '2048',
  defaultTtl: '90d',
  maxTtl: '397d',
  issuer: '',
};

function Words(props: { items: string[] }) {
  return <>{props.items.length ? props.items.join(', ') : <span class="muted">none</span>}</>;
}

function Restriction(props: { values: string[] | undefined; any: string; only: string }) {
  if (!props.values?.length) return <span class="muted">{props.any}</span>;
  return (
    <>
      {props.only}{' '}
      {props.values.map((v, i) => (
        <>
          {i ? ', ' : ''}
          <code>{v}</code>
        </>
      ))}
    </>
  );
}

/** What certificates of this profile carry and which requests it allows, in words. */
export function PolicyTable(props: { profile: Profile }) {
  const { profile } = props;
  const kind = PROFILE_KINDS[profile.kind];
  const p = profile.policy;
  const subject = kind.subject;
  return (
    <table class="kv">
      <tbody>
        <KvRow label="Kind">
          {kind.label}
          {profile.builtin ? <span class="badge plain">built-in</span> : null}
        </KvRow>
        <KvRow label="Key usage (critical)">
          <Words items={kind.keyUsage.map((u) => USAGE_WORDS[u] ?? u)} />
          {kind.rsaKeyUsage.length ? ` (+ ${kind.rsaKeyUsage.map((u) => USAGE_WORDS[u] ?? u).join(', ')} for RSA keys)` : ''}
        </KvRow>
        <KvRow label="Extended key usage">
          <Words items={kind.extKeyUsage.map((u) => USAGE_WORDS[u] ?? u)} />
        </KvRow>
        <KvRow label="Basic constraints">{kind.basicConstraints?.ca ? 'CA:TRUE' : 'CA:FALSE'}, critical</KvRow>
        <KvRow label="Subject">
          {subject.cnRequired ? `CN required (${subject.cnRequired})` : 'CN optional'}
          {subject.cnMustBeSan ? '; if present, it must be one of the SANs' : ''}
        </KvRow>
        <KvRow label="SAN types allowed">
          <Words items={p.sanTypes.map((t) => SAN_WORDS[t] ?? t)} />
          {subject.sans === 'required' ? <span class="muted"> (at least one SAN required)</span> : null}
        </KvRow>
        {p.sanTypes.includes('dns') ? (
          <KvRow label="DNS names">
            <Restriction values={p.dnsSuffixes} any="any well-formed name" only="only these domains and names below them:" />
            {p.allowWildcards ? '; wildcards (*.) allowed' : '; no wildcards'}
          </KvRow>
        ) : null}
        {p.sanTypes.includes('ip') ? (
          <KvRow label="IP addresses">
            <Restriction values={p.ipCidrs} any="any address" only="only within" />
          </KvRow>
        ) : null}
        {p.sanTypes.includes('uri') ? (
          <KvRow label="URIs">
            <Restriction values={p.uriPrefixes} any="any well-formed URI" only="only starting with" />
          </KvRow>
        ) : null}
        {p.sanTypes.includes('email') ? (
          <KvRow label="Email addresses">
            <Restriction values={p.emailDomains} any="any well-formed address" only="only at" />
          </KvRow>
        ) : null}
        <KvRow label="Key algorithms">
          <Words items={p.keyAlgorithms} />
          {p.keyAlgorithms.includes('RSA') ? `; RSA keys of at least ${p.minRsaBits} bits` : ''}
        </KvRow>
        <KvRow label="Lifetime">
          {ttlWords(p.defaultTtl)} by default, at most {ttlWords(p.maxTtl)}
        </KvRow>
        <KvRow label="Issuer">
          {p.issuer ? <a href={`/issuers/${encodeURIComponent(p.issuer)}`}>{p.issuer}</a> : 'the default issuing CA'}
        </KvRow>
      </tbody>
    </table>
  );
}

/** A group of checkboxes in a fieldset with its legend, the error beside it. */
export function CheckGroup(props: {
  name: string;
  legend: string;
  options: Array<{ value: string; label: string }>;
  values: string[];
  errors?: FieldErrors;
  help?: string;
}) {
  const { id, error, described } = fieldIds(props);
  return (
    <fieldset class="field" id={id} aria-describedby={described}>
      <legend>{props.legend}</legend>
      <div class="checks">
        {props.options.map((o) => (
          <label>
            <input type="checkbox" name={props.name} value={o.value} checked={props.values.includes(o.value)} /> {o.label}
          </label>
        ))}
      </div>
      <FieldNotes id={id} help={props.help} error={error} />
    </fieldset>
  );
}

export function ProfileFormView(props: {
  mode: 'create' | 'update';
  form: ProfileForm;
  csrf: string;
  issuers: string[];
  errors?: FieldErrors;
  message?: string;
  builtin?: boolean;
}) {
  const { form, errors, mode } = props;
  const bind = binder(form, errors);
  const action = mode === 'create' ? '/profiles' : `/profiles/${encodeURIComponent(form.name)}`;
  return (
    <>
      <FormError message={props.message} />
      <form method="post" action={action} class="stack">
        <Csrf token={props.csrf} />
        {mode === 'create' ? (
          <>
            <Field
              {...bind('name')}
              label="Name"
              required
              help="Lower-case letters, digits and hyphens; it appears in URLs and in issuance requests."
            />
            <Select
              {...bind('kind')}
              label="Kind"
              options={KINDS}
              help="Decides key usage, extended key usage and subject rules; it cannot be changed later."
            />
          </>
        ) : (
          <p>
            Kind: <strong>{form.kind}</strong> <span class="muted">(a profile keeps its kind; create a new profile for another)</span>
            {props.builtin ? <span class="muted"> Built-in profiles may be edited, to narrow what they allow.</span> : null}
          </p>
        )}
        <CheckGroup name="sanTypes" legend="SAN types allowed" options={SAN_TYPES} values={form.sanTypes} errors={errors} />
        <TextArea
          {...bind('dnsSuffixes')}
          label="DNS suffixes (one per line)"
          rows={3}
          help="Empty: any DNS name. Otherwise a name must equal a suffix or end in “.” plus one."
        />
        <div class="field">
          <label class="check">
            <input type="checkbox" name="allowWildcards" value="1" checked={form.allowWildcards} /> Allow wildcard DNS names (*.example.com)
          </label>
        </div>
        <TextArea {...bind('ipCidrs')} label="IP ranges (CIDR, one per line)" rows={3} help="Empty: any address." />
        <TextArea {...bind('uriPrefixes')} label="URI prefixes (one per line)" rows={3} help="Empty: any URI." />
        <TextArea {...bind('emailDomains')} label="Email domains (one per line)" rows={3} help="Empty: any address." />
        <CheckGroup
          name="keyAlgorithms"
          legend="Key algorithms allowed"
          options={KEY_FAMILIES}
          values={form.keyAlgorithms}
          errors={errors}
        />
        <Field {...bind('minRsaBits')} label="Smallest RSA key (bits)" inputmode="numeric" help="2048 to 8192." />
        <Field {...bind('defaultTtl')} label="Default lifetime" help="Such as 90d, 720h, 30m, or seconds." />
        <Field {...bind('maxTtl')} label="Longest lifetime" help="Such as 397d; at least the default." />
        <Select
          {...bind('issuer')}
          label="Issuer"
          options={[{ value: '', label: 'The default issuing CA' }, ...props.issuers.map((n) => ({ value: n, label: n }))]}
        />
        <div class="actions">
          <button type="submit">{mode === 'create' ? 'Create profile' : 'Save changes'}</button>
          <a href={mode === 'create' ? '/profiles' : `/profiles/${encodeURIComponent(form.name)}`}>Cancel</a>
        </div>
      </form>
    </>
  );
}

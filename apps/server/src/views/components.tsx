/** @jsxImportSource hono/jsx */
/**
 * The console's building blocks: form fields with their error beside them, status badges,
 * times in words, tables in their own scroll region, notices and the keyset pager.
 */
import type { Child } from 'hono/jsx';

/** Field errors by field name, as forms show them beside the field. */
export type FieldErrors = Record<string, string | undefined>;

/** The id of a field's input, its error, and the ids of its help and error texts (aria-describedby). */
function fieldIds(props: { name: string; help?: string; errors?: FieldErrors }) {
  const id = `f-${props.name}`;
  const error = props.errors?.[props.name];
  const described = [props.help ? `${id}-help` : null, error ? `${id}-error` : null].filter(Boolean).join(' ') || undefined;
  return { id, error, described };
}

/** The help and error texts under a field, with the ids its input's aria-describedby names. */
function FieldNotes(props: { id: string; help?: string; error?: string }) {
  return (
    <>
      {props.help ? (
        <span class="help" id={`${props.id}-help`}>
          {props.help}
        </span>
      ) : null}
      {props.error ? (
        <span class="error" id={`${props.id}-error`}>
          {props.error}
        </span>
      ) : null}
    </>
  );
}

export function Field(props: {
  name: string;
  label: string;
  value?: string;
  type?: string;
  help?: string;
  errors?: FieldErrors;
  required?: boolean;
  autocomplete?: string;
  placeholder?: string;
  inputmode?: 'search' | 'email' | 'none' | 'url' | 'text' | 'tel' | 'numeric' | 'decimal';
}) {
  const { id, error, described } = fieldIds(props);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value ?? ''}
        required={props.required}
        autocomplete={props.autocomplete}
        placeholder={props.placeholder}
        inputmode={props.inputmode}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={described}
      />
      <FieldNotes id={id} help={props.help} error={error} />
    </div>
  );
}

export function TextArea(props: {
  name: string;
  label: string;
  value?: string;
  help?: string;
  errors?: FieldErrors;
  rows?: number;
  required?: boolean;
}) {
  const { id, error, described } = fieldIds(props);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <textarea
        id={id}
        name={props.name}
        rows={props.rows ?? 6}
        required={props.required}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={described}
        spellcheck={false}
      >
        {props.value ?? ''}
      </textarea>
      <FieldNotes id={id} help={props.help} error={error} />
    </div>
  );
}

export function Select(props: {
  name: string;
  label: string;
  options: Array<{ value: string; label: string }>;
  value?: string;
  help?: string;
  errors?: FieldErrors;
}) {
  const { id, error, described } = fieldIds(props);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select id={id} name={props.name} aria-invalid={error ? 'true' : undefined} aria-describedby={described}>
        {props.options.map((o) => (
          <option value={o.value} selected={o.value === props.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldNotes id={id} help={props.help} error={error} />
    </div>
  );
}

/** A file input beside a paste box (CSR, chain, CRLs): either may be used. */
export function FileField(props: {
  name: string;
  label: string;
  help?: string;
  errors?: FieldErrors;
  accept?: string;
  multiple?: boolean;
}) {
  const id = `f-${props.name}`;
  const error = props.errors?.[props.name];
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type="file"
        accept={props.accept}
        multiple={props.multiple}
        aria-invalid={error ? 'true' : undefined}
      />
      {props.help ? <span class="help">{props.help}</span> : null}
      {error ? <span class="error">{error}</span> : null}
    </div>
  );
}

/** The first error of a form, announced at its top (role=alert), with the details beside each field. */
export function FormError(props: { message?: string }) {
  return props.message ? (
    <div class="notice bad" role="alert">
      {props.message}
    </div>
  ) : null;
}

export function Notice(props: { kind: 'ok' | 'bad' | 'warn'; children?: Child }) {
  return (
    <div class={`notice ${props.kind}`} role={props.kind === 'bad' ? 'alert' : 'status'}>
      {props.children}
    </div>
  );
}

/** A certificate's status in words: active, revoked (with reason), on hold, expired. */
export function StatusBadge(props: { status: string; reason?: string | null; notAfter?: Date; now?: Date }) {
  const now = props.now ?? new Date();
  if (props.status === 'revoked' && props.reason === 'certificateHold') return <span class="badge warn">on hold</span>;
  if (props.status === 'revoked') return <span class="badge bad">revoked{props.reason ? ` · ${props.reason}` : ''}</span>;
  if (props.notAfter && props.notAfter <= now) return <span class="badge plain">expired</span>;
  return <span class="badge ok">active</span>;
}

const DAY = 86_400_000;

/** "in 12 days", "3 hours ago": the time left or passed, in words. */
export function relative(at: Date, now = new Date()): string {
  const ms = at.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const [n, unit] =
    abs >= 2 * DAY
      ? [Math.round(abs / DAY), 'days']
      : abs >= 2 * 3600_000
        ? [Math.round(abs / 3600_000), 'hours']
        : [Math.max(1, Math.round(abs / 60_000)), 'minutes'];
  const amount = `${n} ${n === 1 ? unit.slice(0, -1) : unit}`;
  return ms >= 0 ? `in ${amount}` : `${amount} ago`;
}

/** A time as UTC text in a <time> element, with the relative form beside it when asked. */
export function Time(props: { at: Date | null | undefined; relative?: boolean }) {
  if (!props.at) return <span class="muted">—</span>;
  const iso = props.at.toISOString();
  return (
    <time datetime={iso}>
      {iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}
      {props.relative ? <span class="muted"> ({relative(props.at)})</span> : null}
    </time>
  );
}

/** A table in its own labelled, keyboard-scrollable region (wide tables scroll at 360 px, the page does not). */
export function TableRegion(props: { label: string; children?: Child }) {
  return (
    // A labelled <section> is a region landmark; tabindex lets a keyboard scroll it (axe scrollable-region-focusable).
    <section class="table-wrap" aria-label={props.label} tabindex={0}>
      {props.children}
    </section>
  );
}

/** Keyset pagination: "next page" carries the cursor and every current filter. */
export function Pager(props: { base: string; params: Record<string, string | undefined>; next: string | null; first: boolean }) {
  const keep = Object.entries(props.params).filter((e): e is [string, string] => !!e[1] && e[0] !== 'cursor');
  const first = `${props.base}${keep.length ? `?${new URLSearchParams(keep)}` : ''}`;
  const next = props.next ? `${props.base}?${new URLSearchParams([...keep, ['cursor', props.next]])}` : null;
  return (
    <nav class="pager" aria-label="Pages">
      {props.first ? null : <a href={first}>First page</a>}
      {next ? <a href={next}>Next page</a> : <span class="muted">No more results</span>}
    </nav>
  );
}

export function sansText(sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] }): string {
  return [
    ...sans.dns.map((v) => `DNS:${v}`),
    ...sans.ip.map((v) => `IP:${v}`),
    ...sans.uri.map((v) => `URI:${v}`),
    ...sans.email.map((v) => `email:${v}`),
  ].join(', ');
}

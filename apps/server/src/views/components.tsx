/** @jsxImportSource hono/jsx */
/**
 * The console's building blocks: form fields with their error beside them, status badges,
 * times in words, tables in their own scroll region, notices and the keyset pager.
 */
import type { Child } from 'hono/jsx';

/** Field errors by field name, as forms show them beside the field. */
export type FieldErrors = Record<string, string | undefined>;

/** The id of a field's input, its error, and the ids of its help and error texts (aria-describedby). */
export function fieldIds(props: { name: string; help?: string; errors?: FieldErrors }) {
  const id = `f-${props.name}`;
  const error = props.errors?.[props.name];
  const described = [props.help ? `${id}-help` : null, error ? `${id}-error` : null].filter(Boolean).join(' ') || undefined;
  return { id, error, described };
}

/** The help and error texts under a field, with the ids its input's aria-describedby names. */
export function FieldNotes(props: { id: string; help?: string; error?: string }) {
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

/** What every labelled field shares: its name, label, help and error. */
interface FieldBase {
  name: string;
  label: string;
  help?: string;
  errors?: FieldErrors;
}

/**
 * A field's frame: the label tied to its control, the control, then its help and error texts.
 * `control` gets the attributes that tie the control to the label and the texts (id, name, aria-invalid, aria-describedby).
 */
function FieldFrame(props: FieldBase & { control: (tie: ControlTie) => Child }) {
  const { id, error, described } = fieldIds(props);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.control({ id, name: props.name, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': described })}
      <FieldNotes id={id} help={props.help} error={error} />
    </div>
  );
}

interface ControlTie {
  id: string;
  name: string;
  'aria-invalid': 'true' | undefined;
  'aria-describedby': string | undefined;
}

/** The name, value and errors of a form's field, for `<Field {...bind('name')} …/>`: each use states only the label and what differs. */
export function binder<T extends object>(values: T, errors?: FieldErrors) {
  return (name: { [K in keyof T]: T[K] extends string ? K : never }[keyof T] & string) => ({
    name,
    value: values[name] as string,
    errors,
  });
}

export function Field(
  props: FieldBase & {
    value?: string;
    type?: string;
    required?: boolean;
    autocomplete?: string;
    placeholder?: string;
    inputmode?: 'search' | 'email' | 'none' | 'url' | 'text' | 'tel' | 'numeric' | 'decimal';
  },
) {
  return (
    <FieldFrame
      {...props}
      control={(tie) => (
        <input
          {...tie}
          type={props.type ?? 'text'}
          value={props.value ?? ''}
          required={props.required}
          autocomplete={props.autocomplete}
          placeholder={props.placeholder}
          inputmode={props.inputmode}
        />
      )}
    />
  );
}

export function TextArea(props: FieldBase & { value?: string; rows?: number; required?: boolean }) {
  return (
    <FieldFrame
      {...props}
      control={(tie) => (
        <textarea {...tie} rows={props.rows ?? 6} required={props.required} spellcheck={false}>
          {props.value ?? ''}
        </textarea>
      )}
    />
  );
}

export function Select(props: FieldBase & { options: Array<{ value: string; label: string }>; value?: string }) {
  return (
    <FieldFrame
      {...props}
      control={(tie) => (
        <select {...tie}>
          {props.options.map((o) => (
            <option value={o.value} selected={o.value === props.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    />
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

/**
 * A paste box with a file input under it (CSR, chain, CRLs): either may be used.
 * The file input's errors come from the same `errors` (no form names one today).
 */
export function PasteOrUpload(
  props: FieldBase & {
    value?: string;
    rows?: number;
    upload: { name: string; label: string; accept: string; multiple?: boolean };
  },
) {
  return (
    <>
      <TextArea name={props.name} label={props.label} value={props.value} help={props.help} errors={props.errors} rows={props.rows} />
      <FileField {...props.upload} errors={props.errors} />
    </>
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

/**
 * A data table in its own region: an optional caption, one header cell a column (scope=col), then the rows.
 * A column given as null (a column shown only to some) is left out.
 */
export function DataTable(props: { label: string; columns: Array<string | null>; caption?: Child; class?: string; children?: Child }) {
  return (
    <TableRegion label={props.label}>
      <table class={props.class}>
        {props.caption ? <caption class="sr-only">{props.caption}</caption> : null}
        <thead>
          <tr>{props.columns.map((c) => (c === null ? null : <th scope="col">{c}</th>))}</tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </TableRegion>
  );
}

/** A key–value table (class kv) in its own region; its rows are KvRows. */
export function KvTable(props: { label: string; children?: Child }) {
  return (
    <TableRegion label={props.label}>
      <table class="kv">
        <tbody>{props.children}</tbody>
      </table>
    </TableRegion>
  );
}

/** One row of a key–value table: the key as a row header (scope=row), the value beside it. */
export function KvRow(props: { label: Child; class?: string; children?: Child }) {
  return (
    <tr>
      <th scope="row">{props.label}</th>
      <td class={props.class}>{props.children}</td>
    </tr>
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

/** A block of configuration or commands (named by the heading before it): keyboard-focusable, since it scrolls when long (axe: scrollable-region-focusable). */
export function CodeBlock(props: { children?: Child }) {
  return <pre tabindex={0}>{props.children}</pre>;
}

/** @jsxImportSource hono/jsx */
/** The console's judge form (chain, CRLs, purpose, trust, expected name) and the verdict shown below it. */
import type { Verdict } from '@anvil/pki';
import { binder, Field, FormError, PasteOrUpload, TextArea, type FieldErrors } from './components.tsx';
import { Csrf } from './layout.tsx';
import { VerdictBody } from './verdict-page.tsx';

export interface JudgeFormValues {
  chain: string;
  crls: string;
  purpose: 'client' | 'server';
  trust: 'anvil' | 'pasted';
  trustAnchors: string;
  expectName: string;
}

export const EMPTY_JUDGE_FORM: JudgeFormValues = {
  chain: '',
  crls: '',
  purpose: 'client',
  trust: 'anvil',
  trustAnchors: '',
  expectName: '',
};

/** The verdict's headline, in the console's words (a pasted chain, not "your" certificate). */
function headline(v: Verdict): string {
  if (v.status === 'verified') return 'Verdict: the chain is accepted';
  if (v.status === 'absent') return 'Verdict: no certificate was presented';
  return `Verdict: the chain is refused (${v.reason?.replace(/_/g, ' ')})`;
}

export function JudgePage(props: { csrf: string; values: JudgeFormValues; verdict?: Verdict; errors?: FieldErrors; message?: string }) {
  const v = props.values;
  const errors = props.errors;
  const bind = binder(v, errors);
  return (
    <>
      <h1>{props.verdict ? headline(props.verdict) : 'Judge a certificate chain'}</h1>
      {props.verdict ? (
        <section aria-label="Verdict" class="verdict">
          <VerdictBody verdict={props.verdict} inConsole />
          <p class="muted">
            The same verdict as <code>POST /api/v1/judge</code> gives for the same chain, trust and CRLs; the nginx line is what{' '}
            <code>$ssl_client_verify</code> would hold.
          </p>
          <h2>Judge another chain</h2>
        </section>
      ) : (
        <p class="muted">
          Paste or upload a chain, leaf first, as the client sends it: the judge answers what nginx would decide, and why.
        </p>
      )}
      <FormError message={props.message} />
      <form method="post" action="/judge" enctype="multipart/form-data" class="stack">
        <Csrf token={props.csrf} />
        <PasteOrUpload
          {...bind('chain')}
          label="Chain (PEM, leaf first)"
          help="Empty: judged as a client that sends no certificate."
          rows={8}
          upload={{
            name: 'chainFile',
            label: 'or upload the chain (PEM, or DER: one certificate per file)',
            accept: '.pem,.crt,.cer,.der',
            multiple: true,
          }}
        />
        <PasteOrUpload
          {...bind('crls')}
          label="CRLs (PEM, optional)"
          help="As nginx's ssl_crl."
          rows={4}
          upload={{ name: 'crlFiles', label: 'or upload CRL files (PEM or DER, several)', accept: '.crl,.pem,.der', multiple: true }}
        />

        <fieldset class="field">
          <legend>Purpose</legend>
          <div class="choices">
            <label>
              <input type="radio" name="purpose" value="client" checked={v.purpose !== 'server'} /> Client certificate (as nginx's
              ssl_verify_client)
            </label>
            <label>
              <input type="radio" name="purpose" value="server" checked={v.purpose === 'server'} /> Server certificate (as a TLS client)
            </label>
          </div>
        </fieldset>

        <fieldset class="field">
          <legend>Trust</legend>
          <div class="choices">
            <label>
              <input type="radio" name="trust" value="anvil" checked={v.trust !== 'pasted'} /> Anvil's roots
            </label>
            <label>
              <input type="radio" name="trust" value="pasted" checked={v.trust === 'pasted'} /> The anchors pasted below (as nginx's
              ssl_client_certificate)
            </label>
          </div>
        </fieldset>
        <TextArea {...bind('trustAnchors')} label="Trust anchors (PEM)" rows={4} />
        <Field
          {...bind('expectName')}
          label="Expected name (optional)"
          placeholder="dns:api.example.com"
          help="type:value, with type dns, ip, uri or email."
        />
        <div>
          <button type="submit">Judge</button>
        </div>
      </form>
    </>
  );
}

/** @jsxImportSource hono/jsx */
/**
 * The judge's verdict as a page a person reads in a browser (GET /verify with Accept: text/html),
 * and its sections (VerdictBody), which the console's judge page shows in its own layout.
 * No data access, no script, nothing from another origin. The stylesheet is a file served beside
 * the page (VERDICT_STYLESHEET_PATH, on both listeners): the Content-Security-Policy of every
 * page (middleware/security-headers.ts) allows no inline style.
 */
import type { Child } from 'hono/jsx';
import type { CertificateInfo, Verdict } from '@anvil/pki';
import { TableRegion } from './components.tsx';

export const VERDICT_STYLESHEET_PATH = '/verify/verdict.css';

export const VERDICT_STYLESHEET = `
  :root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --none: #9a6700; --muted: #6e7781; }
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
  .status { display: inline-block; padding: .15rem .6rem; border-radius: .3rem; color: #fff; font-weight: 600; }
  .verified { background: var(--ok); } .failed { background: var(--bad); } .absent { background: var(--none); }
  code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
  th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #8884; }
  th { font-weight: 600; white-space: nowrap; }
  .ok { color: var(--ok); } .bad { color: var(--bad); }
  ol.hints li { margin-bottom: .4rem; }
  .muted { color: var(--muted); }
  details { margin: 1rem 0; }
  pre { white-space: pre-wrap; word-break: break-all; background: #8881; padding: .75rem; border-radius: .3rem; }
`;

function sansOf(c: CertificateInfo): string {
  const s = c.sans;
  return (
    [
      ...s.dns.map((v) => `DNS:${v}`),
      ...s.ip.map((v) => `IP:${v}`),
      ...s.email.map((v) => `email:${v}`),
      ...s.uri.map((v) => `URI:${v}`),
    ].join(', ') || '—'
  );
}

/** In the console (`inConsole`), tables carry header scopes and scroll in their own region at 360 px. */
function Wide(props: { inConsole?: boolean; label: string; children?: Child }) {
  return props.inConsole ? <TableRegion label={props.label}>{props.children}</TableRegion> : <>{props.children}</>;
}

function CertTable(props: { certs: CertificateInfo[]; inConsole?: boolean }) {
  const scope = props.inConsole ? 'col' : undefined;
  return (
    <table>
      <thead>
        <tr>
          <th scope={scope}>#</th>
          <th scope={scope}>subject / issuer</th>
          <th scope={scope}>validity</th>
          <th scope={scope}>names and usage</th>
        </tr>
      </thead>
      <tbody>
        {props.certs.map((c, i) => (
          <tr>
            <td>{i}</td>
            <td>
              <div class="mono">{c.subject}</div>
              <div class="muted mono">issuer: {c.issuer}</div>
              <div class="muted mono">
                serial {c.serial}
                {c.isCA ? ' · CA' : ''}
              </div>
            </td>
            <td class="mono">
              {c.notBefore}
              <br />
              {c.notAfter}
            </td>
            <td>
              <div class="mono">{sansOf(c)}</div>
              <div class="muted">
                KU: {c.keyUsage.join(', ') || '—'}; EKU: {c.extendedKeyUsage.join(', ') || '—'}
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * The sections of a verdict: status, nginx string, OpenSSL error, revocation, hints, checks, the
 * presented certificates, the path and the JSON. The same on GET /verify and in the console
 * (`inConsole`: inside the console layout, whose page heading comes before it).
 */
export function VerdictBody(props: { verdict: Verdict; inConsole?: boolean }) {
  const v = props.verdict;
  const row = props.inConsole ? 'row' : undefined;
  return (
    <>
      <p>
        <span class={`status ${v.status}`}>{v.status}</span> {v.reason ? <code>{v.reason}</code> : null}
      </p>
      <Wide inConsole={props.inConsole} label="Verdict summary">
        <table>
          <tbody>
            <tr>
              <th scope={row}>nginx $ssl_client_verify</th>
              <td class="mono">{v.nginx}</td>
            </tr>
            <tr>
              <th scope={row}>OpenSSL</th>
              <td class="mono">{v.openssl ? `${v.openssl.name} (${v.openssl.code}) at depth ${v.openssl.depth}` : 'no error'}</td>
            </tr>
            <tr>
              <th scope={row}>HAProxy (verify optional)</th>
              <td class="mono">
                {`handshake ${v.haproxy.handshake}; ssl_c_verify ${v.haproxy.ssl_c_verify}, ssl_c_ca_err ${v.haproxy.ssl_c_ca_err} at depth ${v.haproxy.ssl_c_ca_err_depth}, ssl_c_err ${v.haproxy.ssl_c_err}`}
              </td>
            </tr>
            <tr>
              <th scope={row}>Kong mtls-auth</th>
              <td>{v.kong ?? 'request allowed'}</td>
            </tr>
            <tr>
              <th scope={row}>revocation</th>
              <td>
                {v.revocation.checked ? `${v.revocation.status} according to ${v.revocation.source}` : 'not checked'}
                {v.revocation.revokedAt ? ` — revoked ${v.revocation.revokedAt}` : ''}
                {v.revocation.reason ? ` (${v.revocation.reason})` : ''}
              </td>
            </tr>
          </tbody>
        </table>
      </Wide>

      {v.hints.length ? (
        <section>
          <h2>What to do</h2>
          <ol class="hints">
            {v.hints.map((h) => (
              <li>{h}</li>
            ))}
          </ol>
        </section>
      ) : null}

      <h2>Checks</h2>
      <Wide inConsole={props.inConsole} label="Checks">
        <table>
          <tbody>
            {v.checks.map((c) => (
              <tr>
                <th scope={row} class={c.ok ? 'ok' : 'bad'}>
                  {c.ok ? '✓' : '✗'} {c.name}
                </th>
                <td>{c.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Wide>

      {v.strict.status !== 'absent' ? (
        <section>
          <h2>Strict verifiers (RFC 5280 and web-PKI rules)</h2>
          <p>
            <span class={`status ${v.strict.status}`}>{v.strict.status}</span> {v.strict.reason ? <code>{v.strict.reason}</code> : null}
          </p>
          {v.strict.hint ? <p>{v.strict.hint}</p> : null}
          <Wide inConsole={props.inConsole} label="Strict checks">
            <table>
              <tbody>
                {v.strict.checks.map((c) => (
                  <tr>
                    <th scope={row} class={c.ok ? 'ok' : 'bad'}>
                      {c.ok ? '✓' : '✗'} {c.name}
                    </th>
                    <td>
                      {c.detail}
                      {c.refusedBy.length ? <span class="muted"> — refused by {c.refusedBy.join(', ')}</span> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Wide>
        </section>
      ) : null}

      {v.presented.length ? (
        <section>
          <h2>
            Presented (
            {v.presentedCount > v.presented.length
              ? `the first ${v.presented.length} of ${v.presentedCount}, all that was read`
              : v.presented.length}
            )
          </h2>
          <Wide inConsole={props.inConsole} label="Presented certificates">
            <CertTable certs={v.presented} inConsole={props.inConsole} />
          </Wide>
        </section>
      ) : null}
      {v.path ? (
        <section>
          <h2>Path to the trust anchor</h2>
          <Wide inConsole={props.inConsole} label="Path to the trust anchor">
            <CertTable certs={v.path} inConsole={props.inConsole} />
          </Wide>
        </section>
      ) : null}

      <details>
        <summary>JSON</summary>
        <pre>{JSON.stringify(v, null, 2)}</pre>
      </details>
    </>
  );
}

export function VerdictPage(props: { verdict: Verdict; title?: string }) {
  const v = props.verdict;
  const headline =
    v.status === 'verified'
      ? 'Your client certificate is accepted'
      : v.status === 'absent'
        ? 'No client certificate was presented'
        : `Your client certificate is refused: ${v.reason?.replace(/_/g, ' ')}`;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>
          {props.title ?? 'Anvil judge'} — {v.status}
        </title>
        <link rel="stylesheet" href={VERDICT_STYLESHEET_PATH} />
      </head>
      <body>
        <p class="muted">Anvil judge</p>
        <h1>{headline}</h1>
        <VerdictBody verdict={v} />
        <p class="muted">
          The same verdict as JSON: <code>curl --cert cert.pem --key key.pem https://…/verify</code>
        </p>
      </body>
    </html>
  );
}

export function renderVerdictPage(verdict: Verdict, title?: string): string {
  return `<!doctype html>${(<VerdictPage verdict={verdict} title={title} />).toString()}`;
}

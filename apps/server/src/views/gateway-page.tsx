/** @jsxImportSource hono/jsx */
/** The console's gateway configuration page for one issuer: kinds as links, the configuration, its files and download lines. */
import type { GatewayConfig } from '../gateway/index.ts';
import { CodeBlock, DataTable, Notice } from './components.tsx';

const LABELS: Record<string, string> = {
  nginx: 'nginx',
  haproxy: 'HAProxy',
  envoy: 'Envoy',
  kong: 'Kong',
  caddy: 'Caddy',
  traefik: 'Traefik',
};

export function GatewayPage(props: { issuer: string; kinds: string[]; gateway: GatewayConfig }) {
  const g = props.gateway;
  const issuer = encodeURIComponent(props.issuer);
  const label = LABELS[g.kind] ?? g.kind;
  return (
    <>
      <h1>Gateway configuration for {props.issuer}</h1>
      <p class="muted">
        A ready configuration that requires client certificates of <a href={`/issuers/${issuer}`}>{props.issuer}</a>, checks their
        revocation where the gateway can, and passes the verdict and identity to the backend.
      </p>
      <nav aria-label="Gateway">
        <ul class="downloads">
          {props.kinds.map((k) => (
            <li>
              <a
                class={k === g.kind ? 'button' : 'button secondary'}
                href={`/issuers/${issuer}/gateway/${k}`}
                aria-current={k === g.kind ? 'page' : undefined}
              >
                {LABELS[k] ?? k}
              </a>
            </li>
          ))}
        </ul>
      </nav>

      {g.testedWithBinary ? null : (
        <Notice kind="warn">Untested by binary: this {label} configuration is checked against its documented schema only.</Notice>
      )}

      <h2>
        {label}: <span class="mono">{g.configName}</span>
      </h2>
      <CodeBlock>{g.config}</CodeBlock>
      <p class="muted">
        Verify depth {g.depth}. The same as text:{' '}
        <span class="mono">
          GET /api/v1/issuers/{props.issuer}/gateway/{g.kind}?format=text
        </span>{' '}
        or{' '}
        <span class="mono">
          anvil gateway {g.kind} --issuer {props.issuer}
        </span>
        .
      </p>

      <h2>Files</h2>
      <DataTable label="Files" columns={['File', 'Path', 'What it is']}>
        {g.files.map((f) => (
          <tr>
            <td>{f.url ? <a href={f.url}>{f.name}</a> : f.name}</td>
            <td class="mono">{f.path}</td>
            <td>{f.description}</td>
          </tr>
        ))}
      </DataTable>

      <h2>Download</h2>
      <CodeBlock>{g.download}</CodeBlock>
      {g.apply ? (
        <>
          <h2>Admin API</h2>
          <CodeBlock>{g.apply}</CodeBlock>
        </>
      ) : null}

      <h2>Notes</h2>
      <ul>
        {g.notes.map((n) => (
          <li>{n}</li>
        ))}
      </ul>
    </>
  );
}

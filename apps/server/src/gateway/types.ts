/** What every gateway generator takes and returns, and the files they all share (trust anchor, CRLs, server certificate). */

/** One CA on the path from the issuer up to its root. */
export interface PathCa {
  name: string;
  /** RFC 4514 subject, for comments and notes. */
  subject: string;
}

export interface GatewayInput {
  /** The issuer whose client certificates the gateway accepts. */
  issuer: string;
  /** From the issuer up to and including its root (a root issuer: just itself). */
  path: PathCa[];
  /** The root's certificate (PEM): Kong's declarative configuration carries it inline. */
  rootPem: string;
  /** Base of the public /pki URLs (ANVIL_PKI_URL), without a trailing slash. */
  pkiUrl: string;
  /** Absolute directory on the gateway host holding the downloaded files (safe characters only: it lands in configs and shell lines). */
  dir: string;
}

/** A file the configuration reads: where to download it from and where the configuration expects it. */
export interface GatewayFile {
  name: string;
  /** Absolute path on the gateway host (dir + name). */
  path: string;
  /** Public URL; null for what Anvil cannot hand out (the gateway's own server key). */
  url: string | null;
  description: string;
}

export interface GatewayConfig {
  kind: string;
  issuer: string;
  /** Suggested file name of the configuration. */
  configName: string;
  config: string;
  files: GatewayFile[];
  /** Shell lines that download every file with a URL (run again to refresh the CRLs). */
  download: string;
  /** Commands that load the configuration into a running gateway, where it has an API for that (Kong's Admin API). */
  apply?: string;
  /** The verify depth: CAs from the leaf's issuer up to the root, so leaf -> ... -> root fits. */
  depth: number;
  notes: string[];
  /** Whether a test starts the real binary with this configuration (README table). */
  testedWithBinary: boolean;
}

export type GatewayGenerator = (input: GatewayInput) => GatewayConfig;

/** The ports and backend the generated configurations listen on and forward to; change them to yours. */
export const LISTEN_PORT = 443;
export const UPSTREAM = '127.0.0.1:8080';

/** The root at the top of the issuer's path. */
export function root(input: GatewayInput): PathCa {
  return input.path[input.path.length - 1]!;
}

/**
 * The verify depth for a path issuer -> ... -> root: the number of CAs. OpenSSL counts the
 * CA certificates above the leaf; a client of a root issuer still needs depth 1.
 */
export function verifyDepth(input: GatewayInput): number {
  return input.path.length;
}

const join = (dir: string, name: string) => `${dir.replace(/\/+$/, '')}/${name}`;

/** The trust anchor: the issuer's root only, so a client must send its intermediates (a leaf alone is refused). */
export function trustFile(input: GatewayInput): GatewayFile {
  const r = root(input);
  return {
    name: 'trust.pem',
    path: join(input.dir, 'trust.pem'),
    url: `${input.pkiUrl}/pki/issuers/${r.name}.pem`,
    description: `the root "${r.name}" (${r.subject}): the one trust anchor; its name is sent in the CertificateRequest`,
  };
}

/** Every CA's CRL on the path in one PEM file (what nginx ssl_crl, HAProxy crl-file and Envoy crl take). */
export function crlsFile(input: GatewayInput): GatewayFile {
  return {
    name: 'crls.pem',
    path: join(input.dir, 'crls.pem'),
    url: `${input.pkiUrl}/pki/issuers/${input.issuer}/crls.pem`,
    description: `the CRLs of ${input.path.map((c) => `"${c.name}"`).join(', ')} concatenated (PEM); refresh it at least hourly`,
  };
}

/** The gateway's own server certificate: issue one with `anvil issue --profile server` (Anvil never holds its key). */
export function serverFiles(input: GatewayInput, combined = false): GatewayFile[] {
  if (combined) {
    return [
      {
        name: 'server-combined.pem',
        path: join(input.dir, 'server-combined.pem'),
        url: null,
        description: 'the gateway certificate, its intermediates, then its private key, in one file (cat fullchain.pem key.pem)',
      },
    ];
  }
  return [
    {
      name: 'server.pem',
      path: join(input.dir, 'server.pem'),
      url: null,
      description: 'the gateway certificate and its intermediates (fullchain.pem of `anvil issue --profile server`)',
    },
    {
      name: 'server.key',
      path: join(input.dir, 'server.key'),
      url: null,
      description: 'the private key of server.pem (key.pem, mode 0600)',
    },
  ];
}

/** curl lines for every downloadable file, written via a temporary name so a reader never sees half a file. */
export function downloadScript(input: GatewayInput, files: GatewayFile[], reload: string): string {
  const lines = [`mkdir -p ${input.dir}`];
  for (const f of files) {
    if (f.url) lines.push(`curl -fsS -o ${f.path}.new ${f.url} && mv ${f.path}.new ${f.path}`);
  }
  lines.push(reload);
  return `${lines.join('\n')}\n`;
}

/** The note every configuration carries about keeping CRLs fresh. */
export function crlRefreshNote(reload: string): string {
  return `Anvil re-signs a CRL after every revocation: run the download lines again (e.g. from cron every 15 minutes), then \`${reload}\`; a CRL past its nextUpdate fails every handshake.`;
}

/** The same-root caveat: trust is per root, so sibling issuers under that root are accepted too. */
export function siblingNote(input: GatewayInput): string | null {
  if (input.path.length < 2) return null;
  return `Trust is anchored at the root "${root(input).name}": client certificates of other issuers under that root verify too; check the issuer DN in the backend if that matters.`;
}

/** nginx: a `server` block (for the `http` context) that requires Anvil client certificates and passes the verdict on. */
import {
  crlRefreshNote,
  crlsFile,
  downloadScript,
  type GatewayGenerator,
  LISTEN_PORT,
  serverFiles,
  siblingNote,
  trustFile,
  UPSTREAM,
  verifyDepth,
} from './types.ts';

const RELOAD = 'nginx -t && nginx -s reload';

export const nginx: GatewayGenerator = (input) => {
  const trust = trustFile(input);
  const crls = crlsFile(input);
  const [cert, key] = serverFiles(input);
  const depth = verifyDepth(input);
  // `ssl_verify_client on` answers a failed verification with HTTP 400 before any location
  // runs, so the backend only ever sees SUCCESS; the header is still sent so it can check.
  const config = `# Anvil: accept client certificates of issuer "${input.issuer}" (include in the http {} context).
server {
    listen ${LISTEN_PORT} ssl;
    ssl_certificate     ${cert!.path};
    ssl_certificate_key ${key!.path};

    # The root is the only trust anchor; nginx sends its name in the CertificateRequest.
    ssl_client_certificate ${trust.path};
    ssl_verify_client on;
    # ${input.path.map((c) => c.name).join(' -> ')}: the leaf's CAs up to the root.
    ssl_verify_depth ${depth};
    # One file with the CRL of every CA on the path (nginx checks all of them).
    ssl_crl ${crls.path};

    location / {
        proxy_pass http://${UPSTREAM};
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
        proxy_set_header X-SSL-Client-S-DN   $ssl_client_s_dn;
        proxy_set_header X-SSL-Client-I-DN   $ssl_client_i_dn;
        proxy_set_header X-SSL-Client-Serial $ssl_client_serial;
        # URL-encoded PEM: what Anvil's judge reads as X-Client-Cert behind a trusted proxy.
        proxy_set_header X-Client-Cert       $ssl_client_escaped_cert;
    }
}
`;
  return {
    kind: 'nginx',
    issuer: input.issuer,
    configName: `anvil-${input.issuer}.conf`,
    config,
    files: [trust, crls, cert!, key!],
    download: downloadScript(input, [trust, crls], RELOAD),
    depth,
    notes: [
      'A failed verification is answered with HTTP 400 by nginx itself; the backend never sees it.',
      crlRefreshNote(RELOAD),
      ...(siblingNote(input) ? [siblingNote(input)!] : []),
    ],
    testedWithBinary: true,
  };
};

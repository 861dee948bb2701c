/** HAProxy: a frontend whose bind requires Anvil client certificates, and a backend that receives the identity headers. */
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

const RELOAD = 'systemctl reload haproxy';

export const haproxy: GatewayGenerator = (input) => {
  const trust = trustFile(input);
  const crls = crlsFile(input);
  const [combined] = serverFiles(input, true);
  const depth = verifyDepth(input);
  // ca-file (not ca-verify-file): its names go into the CertificateRequest. With `verify
  // required` a failed verification ends the handshake, so the backend sees verified clients only.
  const config = `# Anvil: accept client certificates of issuer "${input.issuer}".
frontend anvil_mtls
    mode http
    bind :${LISTEN_PORT} ssl crt ${combined!.path} ca-file ${trust.path} crl-file ${crls.path} verify required
    # ${input.path.map((c) => c.name).join(' -> ')}: the leaf's CAs up to the root.
    http-request set-header X-SSL-Client-Verify %[ssl_c_verify]
    http-request set-header X-SSL-Client-S-DN %{+Q}[ssl_c_s_dn]
    http-request set-header X-SSL-Client-I-DN %{+Q}[ssl_c_i_dn]
    http-request set-header X-SSL-Client-Serial %[ssl_c_serial,hex]
    http-request set-header X-SSL-Client-DER %[ssl_c_der,base64]
    default_backend anvil_backend

backend anvil_backend
    mode http
    server app ${UPSTREAM}
`;
  return {
    kind: 'haproxy',
    issuer: input.issuer,
    configName: `anvil-${input.issuer}.cfg`,
    config,
    files: [trust, crls, combined!],
    download: downloadScript(input, [trust, crls], RELOAD),
    depth,
    notes: [
      `A bind line has no verify-depth setting: OpenSSL's default limit (100) applies; the path here is ${depth} CA(s) deep.`,
      'ssl_c_verify is 0 for every request that reaches the backend: `verify required` refuses the handshake otherwise.',
      crlRefreshNote(RELOAD),
      ...(siblingNote(input) ? [siblingNote(input)!] : []),
    ],
    testedWithBinary: true,
  };
};

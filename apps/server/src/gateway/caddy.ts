/** Caddy (Caddyfile): a site that requires Anvil client certificates; Caddy 2.6 checks no CRL, and says so. */
import { type GatewayGenerator, LISTEN_PORT, serverFiles, siblingNote, trustFile, UPSTREAM, verifyDepth } from './types.ts';

const RELOAD = 'caddy reload --config /etc/caddy/Caddyfile';

export const caddy: GatewayGenerator = (input) => {
  const trust = trustFile(input);
  const [cert, key] = serverFiles(input);
  // Go's crypto/tls sends the subjects of trusted_ca_cert_file in the CertificateRequest and
  // verifies the intermediates the client sends; a leaf alone does not chain to the root.
  const config = `# Anvil: accept client certificates of issuer "${input.issuer}".
# Caddy 2.6 checks no CRL: revoked certificates are accepted until they expire (see the notes).
:${LISTEN_PORT} {
	tls ${cert!.path} ${key!.path} {
		client_auth {
			mode require_and_verify
			trusted_ca_cert_file ${trust.path}
		}
	}
	reverse_proxy ${UPSTREAM} {
		header_up X-SSL-Client-S-DN {http.request.tls.client.subject}
		header_up X-SSL-Client-I-DN {http.request.tls.client.issuer}
		header_up X-SSL-Client-Serial {http.request.tls.client.serial}
		header_up X-SSL-Client-Fingerprint {http.request.tls.client.fingerprint}
		header_up X-SSL-Client-DER {http.request.tls.client.certificate_der_base64}
	}
}
`;
  return {
    kind: 'caddy',
    issuer: input.issuer,
    configName: 'Caddyfile',
    config,
    files: [trust, cert!, key!],
    download: `mkdir -p ${input.dir}\ncurl -fsS -o ${trust.path}.new ${trust.url} && mv ${trust.path}.new ${trust.path}\n${RELOAD}\n`,
    depth: verifyDepth(input),
    notes: [
      'Caddy 2.6 has no CRL support: a revoked client certificate is accepted until it expires. Keep client lifetimes short, or check revocation in the backend (Anvil OCSP, or POST /api/v1/judge with X-SSL-Client-DER).',
      'Caddy sets no verify depth; Go accepts any path length the CA constraints allow.',
      'A failed verification ends the TLS handshake: the backend only sees verified clients.',
      'With client_auth on, Caddy answers 421 when the Host header differs from the TLS server name (strict SNI): clients connect by the name in the gateway certificate, not by IP address.',
      ...(siblingNote(input) ? [siblingNote(input)!] : []),
    ],
    testedWithBinary: true,
  };
};
